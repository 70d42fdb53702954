// Unsolicited neighbour advertisement on one link (RFC 4861 7.2.6): "IPv6 address is at MAC",
// to all nodes (ff02::1) with the override flag, for the neighbours on that link to update an
// entry they already hold (Linux creates none from it unless accept_untracked_na is on). The IPv6
// counterpart of arp-announce.ts, sent the same way (AF_PACKET in the device's namespace), for
// the same reason: a container that asked for an overlay address before it existed is answered
// when it appears, not at its next neighbour solicitation (retrans_time, 1 s by default).
import { isIPv6 } from 'node:net';
import { ipToBuffer, macToBuffer } from './addr.js';
import type { NetnsTarget } from './netns.js';
import { sendFrames } from './packet-socket.js';

const ETH_P_IPV6 = 0x86dd;
const IPPROTO_ICMPV6 = 58;
const ND_NEIGHBOR_ADVERT = 136;
const ND_OPT_TARGET_LINKADDR = 2;
/** flags word: override (O) only: unsolicited, not a router */
const NA_OVERRIDE = 0x20000000;
const ALL_NODES = ipToBuffer('ff02::1');
/** ff02::1's Ethernet multicast address (33:33 + its last 32 bits) */
const ALL_NODES_MAC = Buffer.from([0x33, 0x33, 0, 0, 0, 1]);
/** ICMPv6 NA (24 bytes) + target link-layer address option (8) */
const ICMP_LEN = 32;

export interface NaAnnouncement {
  /** IPv6 address (not multicast) */
  ip: string;
  /** its MAC, aa:bb:cc:dd:ee:ff */
  mac: string;
}

function targetBytes(ip: string): Buffer {
  if (!isIPv6(ip)) throw new Error(`invalid IPv6 address "${ip}"`);
  const b = ipToBuffer(ip);
  if (b[0] === 0xff) throw new Error(`invalid IPv6 address "${ip}": a multicast address has no neighbour entry`);
  return b;
}

/** The Internet checksum of the ICMPv6 message with its IPv6 pseudo-header. */
function icmpv6Checksum(src: Buffer, dst: Buffer, icmp: Buffer): number {
  const pseudo = Buffer.alloc(40);
  src.copy(pseudo, 0);
  dst.copy(pseudo, 16);
  pseudo.writeUInt32BE(icmp.length, 32);
  pseudo[39] = IPPROTO_ICMPV6;
  let sum = 0;
  for (const b of [pseudo, icmp]) for (let i = 0; i < b.length; i += 2) sum += (b[i] as number) * 256 + (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/**
 * An unsolicited neighbour advertisement as an Ethernet frame: from the address itself (the
 * address is the sender's, RFC 4861 7.2.4) to ff02::1, hop limit 255 (else Linux drops it), flags
 * override only, with the target link-layer address option.
 */
export function naFrame(a: NaAnnouncement): Buffer {
  const mac = macToBuffer(a.mac);
  const target = targetBytes(a.ip);
  const icmp = Buffer.alloc(ICMP_LEN);
  icmp[0] = ND_NEIGHBOR_ADVERT;
  icmp.writeUInt32BE(NA_OVERRIDE, 4);
  target.copy(icmp, 8);
  icmp[24] = ND_OPT_TARGET_LINKADDR;
  icmp[25] = 1; // in units of 8 bytes
  mac.copy(icmp, 26);
  icmp.writeUInt16BE(icmpv6Checksum(target, ALL_NODES, icmp), 2);
  const f = Buffer.alloc(14 + 40 + ICMP_LEN);
  ALL_NODES_MAC.copy(f, 0);
  mac.copy(f, 6);
  f.writeUInt16BE(ETH_P_IPV6, 12);
  f.writeUInt32BE(0x60000000, 14);
  f.writeUInt16BE(ICMP_LEN, 18);
  f[20] = IPPROTO_ICMPV6;
  f[21] = 255;
  target.copy(f, 22);
  ALL_NODES.copy(f, 38);
  icmp.copy(f, 54);
  return f;
}

/**
 * Send one unsolicited neighbour advertisement per announcement out of link ifindex in netns.
 * Throws on the first failed send; the socket is always closed.
 */
export function announceNa(netns: NetnsTarget | null, ifindex: number, announcements: readonly NaAnnouncement[]): void {
  sendFrames(netns, ifindex, { ethertype: ETH_P_IPV6, dst: ALL_NODES_MAC }, announcements.map(naFrame), 'neighbour advertisement');
}
