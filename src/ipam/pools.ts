// Choosing a subnet when the user gave none: Docker's default address pools for IPv4, a random
// unique-local /64 for IPv6.
import { randomBytes } from 'node:crypto';
import { UserError } from '../common/errors.js';
import { addressFromValue, cidrContaining, cidrsOverlap, familyBits, familyName, parseCidr, type Cidr } from './address.js';

/** `base` is carved into subnets of prefix length `size` (Docker's default-address-pools). */
export interface AddressPool {
  readonly base: Cidr;
  readonly size: number;
}

export function parseAddressPool(base: string, size: number): AddressPool {
  const cidr = parseCidr(base, 'address pool base');
  if (!Number.isInteger(size) || size < cidr.prefix || size > familyBits(cidr.family)) {
    throw new UserError(
      `invalid address pool size ${size} for base ${cidr.text}: use a prefix length from ${cidr.prefix} to ${familyBits(cidr.family)}`,
    );
  }
  return { base: cidr, size };
}

/** Docker's defaults: 172.17.0.0/16 … 172.31.0.0/16, then 192.168.0.0/16 as /20s. */
export const DEFAULT_POOLS: readonly AddressPool[] = [
  ...Array.from({ length: 15 }, (_, i) => parseAddressPool(`172.${17 + i}.0.0/16`, 16)),
  parseAddressPool('192.168.0.0/16', 20),
];

/**
 * The first subnet of the pools, in order, that overlaps nothing in `taken` (host routes and
 * addresses, subnets of existing networks). The caller must leave the default route out of
 * `taken`: it overlaps everything. Cost grows with pools × taken, not with the pool sizes.
 */
export function pickFreeSubnet(pools: readonly AddressPool[], taken: Iterable<Cidr>): Cidr {
  const takenList = [...taken];
  for (const { base, size } of pools) {
    let start = base.first;
    while (start <= base.last) {
      const candidate = cidrContaining(addressFromValue(base.family, start), size);
      const clashes = takenList.filter((t) => cidrsOverlap(t, candidate));
      if (clashes.length === 0) return candidate;
      // Skip every candidate the clashes cover: resume at the block after the one holding their end.
      const clashEnd = clashes.reduce((end, t) => (t.last > end ? t.last : end), candidate.last);
      const lastBlock = cidrContaining(addressFromValue(base.family, clashEnd), size);
      start = lastBlock.last + 1n;
    }
  }
  const family = familyName(pools[0]?.base.family ?? 4);
  throw new UserError(
    `could not find an available, non-overlapping ${family} address pool among the defaults to assign to the network; ` +
      'pass --subnet with a free subnet or remove unused networks',
  );
}

/**
 * A random unique-local /64 (RFC 4193: fd00::/8, 40 random bits, subnet id 0) that overlaps
 * nothing in `taken`. `random` is injectable for tests.
 */
export function pickUlaSubnet(taken: Iterable<Cidr>, random: (size: number) => Uint8Array = randomBytes): Cidr {
  const takenList = [...taken];
  const tries = 16;
  for (let i = 0; i < tries; i++) {
    const hex = Buffer.from(random(5)).toString('hex');
    const candidate = parseCidr(`fd${hex.slice(0, 2)}:${hex.slice(2, 6)}:${hex.slice(6, 10)}::/64`, 'ULA subnet');
    if (!takenList.some((t) => cidrsOverlap(t, candidate))) return candidate;
  }
  throw new UserError(
    `could not find a free IPv6 unique-local /64 in ${tries} random tries; pass --subnet with an IPv6 subnet`,
  );
}
