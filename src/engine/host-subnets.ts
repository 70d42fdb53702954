// Is an explicit --subnet safe for this host? (issue 11, item 6). Special-purpose blocks are
// refused everywhere (loopback: the DNS would bind the host's 127.0.0.1:53; multicast; IPv4-
// mapped IPv6; a block with no address left for a container after the gateway). A bridge
// network must not overlap a subnet the host uses (the uplink's own LAN: the bridge would take
// the host's address and, after an uplink flap, its default route). A NAT-free bridge and a
// macvlan network on a parent sit on that LAN by design; their gateway and --ip-range must
// still not be the host's own address.
import { UserError, quote } from '../common/errors.js';
import { listAddresses } from '../kernel/addresses.js';
import { listLinks } from '../kernel/links.js';
import { AF_INET, AF_INET6, listRoutes } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import { cidrContains, cidrsOverlap, parseAddress, parseCidr, subnetOwnAddresses, type Cidr, type SubnetConfig } from '../ipam/index.js';
import type { Engine } from './context.js';

const RESERVED: readonly { cidr: Cidr; what: string }[] = [
  ['0.0.0.0/8', '"this network" (0.0.0.0/8)'],
  ['127.0.0.0/8', 'loopback (127.0.0.0/8)'],
  ['224.0.0.0/4', 'multicast (224.0.0.0/4)'],
  ['240.0.0.0/4', 'reserved (240.0.0.0/4, with the broadcast address)'],
  ['::/128', 'the unspecified address (::)'],
  ['::1/128', 'loopback (::1)'],
  ['::ffff:0:0/96', 'IPv4-mapped (::ffff:0:0/96)'],
  ['fe80::/10', 'link-local (fe80::/10)'],
  ['ff00::/8', 'multicast (ff00::/8)'],
].map(([text, what]) => ({ cidr: parseCidr(text as string), what: what as string }));

const ACCEPTED = 'accepted are unicast blocks the host does not use, e.g. private 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16 or IPv6 fd00::/8';

/** Refuse a subnet in a special-purpose block, or too small for a container (any driver, any host). */
export function checkSubnetUsable(config: SubnetConfig): void {
  const cidr = parseCidr(config.subnet, 'subnet');
  const reserved = RESERVED.find((r) => cidrsOverlap(r.cidr, cidr));
  if (reserved) throw new UserError(`--subnet ${quote(config.subnet)} overlaps ${reserved.what}: ${ACCEPTED}`);
  // /31 is point-to-point (two hosts: gateway and one container); /32, /128 and /127 leave none
  const own = subnetOwnAddresses(cidr).size;
  const hosts = cidr.last - cidr.first + 1n - BigInt(own);
  if (hosts < 2n) {
    throw new UserError(`--subnet ${quote(config.subnet)} has no address left for a container after the gateway: use a prefix of /${cidr.family === 4 ? 31 : 126} or shorter`);
  }
}

export interface HostSubnet {
  cidr: Cidr;
  /** for messages: "address 10.0.0.5/24 on eth0", "route 10.9.0.0/16 via eth1" */
  what: string;
  /** the host's own address (addresses only) */
  address?: string;
}

/**
 * What the host uses: its addresses and the destinations of its routes (main table, not default
 * routes, not link-local, not loopback), with the link each sits on. berth's own networks are
 * left out (the store checks overlaps among them, with a better message).
 */
export async function hostUsedSubnets(engine: Engine): Promise<HostSubnet[]> {
  const ours = engine.store.listNetworks().flatMap((n) => n.subnets.map((s) => parseCidr(s.subnet)));
  return withRtnl(engine.hostNetns, async (nl) => {
    const names = new Map((await listLinks(nl)).map((l) => [l.index, l.name]));
    const on = (index: number | undefined) => (index !== undefined ? ` on ${names.get(index) ?? `#${index}`}` : '');
    const out: HostSubnet[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      for (const r of await listRoutes(nl, family)) {
        if (r.dst === 'default' || r.type !== 'UNICAST') continue;
        out.push({ cidr: parseCidr(r.dst, 'route', 'mask'), what: `route ${r.dst}${on(r.oif)}` });
      }
    }
    for (const a of await listAddresses(nl)) out.push({ cidr: parseCidr(a.cidr, 'address', 'mask'), what: `address ${a.cidr}${on(a.index)}`, address: a.ip });
    return out.filter((h) => !RESERVED.some((r) => cidrsOverlap(r.cidr, h.cidr)) && !ours.some((o) => cidrsOverlap(o, h.cidr)));
  });
}

/**
 * Check explicit subnets against the host. onLan: the network sits on the host's LAN by design
 * (NAT-free bridge, macvlan with a parent): overlap is expected, but its gateway and --ip-range
 * must not be (hold) the host's own address.
 */
export function checkAgainstHost(configs: readonly SubnetConfig[], host: readonly HostSubnet[], onLan: string | undefined): void {
  for (const c of configs) {
    const cidr = parseCidr(c.subnet, 'subnet');
    if (!onLan) {
      const clash = host.find((h) => cidrsOverlap(h.cidr, cidr));
      if (clash) {
        throw new UserError(
          `--subnet ${quote(c.subnet)} overlaps ${clash.cidr.text}, which this host uses (${clash.what}): the network's bridge would take the host's traffic. ` +
            `Choose a subnet the host does not use (or, for a bridge network, -o parent=IF: a NAT-free bridge on that LAN)`,
        );
      }
      continue;
    }
    for (const h of host) {
      if (!h.address) continue;
      const ip = parseAddress(h.address);
      if (c.gateway !== undefined && parseAddress(c.gateway).value === ip.value && ip.family === cidr.family) {
        throw new UserError(`--gateway ${quote(c.gateway)} is this host's own address (${h.what}): give the LAN's router (-o parent=${onLan})`);
      }
      if (c.ipRange !== undefined && cidrContains(parseCidr(c.ipRange, 'ip-range'), ip)) {
        throw new UserError(`--ip-range ${quote(c.ipRange)} holds this host's own address (${h.what}): give a range of the LAN that excludes it`);
      }
    }
  }
}
