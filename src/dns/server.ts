// The embedded DNS server: UDP and TCP (2-byte length framing, RFC 1035 4.2.2; several queries
// per connection, answers in completion order, RFC 7766) on one address, answering through
// resolver.ts. Like aardvark-dns, berth listens on each user-defined network's gateway address
// port 53 (DnsServers keeps one server per address); like Docker, a server can also live at
// 127.0.0.11 inside a container's namespace: pass bindInNetns and the sockets are created there.
import type { Socket as UdpSocket } from 'node:dgram';
import type { Server, Socket } from 'node:net';
import { canonicalIp, clientIp } from './addr.js';
import { defaultForwarder, type DnsForwarder } from './forward.js';
import { respond, type AnswerOptions, type DnsOutcome } from './resolver.js';
import { bindUdp, listenTcp, type SocketWrapper } from './sockets.js';
import type { DnsView } from './view.js';

export interface DnsServerOptions {
  /** IP address to listen on (a gateway address, or 127.0.0.11 inside a namespace). */
  address: string;
  /** Default 53. 0: any free port (UDP's, and TCP on the same port). */
  port?: number;
  view: DnsView;
  udp?: boolean;
  tcp?: boolean;
  /** Runs socket creation synchronously in another context, e.g. `(fn) => withNetns(path, fn)`. */
  bindInNetns?: SocketWrapper;
  /** Where unknown names go (default: the process-wide forwarder, in berth's own namespace). */
  forwarder?: DnsForwarder;
  /** TTL of berth's own records (default 600). */
  ttl?: number;
  /** Per-upstream forwarding timeout (default 2000 ms). */
  timeoutMs?: number;
  /** Close a TCP connection idle this long (default 10 s). */
  tcpIdleTimeoutMs?: number;
  /** At most this many TCP connections at once (default 256). */
  maxTcpConnections?: number;
  /** Errors that are not a client's fault (socket errors, a view that throws). Default: ignored. */
  onError?: (err: Error) => void;
}

export type DnsServerStats = Record<DnsOutcome | 'udp' | 'tcp' | 'errors', number>;

export interface DnsServer {
  readonly address: string;
  readonly port: number;
  /** Counters since start: queries per transport and outcomes. */
  stats(): DnsServerStats;
  close(): Promise<void>;
}

function newStats(): DnsServerStats {
  return { udp: 0, tcp: 0, answered: 0, nodata: 0, nxdomain: 0, forwarded: 0, servfail: 0, refused: 0, formerr: 0, notimp: 0, ignored: 0, errors: 0 };
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function frame(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(msg.length + 2);
  out.writeUInt16BE(msg.length, 0);
  msg.copy(out, 2);
  return out;
}

/** Start a DNS server on address (UDP and/or TCP). Resolves once it listens. */
export async function startDnsServer(opts: DnsServerOptions): Promise<DnsServer> {
  const address = canonicalIp(opts.address);
  if (address === undefined) throw new Error(`DNS server address ${JSON.stringify(opts.address)} is not an IP address`);
  const wantUdp = opts.udp ?? true;
  const wantTcp = opts.tcp ?? true;
  if (!wantUdp && !wantTcp) throw new Error('DNS server: neither udp nor tcp enabled');
  const requested = opts.port ?? 53;
  const view = opts.view;
  const stats = newStats();
  const onError = (err: unknown) => {
    stats.errors++;
    opts.onError?.(asError(err));
  };
  const observe = (o: DnsOutcome) => {
    stats[o]++;
  };
  const forwarder = opts.forwarder ?? defaultForwarder();
  const common: AnswerOptions = { forwarder, ttl: opts.ttl, timeoutMs: opts.timeoutMs, observe, onError };
  const udpOpts: AnswerOptions = { ...common, transport: 'udp' };
  const tcpOpts: AnswerOptions = { ...common, transport: 'tcp' };

  let udp: UdpSocket | undefined;
  let tcp: Server | undefined;
  for (let attempt = 0; ; attempt++) {
    udp = wantUdp ? await bindUdp(address, requested, opts.bindInNetns) : undefined;
    const port = udp ? udp.address().port : requested;
    try {
      tcp = wantTcp ? await listenTcp(address, port, opts.bindInNetns) : undefined;
      break;
    } catch (err) {
      udp?.close();
      // a free UDP port need not be free for TCP: pick another
      if (requested === 0 && wantUdp && (err as NodeJS.ErrnoException).code === 'EADDRINUSE' && attempt < 8) continue;
      throw err;
    }
  }
  const port = udp ? udp.address().port : (tcp?.address() as { port: number }).port;

  let closed = false;
  if (udp) {
    const sock = udp;
    const reply = (out: Buffer | null, rport: number, raddr: string) => {
      if (out !== null && !closed) sock.send(out, rport, raddr);
    };
    sock.on('error', onError);
    sock.on('message', (msg, rinfo) => {
      stats.udp++;
      let r: Buffer | null | Promise<Buffer | null>;
      try {
        r = respond(msg, clientIp(rinfo.address), view, udpOpts);
      } catch (err) {
        onError(err);
        return;
      }
      if (r === null || Buffer.isBuffer(r)) reply(r, rinfo.port, rinfo.address);
      else r.then((out) => reply(out, rinfo.port, rinfo.address), onError);
    });
  }

  const conns = new Set<Socket>();
  if (tcp) {
    tcp.maxConnections = opts.maxTcpConnections ?? 256;
    tcp.on('error', onError);
    tcp.on('connection', (conn: Socket) => {
      conns.add(conn);
      conn.on('close', () => conns.delete(conn));
      conn.on('error', () => conn.destroy());
      conn.setTimeout(opts.tcpIdleTimeoutMs ?? 10_000, () => conn.destroy());
      const ip = clientIp(conn.remoteAddress ?? '');
      const reply = (out: Buffer | null) => {
        if (out !== null && !conn.destroyed) conn.write(frame(out));
      };
      let pending: Buffer | undefined;
      conn.on('data', (chunk: Buffer) => {
        let buf = pending ? Buffer.concat([pending, chunk]) : chunk;
        while (buf.length >= 2) {
          const len = buf.readUInt16BE(0);
          if (buf.length < len + 2) break;
          const msg = buf.subarray(2, 2 + len);
          buf = buf.subarray(2 + len);
          stats.tcp++;
          let r: Buffer | null | Promise<Buffer | null>;
          try {
            r = respond(msg, ip, view, tcpOpts);
          } catch (err) {
            onError(err);
            conn.destroy();
            return;
          }
          if (r === null || Buffer.isBuffer(r)) reply(r);
          else r.then(reply, onError);
        }
        pending = buf.length > 0 ? Buffer.from(buf) : undefined;
      });
    });
  }

  return {
    address,
    port,
    stats: () => ({ ...stats }),
    close: async () => {
      if (closed) return;
      closed = true;
      const waits: Promise<void>[] = [];
      if (udp) {
        const s = udp;
        waits.push(new Promise((resolve) => s.close(() => resolve())));
      }
      if (tcp) {
        const s = tcp;
        waits.push(new Promise((resolve) => s.close(() => resolve())));
        for (const c of conns) c.destroy();
      }
      await Promise.all(waits);
    },
  };
}

export interface DnsServersOptions extends Omit<DnsServerOptions, 'address' | 'onError'> {
  /** Retry addresses that failed to start after this long (default 1000 ms; 0: no retry), doubling per failure. */
  retryMs?: number;
  /** The longest wait between two tries of one address (default 30 s). */
  retryMaxMs?: number;
  /** Errors of one server, and addresses that could not be started (each retry reports again). */
  onError?: (address: string, err: Error) => void;
  /** A server started (after failures too). */
  onStarted?: (address: string) => void;
}

export interface DnsSyncResult {
  started: string[];
  stopped: string[];
  failed: { address: string; error: Error }[];
}

/**
 * One DNS server per address. The daemon calls sync() with every user-defined network's gateway
 * addresses whenever networks change: missing servers start, servers of removed addresses stop.
 * An address that cannot be bound yet (an IPv6 gateway still in duplicate address detection,
 * a bridge not up, the gateway address not on the host yet) is retried for as long as it is
 * wanted: after retryMs, then twice as long each time, up to retryMaxMs.
 */
export class DnsServers {
  private readonly servers = new Map<string, DnsServer>();
  private wanted: string[] = [];
  private queue: Promise<unknown> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private closed = false;
  /** addresses that failed to start: how often in a row, and when to try again (backoff) */
  private readonly failing = new Map<string, { attempts: number; nextAt: number }>();

  constructor(private readonly opts: DnsServersOptions) {}

  /** Addresses with a running server. */
  addresses(): string[] {
    return [...this.servers.keys()];
  }

  get(address: string): DnsServer | undefined {
    return this.servers.get(canonicalIp(address) ?? address);
  }

  /** Make the running servers exactly those of addresses. Calls are applied one at a time, in order. */
  sync(addresses: readonly string[]): Promise<DnsSyncResult> {
    const run = this.queue.then(() => this.apply(addresses));
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Stop every server. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    await this.queue;
    await Promise.all([...this.servers.values()].map((s) => s.close()));
    this.servers.clear();
  }

  private async apply(addresses: readonly string[]): Promise<DnsSyncResult> {
    const result: DnsSyncResult = { started: [], stopped: [], failed: [] };
    if (this.closed) return result;
    const want = new Set<string>();
    for (const a of addresses) {
      const c = canonicalIp(a);
      if (c === undefined) {
        result.failed.push({ address: a, error: new Error(`${JSON.stringify(a)} is not an IP address`) });
      } else {
        want.add(c);
      }
    }
    this.wanted = [...want];
    for (const a of [...this.failing.keys()]) if (!want.has(a)) this.failing.delete(a);
    for (const [address, server] of [...this.servers]) {
      if (want.has(address)) continue;
      this.servers.delete(address);
      await server.close();
      result.stopped.push(address);
    }
    const now = Date.now();
    const first = this.opts.retryMs ?? 1000;
    await Promise.all(
      [...want]
        // an address that keeps failing waits its turn (backoff), whoever calls sync()
        .filter((a) => !this.servers.has(a) && (this.failing.get(a)?.nextAt ?? 0) <= now)
        .map(async (address) => {
          try {
            const onError = this.opts.onError;
            const server = await startDnsServer({ ...this.opts, address, onError: onError && ((err) => onError(address, err)) });
            if (this.closed) {
              await server.close();
              return;
            }
            this.servers.set(address, server);
            this.failing.delete(address);
            result.started.push(address);
            this.opts.onStarted?.(address);
          } catch (err) {
            const attempts = (this.failing.get(address)?.attempts ?? 0) + 1;
            const wait = Math.min(first * 2 ** (attempts - 1), this.opts.retryMaxMs ?? 30_000);
            this.failing.set(address, { attempts, nextAt: Date.now() + wait });
            result.failed.push({ address, error: asError(err) });
            this.opts.onError?.(address, asError(err));
          }
        }),
    );
    this.scheduleRetry();
    return result;
  }

  /** One timer, for the failing address whose turn comes first. */
  private scheduleRetry(): void {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if ((this.opts.retryMs ?? 1000) <= 0 || this.closed || this.failing.size === 0) return;
    const next = Math.min(...[...this.failing.values()].map((f) => f.nextAt));
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.wanted.some((a) => !this.servers.has(a))) void this.sync(this.wanted);
    }, Math.max(0, next - Date.now()));
    this.retryTimer.unref();
  }
}
