// Gratuitous ARP on one link: "IP is at MAC" broadcast out of a device, for the neighbours on
// that link to update an entry they already hold (the kernel never creates one from it unless
// arp_accept is on). Sent through an AF_PACKET socket opened in the device's namespace.
//
// Why (issue 17): a container that tried an overlay address before it existed holds an
// INCOMPLETE (or FAILED) entry for it, and without an announcement waits for its next ARP
// retransmit (retrans_time, 1 s by default) once the address appears; the announcement
// resolves it at once and sends what it had queued.
import { isIPv4 } from 'node:net';
import { ipToBuffer, macToBuffer } from './addr.js';
import type { NetnsTarget } from './netns.js';
import { sendFrames } from './packet-socket.js';

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

/**
 * Send one gratuitous ARP per announcement out of link ifindex in netns. Throws on the first
 * failed send (the caller decides whether that matters); the socket is always closed.
 */
export function announceArp(netns: NetnsTarget | null, ifindex: number, announcements: readonly ArpAnnouncement[]): void {
  sendFrames(netns, ifindex, { ethertype: ETH_P_ARP, dst: BROADCAST }, announcements.map(garpFrame), 'gratuitous ARP');
}
