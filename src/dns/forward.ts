// Forwarding: names berth does not own go to the client's upstream servers, in order; the first
// that answers within the per-upstream timeout wins (SERVFAIL and REFUSED count as no answer
// while another upstream remains, as in Docker's resolver).
//
// UDP goes out through a small pool of long-lived sockets per address family rather than a
// socket per query: each query gets a fresh random id, and an answer is taken only when its
// id, source address and port, QR bit and question section all match what was sent. The
// client's query bytes travel unchanged apart from the id (the id is restored in the answer),
// so EDNS options and the client's UDP size reach the upstream as the client sent them.
// A truncated UDP answer is retried over TCP when asked (the client came over TCP).
import { randomFillSync } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { clientIp, parseUpstream, type Upstream } from './addr.js';
import { UDP_RECV_BUFFER, connectTcp, type SocketWrapper } from './sockets.js';

export const DEFAULT_FORWARD_TIMEOUT_MS = 2000;

export interface ForwarderOptions {
  /** Per-upstream timeout (default 2000 ms): then the next upstream is asked. */
  timeoutMs?: number;
  /** Create the forwarder's sockets inside this wrapper (e.g. in a container's namespace). */
  wrap?: SocketWrapper;
  /** UDP sockets per address family (default 4), created on first use. */
  socketsPerFamily?: number;
  /** Queries waiting for an upstream at once (default 4096); beyond it forward() fails at once. */
  maxInFlight?: number;
}

export interface ForwardOptions {
  /** Per-upstream timeout; default the forwarder's. */
  timeoutMs?: number;
  /** Retry a truncated (TC) UDP answer over TCP, same upstream. Default false: return it as is. */
  tcpOnTruncation?: boolean;
  /** Ask over TCP only. */
  tcp?: boolean;
}

/** What the resolver needs of a forwarder (Forwarder, or a stub in tests). */
export interface DnsForwarder {
  forward(query: Buffer, upstreams: readonly string[], opts?: ForwardOptions): Promise<Buffer>;
}

/** No upstream gave a usable answer (or there were none, or too many queries are in flight). */
export class ForwardError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ForwardError';
  }
}

interface Channel {
  readonly sock: UdpSocket;
  readonly family: 4 | 6;
  readonly pending: Map<number, Pending>;
  broken: boolean;
}

interface Pending {
  readonly ch: Channel;
  readonly id: number;
  readonly origId: number;
  readonly up: Upstream;
  readonly query: Buffer;
  readonly resolve: (resp: Buffer | undefined) => void;
  timer: NodeJS.Timeout | undefined;
}

const QR = 0x80; // in byte 2
const TC = 0x02; // in byte 2
const RCODE_SERVFAIL = 2;
const RCODE_REFUSED = 5;

/** Offset just past the single question of msg, or -1 if it is not a plain one-question message. */
function questionEnd(msg: Buffer): number {
  if (msg.length < 12 || msg[4] !== 0 || msg[5] !== 1) return -1;
  let off = 12;
  for (;;) {
    const len = msg[off];
    if (len === undefined || (len & 0xc0) !== 0) return -1;
    off += len + 1;
    if (len === 0) break;
  }
  return off + 4 <= msg.length ? off + 4 : -1;
}

/** The answer repeats the question that was asked (ASCII case aside), or has no question section. */
function sameQuestion(query: Buffer, resp: Buffer): boolean {
  if (resp[4] === 0 && resp[5] === 0) return true;
  const end = questionEnd(query);
  if (end < 0) return true; // not a shape we can compare; id and source already matched
  if (resp.length < end || resp[4] !== 0 || resp[5] !== 1) return false;
  for (let i = 12; i < end; i++) {
    let a = query[i] ?? 0;
    let b = resp[i] ?? 0;
    if (a >= 0x41 && a <= 0x5a) a |= 0x20;
    if (b >= 0x41 && b <= 0x5a) b |= 0x20;
    if (a !== b) return false;
  }
  return true;
}

export class Forwarder implements DnsForwarder {
  private readonly timeoutMs: number;
  private readonly wrap: SocketWrapper | undefined;
  private readonly perFamily: number;
  private readonly maxInFlight: number;
  private readonly channels: Record<4 | 6, Channel[]> = { 4: [], 6: [] };
  private readonly upstreams = new Map<string, Upstream | null>();
  private readonly ids = Buffer.alloc(4096);
  private idPos = this.ids.length;
  private rr = 0;
  private pendingCount = 0;
  private closed = false;

  constructor(opts: ForwarderOptions = {}) {
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
    this.wrap = opts.wrap;
    this.perFamily = Math.max(1, opts.socketsPerFamily ?? 4);
    // ids are 16 bits per socket: stay well below that so that a free one is always found fast
    this.maxInFlight = Math.min(60_000, Math.max(1, opts.maxInFlight ?? 4096));
  }

  /** Queries waiting for an upstream answer now. */
  get inFlight(): number {
    return this.pendingCount;
  }

  /**
   * Send query (a complete DNS message) to upstreams in order and resolve with the first usable
   * answer, its id set back to the query's. Rejects with ForwardError when none answers.
   */
  async forward(query: Buffer, upstreams: readonly string[], opts: ForwardOptions = {}): Promise<Buffer> {
    if (this.closed) throw new ForwardError('forwarder closed');
    if (query.length < 12) throw new ForwardError('query shorter than a DNS header');
    if (upstreams.length === 0) throw new ForwardError('no upstream servers');
    if (this.pendingCount >= this.maxInFlight) throw new ForwardError(`more than ${this.maxInFlight} queries in flight`);
    const timeoutMs = opts.timeoutMs ?? this.timeoutMs;
    let fallback: Buffer | undefined;
    const failures: string[] = [];
    for (const text of upstreams) {
      const up = this.upstream(text);
      if (!up) {
        failures.push(`${JSON.stringify(text)} is not IP, IP:PORT or [IPv6]:PORT`);
        continue;
      }
      let resp = opts.tcp ? await this.tcpQuery(query, up, timeoutMs) : await this.udpQuery(query, up, timeoutMs);
      if (resp && !opts.tcp && opts.tcpOnTruncation && ((resp[2] ?? 0) & TC) !== 0) {
        resp = (await this.tcpQuery(query, up, timeoutMs)) ?? resp;
      }
      if (!resp) {
        failures.push(`${up.text}: no answer within ${timeoutMs} ms`);
        continue;
      }
      const rcode = (resp[3] ?? 0) & 0x0f;
      if (rcode === RCODE_SERVFAIL || rcode === RCODE_REFUSED) {
        fallback = resp;
        failures.push(`${up.text}: ${rcode === RCODE_SERVFAIL ? 'SERVFAIL' : 'REFUSED'}`);
        continue;
      }
      return resp;
    }
    if (fallback) return fallback;
    throw new ForwardError(`no upstream answered: ${failures.join('; ')}`);
  }

  /** Stop: pending queries end without an answer, sockets close. */
  close(): void {
    this.closed = true;
    for (const fam of [4, 6] as const) {
      for (const ch of this.channels[fam]) this.dropChannel(ch);
      this.channels[fam] = [];
    }
  }

  private upstream(text: string): Upstream | undefined {
    let up = this.upstreams.get(text);
    if (up === undefined) {
      if (this.upstreams.size > 1024) this.upstreams.clear();
      up = parseUpstream(text) ?? null;
      this.upstreams.set(text, up);
    }
    return up ?? undefined;
  }

  private nextId(): number {
    if (this.idPos >= this.ids.length) {
      randomFillSync(this.ids);
      this.idPos = 0;
    }
    const id = this.ids.readUInt16BE(this.idPos);
    this.idPos += 2;
    return id;
  }

  private channel(family: 4 | 6): Channel {
    const list = this.channels[family];
    if (list.length < this.perFamily) {
      const ch = this.openChannel(family);
      list.push(ch);
      return ch;
    }
    return list[this.rr++ % list.length] as Channel;
  }

  private openChannel(family: 4 | 6): Channel {
    const create = (): UdpSocket => {
      const s = createSocket({
        type: family === 4 ? 'udp4' : 'udp6',
        lookup: (host: string, _o: unknown, cb: (e: Error | null, a: string, f: number) => void) => cb(null, host, family),
        recvBufferSize: UDP_RECV_BUFFER,
      });
      // bind now (synchronously, inside the wrapper) so that the fd is created here
      let bindError: Error | undefined;
      s.on('error', (err) => (bindError ??= err));
      s.bind(0);
      if (bindError) {
        s.close();
        throw bindError;
      }
      return s;
    };
    const sock = this.wrap ? this.wrap(create) : create();
    sock.removeAllListeners('error');
    sock.unref();
    const ch: Channel = { sock, family, pending: new Map(), broken: false };
    sock.on('message', (msg, rinfo) => this.onMessage(ch, msg, rinfo));
    sock.on('error', () => {
      // the socket is unusable: its queries fail over to the next upstream, a new one replaces it
      this.dropChannel(ch);
      const list = this.channels[family];
      const i = list.indexOf(ch);
      if (i >= 0) list.splice(i, 1);
    });
    return ch;
  }

  private dropChannel(ch: Channel): void {
    if (ch.broken) return;
    ch.broken = true;
    for (const p of [...ch.pending.values()]) this.settle(p, undefined);
    try {
      ch.sock.close();
    } catch {
      // already closed
    }
  }

  private onMessage(ch: Channel, msg: Buffer, rinfo: RemoteInfo): void {
    if (msg.length < 12) return;
    const p = ch.pending.get(msg.readUInt16BE(0));
    if (!p) return;
    if (rinfo.port !== p.up.port || clientIp(rinfo.address) !== p.up.address) return;
    if (((msg[2] ?? 0) & QR) === 0 || !sameQuestion(p.query, msg)) return;
    this.settle(p, msg);
  }

  private settle(p: Pending, resp: Buffer | undefined): void {
    if (p.ch.pending.get(p.id) !== p) return;
    p.ch.pending.delete(p.id);
    this.pendingCount--;
    if (p.timer) clearTimeout(p.timer);
    if (resp) resp.writeUInt16BE(p.origId, 0);
    p.resolve(resp);
  }

  private udpQuery(query: Buffer, up: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
    let ch: Channel;
    try {
      ch = this.channel(up.family);
    } catch {
      return Promise.resolve(undefined);
    }
    let id = this.nextId();
    while (ch.pending.has(id)) id = this.nextId();
    const out = Buffer.allocUnsafe(query.length);
    query.copy(out);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const p: Pending = { ch, id, origId: query.readUInt16BE(0), up, query, resolve, timer: undefined };
      ch.pending.set(id, p);
      this.pendingCount++;
      p.timer = setTimeout(() => this.settle(p, undefined), timeoutMs);
      try {
        ch.sock.send(out, up.port, up.address, (err) => {
          if (err) this.settle(p, undefined);
        });
      } catch {
        this.settle(p, undefined);
      }
    });
  }

  private tcpQuery(query: Buffer, up: Upstream, timeoutMs: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      let settled = false;
      let buffered: Buffer = Buffer.alloc(0);
      let sock: ReturnType<typeof connectTcp> | undefined;
      const done = (resp: Buffer | undefined) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        sock?.destroy();
        resolve(resp);
      };
      const timer = setTimeout(() => done(undefined), timeoutMs);
      try {
        sock = connectTcp(up.address, up.port, this.wrap);
      } catch {
        done(undefined);
        return;
      }
      sock.on('error', () => done(undefined));
      sock.on('close', () => done(undefined));
      sock.on('data', (chunk: Buffer) => {
        buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
        if (buffered.length < 2) return;
        const len = buffered.readUInt16BE(0);
        if (buffered.length < len + 2) return;
        const resp = buffered.subarray(2, 2 + len);
        const ok = resp.length >= 12 && resp.readUInt16BE(0) === query.readUInt16BE(0) && ((resp[2] ?? 0) & QR) !== 0;
        done(ok && sameQuestion(query, resp) ? Buffer.from(resp) : undefined);
      });
      const frame = Buffer.allocUnsafe(query.length + 2);
      frame.writeUInt16BE(query.length, 0);
      query.copy(frame, 2);
      sock.write(frame);
    });
  }
}

let shared: Forwarder | undefined;

/** The process-wide forwarder (host namespace, default options) used when none is given. */
export function defaultForwarder(): Forwarder {
  shared ??= new Forwarder();
  return shared;
}

/**
 * Forward query to upstreams (`IP` or `IP:PORT`) over UDP, the next upstream after a timeout;
 * with tcpOnTruncation a truncated answer is fetched again over TCP. Uses defaultForwarder().
 */
export function forward(query: Buffer, upstreams: readonly string[], opts: ForwardOptions = {}): Promise<Buffer> {
  return defaultForwarder().forward(query, upstreams, opts);
}
