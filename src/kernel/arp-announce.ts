// Gratuitous ARP on one link: "IP is at MAC" broadcast out of a device, for the neighbours on
// that link to update an entry they already hold (the kernel never creates one from it unless
// arp_accept is on). Sent through an AF_PACKET socket opened in the device's namespace.
//
// Why (issue 17): a container that tried an overlay address before it existed holds an
// INCOMPLETE (or FAILED) entry for it, and without an announcement waits for its next ARP
// retransmit (retrans_time, 1 s by default) once the address appears; the announcement
// resolves it at once and sends what it had queued.
import koffi from 'koffi';
import { isIPv4 } from 'node:net';
import { ipToBuffer, macToBuffer } from './addr.js';
import { LibcError } from './libc.js';
import { withNetns, type NetnsTarget } from './netns.js';

const libc = koffi.load('libc.so.6');
const socketFn = libc.func('int socket(int domain, int type, int protocol)');
const sendtoFn = libc.func('long sendto(int fd, const void *buf, size_t len, int flags, const void *addr, uint32_t addrlen)');
const closeFn = libc.func('int close(int fd)');

const AF_PACKET = 17;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const ETH_P_ARP = 0x0806;
const ARPHRD_ETHER = 1;
const ARPOP_REPLY = 2;
/** An Ethernet frame's minimum length without the FCS: the ARP payload is padded to it. */
const MIN_FRAME = 60;
const BROADCAST = Buffer.alloc(6, 0xff);

export interface ArpAnnouncement {
  /** IPv4 address */
  ip: string;
  /** its MAC, aa:bb:cc:dd:ee:ff */
  mac: string;
}

function ipv4Bytes(ip: string): Buffer {
  if (!isIPv4(ip)) throw new Error(`invalid IPv4 address "${ip}"`);
  return ipToBuffer(ip);
}

/**
 * A gratuitous ARP reply (RFC 5227 "ARP announcement" in reply form): broadcast, sender and
 * target both IP/MAC, so Linux takes it as gratuitous and lets it override a recent entry.
 */
export function garpFrame(a: ArpAnnouncement): Buffer {
  const mac = macToBuffer(a.mac);
  const ip = ipv4Bytes(a.ip);
  const f = Buffer.alloc(MIN_FRAME);
  BROADCAST.copy(f, 0);
  mac.copy(f, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(ARPHRD_ETHER, 14);
  f.writeUInt16BE(0x0800, 16);
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(ARPOP_REPLY, 20);
  mac.copy(f, 22);
  ip.copy(f, 28);
  mac.copy(f, 32);
  ip.copy(f, 38);
  return f;
}

/** struct sockaddr_ll for sending on ifindex to the broadcast address. */
function sockaddrLl(ifindex: number): Buffer {
  const sa = Buffer.alloc(20);
  sa.writeUInt16LE(AF_PACKET, 0);
  sa.writeUInt16BE(ETH_P_ARP, 2);
  sa.writeInt32LE(ifindex, 4);
  sa.writeUInt16LE(ARPHRD_ETHER, 8);
  sa[10] = 0; // sll_pkttype: unused when sending
  sa[11] = 6;
  BROADCAST.copy(sa, 12);
  return sa;
}

/**
 * Send one gratuitous ARP per announcement out of link ifindex in netns. Throws on the first
 * failed send (the caller decides whether that matters); the socket is always closed.
 */
export function announceArp(netns: NetnsTarget | null, ifindex: number, announcements: readonly ArpAnnouncement[]): void {
  if (!Number.isInteger(ifindex) || ifindex <= 0) throw new Error(`invalid interface index ${ifindex}`);
  const frames = announcements.map(garpFrame);
  if (!frames.length) return;
  // protocol 0: a send-only socket, so the kernel queues no received ARP to it
  const fd = withNetns(netns, () => socketFn(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0) as number);
  if (fd < 0) throw new LibcError('socket(AF_PACKET)', koffi.errno());
  try {
    const sa = sockaddrLl(ifindex);
    for (const f of frames) {
      if ((sendtoFn(fd, f, f.length, 0, sa, sa.length) as number) < 0) throw new LibcError(`sendto (gratuitous ARP on ifindex ${ifindex})`, koffi.errno());
    }
  } finally {
    closeFn(fd);
  }
}
