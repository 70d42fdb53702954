// The WireGuard tunnel subnet of encrypted overlays: one cluster-wide value (each host claims its
// tunnel address in it), written once in the cluster store by the first daemon that joins, with a
// copy in each host's local store so that every render of berth's firewall (daemon or CLI, etcd
// up or not) guards the same block. Default 198.18.0.0/15's first half: reserved for benchmarking
// (RFC 2544), routed on no production network, outside the overlay pool 10.0.0.0/8 and Docker's
// local pools. `berth daemon --tunnel-subnet CIDR` picks another for a new cluster.
import { UserError, quote } from '../../common/errors.js';
import { cidrContains, cidrsOverlap, parseAddress, parseCidr, type Cidr } from '../../ipam/index.js';

export const DEFAULT_TUNNEL_SUBNET = '198.18.0.0/16';
/** key of the local copy in the host's store */
export const TUNNEL_SUBNET_SETTING = 'tunnel-subnet';
/** widest and narrowest accepted blocks: a /24 leaves room for 254 hosts */
const MIN_PREFIX = 8;
const MAX_PREFIX = 24;
/** where the cluster picks overlay subnets when none is given (store/cluster-alloc.ts) */
const OVERLAY_POOL = '10.0.0.0/8';
const ACCEPTED = `accepted: an IPv4 block in CIDR notation with a prefix length from /${MIN_PREFIX} to /${MAX_PREFIX} (room for the hosts) and no host bits set, outside every berth network's subnet, the overlay address pool ${OVERLAY_POOL} and the advertise address, e.g. ${DEFAULT_TUNNEL_SUBNET} (the default)`;

/** The value's own shape: an IPv4 CIDR with room for the hosts. Returns the canonical text. */
export function parseTunnelSubnet(raw: string, what = '--tunnel-subnet'): string {
  const bad = (problem: string) => new UserError(`invalid ${what} ${quote(raw)}: ${problem}; ${ACCEPTED}`);
  let cidr: Cidr;
  try {
    cidr = parseCidr(raw.trim(), what);
  } catch (err) {
    throw bad((err as Error).message.replace(/^invalid [^:]*: /, ''));
  }
  if (cidr.family !== 4) throw bad('it is not IPv4 (the tunnel addresses carry IPv4 VXLAN)');
  if (cidr.prefix < MIN_PREFIX) throw bad(`prefix length /${cidr.prefix} is too wide`);
  if (cidr.prefix > MAX_PREFIX) throw bad(`prefix length /${cidr.prefix} leaves room for too few hosts`);
  return cidr.text;
}

/** Refuse a tunnel subnet that overlaps a network's subnet, the overlay pool or the advertise address. */
export function checkTunnelSubnetFree(subnet: string, clash: { networks: readonly { name: string; subnets: readonly string[] }[]; advertiseAddress?: string }, what = '--tunnel-subnet'): void {
  const cidr = parseCidr(subnet, what);
  const bad = (problem: string) => new UserError(`invalid ${what} ${quote(subnet)}: ${problem}; ${ACCEPTED}`);
  if (cidrsOverlap(cidr, parseCidr(OVERLAY_POOL))) throw bad(`it overlaps the overlay address pool ${OVERLAY_POOL}`);
  for (const n of clash.networks) {
    for (const s of n.subnets) {
      if (!s.includes(':') && cidrsOverlap(cidr, parseCidr(s, 'subnet', 'mask'))) throw bad(`it overlaps subnet ${s} of network ${quote(n.name)}`);
    }
  }
  const a = clash.advertiseAddress;
  if (a !== undefined && cidrContains(cidr, parseAddress(a))) throw bad(`it holds the advertise address ${a}`);
}

/** True when address is inside the tunnel subnet. */
export function inTunnelSubnet(subnet: string, address: string): boolean {
  try {
    return cidrContains(parseCidr(subnet), parseAddress(address));
  } catch {
    return false;
  }
}
