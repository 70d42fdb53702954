// Picking an address for an endpoint. Order: the lowest free address of the ip-range (or of the
// subnet when there is no range). Docker instead continues after the last address it handed out;
// lowest-free is simpler, needs no extra state, and reuses released addresses first.
// Cost grows with the number of used addresses, never with the size of the subnet.
import { ConflictError, UserError } from '../common/errors.js';
import { addressFromValue, addressValue, cidrContains, familyName, parseAddress, type IpAddress } from './address.js';
import { subnetOwnAddresses, type Subnet } from './subnet.js';

/** Every address never handed out, with the reason: network/broadcast, gateway, aux addresses. */
export function reservedAddresses(subnet: Subnet): Map<bigint, string> {
  const reserved = subnetOwnAddresses(subnet.cidr);
  reserved.set(subnet.gateway.value, 'the gateway');
  for (const [name, address] of subnet.auxAddresses) reserved.set(address.value, `aux-address ${name}`);
  return reserved;
}

/** The inclusive value range dynamic allocation draws from. */
function pool(subnet: Subnet): { first: bigint; last: bigint; text: string } {
  return subnet.ipRange ?? subnet.cidr;
}

/** How many addresses dynamic allocation can hand out when nothing is in use. */
export function allocatableCount(subnet: Subnet): bigint {
  const { first, last } = pool(subnet);
  let reservedInPool = 0n;
  for (const value of reservedAddresses(subnet).keys()) if (first <= value && value <= last) reservedInPool++;
  return last - first + 1n - reservedInPool;
}

function toAddress(address: string | IpAddress, what: string): IpAddress {
  return typeof address === 'string' ? parseAddress(address, what) : address;
}

function valueOf(address: string | IpAddress, what: string): bigint {
  return typeof address === 'string' ? addressValue(address, what) : address.value;
}

function compareBigInt(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function nextFreeAddress(subnet: Subnet, used: Iterable<string | IpAddress>): IpAddress {
  const { first, last, text } = pool(subnet);
  const taken = new Set(reservedAddresses(subnet).keys());
  for (const u of used) taken.add(valueOf(u, 'used address'));

  // Walk the taken values in order; the first gap at or after `first` is the answer.
  const sorted = [...taken].filter((v) => first <= v && v <= last).sort(compareBigInt);
  let candidate = first;
  for (const value of sorted) {
    if (value > candidate) break;
    if (value === candidate) candidate++;
  }
  if (candidate > last) {
    const count = allocatableCount(subnet);
    throw new UserError(
      `no free address in ${subnet.cidr.text} (range ${text}): all ${count} allocatable addresses are in use; ` +
        'use a larger subnet or ip-range, or release addresses',
    );
  }
  return addressFromValue(subnet.cidr.family, candidate);
}

function checkRequestedAddress(subnet: Subnet, used: Iterable<string | IpAddress>, requested: IpAddress): IpAddress {
  const { cidr } = subnet;
  if (requested.family !== cidr.family) {
    throw new UserError(
      `requested address ${requested.text} is ${familyName(requested.family)} but subnet ${cidr.text} is ${familyName(cidr.family)}`,
    );
  }
  if (!cidrContains(cidr, requested)) {
    throw new UserError(`requested address ${requested.text} is not inside subnet ${cidr.text}; use an address within it`);
  }
  const reason = reservedAddresses(subnet).get(requested.value);
  if (reason) {
    throw new UserError(`requested address ${requested.text} is ${reason} of ${cidr.text}; choose another address`);
  }
  for (const u of used) {
    if (valueOf(u, 'used address') === requested.value) {
      throw new ConflictError(`requested address ${requested.text} is already in use in ${cidr.text}`);
    }
  }
  return requested;
}

/**
 * Pick an address in `subnet` that is neither reserved nor in `used`. With `requested` (a static
 * address, e.g. `--ip`), check that one instead: it may lie outside the ip-range, as in Docker,
 * but must be inside the subnet, not reserved and not in use.
 */
export function allocateAddress(
  subnet: Subnet,
  used: Iterable<string | IpAddress>,
  requested?: string | IpAddress,
): IpAddress {
  return requested === undefined
    ? nextFreeAddress(subnet, used)
    : checkRequestedAddress(subnet, used, toAddress(requested, 'requested address'));
}
