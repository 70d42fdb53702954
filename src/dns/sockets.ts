// Sockets for the DNS server and forwarder, created synchronously inside an optional wrapper
// so that a caller can put them in another network namespace: wrap switches the thread's
// namespace, runs fn, switches back (src/kernel/netns.ts withNetns). A socket's namespace is
// fixed when its file descriptor is created, so the fd must exist before wrap returns:
// - UDP: dgram creates the fd at bind(); with a lookup that answers synchronously, bind() runs
//   at once instead of a tick later (as in src/kernel/sockets.ts bindUdpInNetns).
// - TCP: net.Server#listen(port, host) and net.Socket#connect(port, host) resolve the host on a
//   later tick even for an IP literal. Under a wrapper we therefore bind a libuv TCP handle
//   ourselves (bind creates the fd) and give it to net: listen(handle) / new Socket({ handle }).
//   Without a wrapper the documented APIs are used.
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, Socket, type Server } from 'node:net';
import { getSystemErrorName } from 'node:util';

/** Runs fn synchronously in some context (a network namespace) and returns its result. */
export type SocketWrapper = <T>(fn: () => T) => T;

const direct: SocketWrapper = (fn) => fn();

/**
 * SO_RCVBUF asked for DNS UDP sockets: room for bursts of queries (the kernel default, ~208 KiB,
 * holds a few hundred datagrams). The kernel caps it at net.core.rmem_max.
 */
export const UDP_RECV_BUFFER = 1 << 20;

/** dgram lookup that answers at once: addresses here are always IP literals. */
function syncLookup(family: 4 | 6) {
  return (host: string, _opts: unknown, cb: (err: Error | null, address: string, family: number) => void): void =>
    cb(null, host, family);
}

export function familyOf(address: string): 4 | 6 {
  return address.includes(':') ? 6 : 4;
}

/** A UDP socket bound to address:port (0: any free port), its fd created inside wrap. */
export function bindUdp(address: string, port: number, wrap: SocketWrapper = direct): Promise<UdpSocket> {
  const family = familyOf(address);
  return new Promise((resolve, reject) => {
    try {
      wrap(() => {
        const s = createSocket({ type: family === 4 ? 'udp4' : 'udp6', ipv6Only: family === 6, lookup: syncLookup(family), recvBufferSize: UDP_RECV_BUFFER });
        const failed = (err: Error) => {
          s.close();
          reject(err);
        };
        s.once('error', failed);
        s.bind({ port, address, exclusive: true }, () => {
          s.off('error', failed);
          resolve(s);
        });
      });
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

interface TcpHandle {
  bind(address: string, port: number): number;
  bind6(address: string, port: number, flags: number): number;
  close(): void;
}

interface TcpWrapBinding {
  TCP: new (type: number) => TcpHandle;
  constants: { SOCKET: number; SERVER: number; UV_TCP_IPV6ONLY: number };
}

let tcpWrap: TcpWrapBinding | undefined;

function tcpBinding(): TcpWrapBinding {
  if (!tcpWrap) {
    const proc = process as unknown as { binding?: (name: string) => unknown };
    if (typeof proc.binding !== 'function') throw new Error('TCP sockets in another namespace need process.binding("tcp_wrap"), absent in this Node.js');
    tcpWrap = proc.binding('tcp_wrap') as TcpWrapBinding;
  }
  return tcpWrap;
}

function boundHandle(kind: 'SOCKET' | 'SERVER', address: string, port: number): TcpHandle {
  const b = tcpBinding();
  const h = new b.TCP(b.constants[kind]);
  const err = familyOf(address) === 6 ? h.bind6(address, port, b.constants.UV_TCP_IPV6ONLY) : h.bind(address, port);
  if (err !== 0) {
    h.close();
    const code = getSystemErrorName(err);
    throw Object.assign(new Error(`bind ${code} ${address}:${port}`), { code, syscall: 'bind', address, port });
  }
  return h;
}

/** A TCP server listening on address:port, its fd created inside wrap when one is given. */
export function listenTcp(address: string, port: number, wrap?: SocketWrapper): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer({ noDelay: true });
    server.once('error', reject);
    const listening = () => {
      server.off('error', reject);
      resolve(server);
    };
    try {
      if (wrap) {
        const handle = wrap(() => boundHandle('SERVER', address, port));
        server.listen(handle, 511, listening);
      } else {
        server.listen({ port, host: address, ipv6Only: familyOf(address) === 6, exclusive: true, backlog: 511 }, listening);
      }
    } catch (err) {
      reject(err instanceof Error ? err : new Error(String(err)));
    }
  });
}

/** A TCP connection to address:port, its fd created inside wrap when one is given. */
export function connectTcp(address: string, port: number, wrap?: SocketWrapper): Socket {
  if (!wrap) {
    const s = new Socket();
    s.setNoDelay(true);
    s.connect({ port, host: address, family: familyOf(address) });
    return s;
  }
  const any = familyOf(address) === 6 ? '::' : '0.0.0.0';
  const handle = wrap(() => boundHandle('SOCKET', any, 0));
  // manualStart: do not read before connecting (reading starts once connected)
  const s = new Socket({ handle, manualStart: true } as unknown as ConstructorParameters<typeof Socket>[0]);
  s.setNoDelay(true);
  s.connect({ port, host: address, family: familyOf(address) });
  return s;
}
