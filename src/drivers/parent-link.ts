// Can this host interface be a network's parent (-o parent=IF: a macvlan network's lower link,
// or the NIC a NAT-free bridge takes over)? It must be an Ethernet NIC of the host's own:
// not the loopback, not a link without an Ethernet address (tun, WireGuard, ip tunnels), and
// not one of berth's own links (a network's bridge such as berth0, an endpoint's veth, a shim),
// which berth removes and rebuilds on its own. Refused as user errors (exit 1, HTTP 400),
// before anything changes, instead of failing in the kernel (exit 3).
import { UserError, quote } from '../common/errors.js';
import type { LinkInfo } from '../kernel/links.js';

/** IFLA_IFALIAS prefix of every link berth creates (networks, endpoints, shims, tunnels). */
const BERTH_ALIAS = 'berth:';

/** berthNames: interface names the store gives berth's networks (berth0, br-…), even unmarked. */
export function checkParentLink(link: LinkInfo, accepted: string, berthNames: readonly string[]): void {
  const name = quote(link.name);
  if (link.name === 'lo') throw new UserError(`-o parent=${name} is the loopback interface: ${accepted}`);
  if (link.alias?.startsWith(BERTH_ALIAS) || berthNames.includes(link.name)) {
    throw new UserError(`-o parent=${name} is one of berth's own interfaces: ${accepted}`);
  }
  if (!link.mac || link.mac === '00:00:00:00:00:00') {
    throw new UserError(`-o parent=${name} is not an Ethernet interface (${link.kind ?? 'no link kind'}, no MAC address): ${accepted}`);
  }
}
