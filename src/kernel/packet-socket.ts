// Ethernet frames sent out of one link through an AF_PACKET socket opened in the link's namespace
// (the overlay's gratuitous ARP and unsolicited neighbour advertisements: arp-announce.ts,
// na-announce.ts). Protocol 0: a send-only socket, so the kernel queues nothing received to it.
import koffi from 'koffi';
import { LibcError } from './libc.js';
import { withNetns, type NetnsTarget } from './netns.js';

const libc = koffi.load('libc.so.6');
const socketFn = libc.func('int socket(int domain, int type, int protocol)');
const sendtoFn = libc.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)');
const closeFn = libc.func('int close(int fd)');

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const ARPHRD_ETHER = 1;

/** struct sockaddr_ll for sending frames of ethertype on ifindex to the MAC dst. */
function sockaddrLl(ifindex: number, ethertype: number, dst: Buffer): Buffer {
  const sa = Buffer.alloc(20);
  sa.writeUInt16LE(AF_PACKET, 0);
  sa.writeUInt16BE(ethertype, 2);
  sa.writeInt32LE(ifindex, 4);
  sa.writeUInt16LE(ARPHRD_ETHER, 8);
  sa[10] = 0; // sll_pkttype: unused when sending
  sa[11] = 6;
  dst.copy(sa, 12);
  return sa;
}

/** the process's own namespace's socket, kept: see sendFrames */
let ownSocket: number | undefined;
let opened = 0;

/** Packet sockets this process opened so far (tests: the daemon's namespace keeps one). */
export function packetSocketsOpened(): number {
  return opened;
}

function openSocket(netns: NetnsTarget | null): number {
  const fd = withNetns(netns, () => socketFn(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0) as number);
  if (fd < 0) throw new LibcError('socket(AF_PACKET)', koffi.errno());
  opened++;
  return fd;
}

/**
 * Send whole Ethernet frames (headers included) out of link ifindex in netns. Throws on the first
 * failed send (what names the frames in the error).
 *
 * Closing an AF_PACKET socket waits for an RCU grace period (synchronize_net: 8-22 ms here), and
 * that blocked the daemon's event loop once per remote endpoint programmed (issue 17: a third of
 * a receiving daemon's busy time at 20 hosts). So the socket of the process's own namespace (the
 * daemon's) stays open; one opened in another namespace is closed on a worker thread (it would
 * keep that namespace alive).
 */
export function sendFrames(netns: NetnsTarget | null, ifindex: number, link: { ethertype: number; dst: Buffer }, frames: readonly Buffer[], what: string): void {
  if (!Number.isInteger(ifindex) || ifindex <= 0) throw new Error(`invalid interface index ${ifindex}`);
  if (!frames.length) return;
  const fd = netns === null ? (ownSocket ??= openSocket(null)) : openSocket(netns);
  try {
    const sa = sockaddrLl(ifindex, link.ethertype, link.dst);
    for (const f of frames) {
      if ((sendtoFn(fd, f, f.length, 0, sa, sa.length) as number) < 0) throw new LibcError(`sendto (${what} on ifindex ${ifindex})`, koffi.errno());
    }
  } finally {
    if (fd !== ownSocket) closeFn.async(fd, () => undefined);
  }
}
