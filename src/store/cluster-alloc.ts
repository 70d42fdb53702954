// Choosing values that must be unique across the cluster: VNIs, overlay subnets, addresses.
// Pure: the caller reads what is taken, picks here, then claims the pick with a
// compare-and-swap and picks again if another host got there first.
import { ConflictError, UserError } from '../common/errors.js';
import {
  allocateAddress,
  cidrContains,
  cidrsOverlap,
  parseAddress,
  parseAddressPool,
  parseCidr,
  pickFreeSubnet,
  pickUlaSubnet,
  validateSubnetConfig,
  type AddressPool,
  type Cidr,
  type SubnetConfig,
  type Subnet,
} from '../ipam/index.js';
import { VNI_MAX, VNI_MIN, checkVni } from './cluster-keys.js';
import type { ClusterNetworkRecord } from './cluster-records.js';

/** Swarm's default address pool for overlay networks: /24s of 10.0.0.0/8. */
export const OVERLAY_POOLS: readonly AddressPool[] = [parseAddressPool('10.0.0.0/8', 24)];

/** The lowest VNI from 4096 that is not in `used`. */
export function pickVni(used: Iterable<number>): number {
  const taken = new Set(used);
  for (let vni = VNI_MIN; vni <= VNI_MAX; vni++) if (!taken.has(vni)) return vni;
  throw new UserError(`no free VNI: all ${VNI_MAX - VNI_MIN + 1} VNIs from ${VNI_MIN} to ${VNI_MAX} are in use; remove unused overlay networks`);
}

/** Check a requested VNI (`-o vni=N`) against the ones in use; `holder` names who has it. */
export function checkRequestedVni(vni: number, holder: string | undefined): number {
  checkVni(vni);
  if (holder !== undefined) throw new ConflictError(`VNI ${vni} is already used by overlay network ${holder}; choose another or omit it`);
  return vni;
}

/**
 * The subnets of a new overlay network: the given ones must not overlap another overlay network's
 * (every host routes them all); without an IPv4 subnet, a free /24 of 10.0.0.0/8 is chosen; with
 * ipv6 and no IPv6 subnet, a random unique-local /64.
 */
export function chooseSubnets(
  requested: readonly SubnetConfig[],
  ipv6: boolean,
  existing: readonly Pick<ClusterNetworkRecord, 'name' | 'subnets'>[],
): SubnetConfig[] {
  const taken: { cidr: Cidr; network: string }[] = existing.flatMap((n) =>
    n.subnets.map((s) => ({ cidr: parseCidr(s.subnet), network: n.name })),
  );
  const out: SubnetConfig[] = requested.map((s) => ({ ...s }));
  for (const s of out) {
    const cidr = parseCidr(s.subnet, 'subnet');
    const clash = taken.find((t) => cidrsOverlap(t.cidr, cidr));
    if (clash) {
      throw new ConflictError(`subnet ${cidr.text} overlaps ${clash.cidr.text} of overlay network ${clash.network}; choose a disjoint subnet`);
    }
  }
  const families = new Set(out.map((s) => (s.subnet.includes(':') ? 6 : 4)));
  if (!families.has(4)) out.unshift({ subnet: pickFreeSubnet(OVERLAY_POOLS, taken.map((t) => t.cidr)).text });
  if (ipv6 && !families.has(6)) out.push({ subnet: pickUlaSubnet(taken.map((t) => t.cidr)).text });
  return out;
}

export interface AddressRequest {
  /** A static address (`--ip`/`--ip6`). */
  address?: string;
  /** Which subnet (CIDR text) to draw from; default the first of `family`. */
  subnet?: string;
  /** Default 4. Ignored when `address` or `subnet` says. */
  family?: 4 | 6;
}

/** The checked subnet of `network` an allocation draws from. */
export function subnetFor(network: Pick<ClusterNetworkRecord, 'name' | 'subnets'>, request: AddressRequest = {}): Subnet {
  const subnets = network.subnets.map(validateSubnetConfig);
  const list = () => subnets.map((s) => s.cidr.text).join(', ') || 'none';
  if (request.subnet !== undefined) {
    const want = parseCidr(request.subnet, 'subnet');
    const s = subnets.find((x) => x.cidr.text === want.text);
    if (!s) throw new UserError(`network ${network.name} has no subnet ${want.text}; its subnets are ${list()}`);
    return s;
  }
  if (request.address !== undefined) {
    const a = parseAddress(request.address, 'requested address');
    const s = subnets.find((x) => cidrContains(x.cidr, a));
    if (!s) throw new UserError(`requested address ${a.text} is in no subnet of network ${network.name}; its subnets are ${list()}`);
    return s;
  }
  const family = request.family ?? 4;
  const s = subnets.find((x) => x.cidr.family === family);
  if (!s) throw new UserError(`network ${network.name} has no IPv${family} subnet; its subnets are ${list()}`);
  return s;
}

/** The address to claim: the requested one if free and allowed, else the lowest free one. */
export function pickAddress(subnet: Subnet, used: Iterable<string>, requested?: string): string {
  return allocateAddress(subnet, used, requested).text;
}
