// An overlay network's subnets from `network create`: paired and checked as Docker does; the
// cluster picks IPv4 subnets itself, so IPv6 must be given.
import { UserError } from '../common/errors.js';
import { parseCidr, toSubnetConfig, validateSubnetConfigs, type SubnetConfig } from '../ipam/index.js';
import { checkSubnetUsable } from './host-subnets.js';
import type { CreateNetworkSpec } from './networks.js';

/** --subnet/--gateway/--ip-range/--aux-address paired as Docker pairs them, checked. */
export function overlaySubnets(spec: CreateNetworkSpec): SubnetConfig[] {
  const configs: SubnetConfig[] = spec.subnets.map((subnet) => ({ subnet }));
  const owner = (what: string, value: string) => {
    const probe = parseCidr(value.includes('/') ? value : `${value}/${value.includes(':') ? 128 : 32}`, what);
    const c = configs.find((cfg) => {
      const s = parseCidr(cfg.subnet, 'subnet');
      return s.family === probe.family && probe.first >= s.first && probe.last <= s.last;
    });
    if (!c) throw new UserError(`${what} "${value}" is not inside any --subnet (${spec.subnets.join(', ') || 'none given'})`);
    return c;
  };
  for (const g of spec.gateways) {
    const c = owner('gateway', g);
    if (c.gateway !== undefined) throw new UserError(`two gateways for subnet ${c.subnet}: give at most one per subnet`);
    c.gateway = g;
  }
  for (const r of spec.ipRanges) {
    const c = owner('ip-range', r);
    if (c.ipRange !== undefined) throw new UserError(`two ip-ranges for subnet ${c.subnet}: give at most one per subnet`);
    c.ipRange = r;
  }
  for (const [name, ip] of Object.entries(spec.auxAddresses)) {
    const c = owner('aux-address', ip);
    c.auxAddresses = { ...c.auxAddresses, [name]: ip };
  }
  // special-purpose blocks first: their message says more than "no host address" would
  for (const subnet of spec.subnets) checkSubnetUsable({ subnet });
  const checked = validateSubnetConfigs(configs).map(toSubnetConfig);
  const v6 = checked.find((s) => s.subnet.includes(':'));
  if (v6 && !spec.ipv6) throw new UserError(`IPv6 --subnet "${v6.subnet}" given without --ipv6: add --ipv6 to enable IPv6 on the network`);
  if (spec.ipv6 && !v6) throw new UserError('--ipv6 on an overlay network needs an IPv6 --subnet (the cluster picks IPv4 subnets only)');
  return checked;
}
