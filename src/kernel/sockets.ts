// Sockets that live in another network namespace (a DNS listener on a container network's
// gateway, a probe inside a lab host). The socket is created while the thread is switched.
import { createSocket, type Socket, type SocketType } from 'node:dgram';
import { withNetns, type NetnsTarget } from './netns.js';

/**
 * Bind a UDP socket inside netns. dgram normally resolves the address asynchronously and
 * creates the socket later, outside the switch; an immediate lookup makes bind() create
 * and bind it synchronously, inside.
 */
export function bindUdpInNetns(netns: NetnsTarget | null, type: SocketType, address: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    withNetns(netns, () => {
      const sock = createSocket({
        type,
        lookup: (host: string, _family: unknown, cb: (err: Error | null, ip: string, family: number) => void) =>
          cb(null, host, type === 'udp4' ? 4 : 6),
      });
      sock.once('error', reject);
      sock.bind(port, address, () => {
        sock.off('error', reject);
        resolve(sock);
      });
    });
  });
}
