// "These addresses are at this MAC", told to the neighbours on one link: IPv4 addresses by
// gratuitous ARP (arp-announce.ts), IPv6 ones by unsolicited neighbour advertisement
// (na-announce.ts). Plain addresses, no prefix.
import { isIPv6 } from 'node:net';
import { announceArp } from './arp-announce.js';
import { announceNa } from './na-announce.js';
import type { NetnsTarget } from './netns.js';

export function announceAddresses(netns: NetnsTarget | null, ifindex: number, addresses: readonly string[], mac: string): void {
  const v4 = addresses.filter((ip) => !isIPv6(ip)).map((ip) => ({ ip, mac }));
  const v6 = addresses.filter((ip) => isIPv6(ip)).map((ip) => ({ ip, mac }));
  if (v4.length) announceArp(netns, ifindex, v4);
  if (v6.length) announceNa(netns, ifindex, v6);
}
