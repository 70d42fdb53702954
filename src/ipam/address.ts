// Typed IP addresses and CIDRs. ip-address does the parsing and the network/broadcast math;
// we keep each value as a bigint range so comparisons and overlap checks are plain arithmetic.
import { Address4, Address6 } from 'ip-address';
import { UserError } from '../common/errors.js';

export type IpFamily = 4 | 6;

export interface IpAddress {
  readonly family: IpFamily;
  readonly value: bigint;
  /** Canonical text: `10.0.0.5`, `fd00::5`. Equal addresses have equal text. */
  readonly text: string;
}

export interface Cidr {
  readonly family: IpFamily;
  readonly prefix: number;
  /** Network address (first address of the block). */
  readonly first: bigint;
  /** Last address of the block (the IPv4 broadcast address). */
  readonly last: bigint;
  /** Canonical text: `10.0.0.0/24`, `fd00::/64`. */
  readonly text: string;
}

const ADDRESS_FORMS = 'an IPv4 address like 10.0.0.1 or an IPv6 address like fd00::1';
const CIDR_FORMS = 'CIDR notation ADDRESS/PREFIX like 10.0.0.0/24 or fd00::/64';

export function familyName(family: IpFamily): string {
  return family === 4 ? 'IPv4' : 'IPv6';
}

export function familyBits(family: IpFamily): number {
  return family === 4 ? 32 : 128;
}

function parseIp(text: string): Address4 | Address6 | undefined {
  // ip-address also accepts a /prefix and a %zone on an address; neither is an address here.
  if (text.includes('/') || text.includes('%')) return undefined;
  try {
    return text.includes(':') ? new Address6(text) : new Address4(text);
  } catch {
    return undefined;
  }
}

function toIpAddress(ip: Address4 | Address6): IpAddress {
  return { family: ip instanceof Address4 ? 4 : 6, value: ip.bigInt(), text: ip.correctForm() };
}

export function addressFromValue(family: IpFamily, value: bigint): IpAddress {
  return toIpAddress(family === 4 ? Address4.fromBigInt(value) : Address6.fromBigInt(value));
}

/** Parse one address. `what` names the value in errors (e.g. "gateway", "--ip"). */
export function parseAddress(text: string, what = 'address'): IpAddress {
  const ip = parseIp(text);
  if (!ip) throw new UserError(`invalid ${what} ${JSON.stringify(text)}: expected ${ADDRESS_FORMS}`);
  return toIpAddress(ip);
}

const OCTET = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const DOTTED_QUAD = new RegExp(`^${OCTET}\\.${OCTET}\\.${OCTET}\\.${OCTET}$`);

/**
 * An address's numeric value: canonical IPv4 text (what the store holds) read directly, anything
 * else through parseAddress. Why: the allocator reads every used address of a subnet per
 * allocation, and parsing each through ip-address cost ~1 ms per allocation at 1,000 (issue 16).
 */
export function addressValue(text: string, what = 'address'): bigint {
  const m = DOTTED_QUAD.exec(text);
  if (!m) return parseAddress(text, what).value;
  return BigInt(Number(m[1]) * 16777216 + Number(m[2]) * 65536 + Number(m[3]) * 256 + Number(m[4]));
}

/** The block of length `prefix` that contains `address` (host bits cleared). */
export function cidrContaining(address: IpAddress, prefix: number): Cidr {
  const text = `${address.text}/${prefix}`;
  const block = address.family === 4 ? new Address4(text) : new Address6(text);
  const first = block.startAddress();
  return {
    family: address.family,
    prefix,
    first: first.bigInt(),
    last: block.endAddress().bigInt(),
    text: `${first.correctForm()}/${prefix}`,
  };
}

/**
 * Parse a CIDR. By default host bits must be zero (`10.0.0.5/24` is rejected with a hint to use
 * `10.0.0.0/24`, as Docker does); `hostBits: 'mask'` instead returns the containing network,
 * which suits interface addresses read from the host.
 */
export function parseCidr(text: string, what = 'subnet', hostBits: 'reject' | 'mask' = 'reject'): Cidr {
  const slash = text.indexOf('/');
  const prefixText = slash < 0 ? '' : text.slice(slash + 1);
  const ip = slash < 0 ? undefined : parseIp(text.slice(0, slash));
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(prefixText)) {
    throw new UserError(`invalid ${what} ${JSON.stringify(text)}: expected ${CIDR_FORMS}`);
  }
  const address = toIpAddress(ip);
  const prefix = Number(prefixText);
  const bits = familyBits(address.family);
  if (prefix > bits) {
    throw new UserError(
      `invalid ${what} ${JSON.stringify(text)}: prefix length /${prefix} is too long; ` +
        `${familyName(address.family)} accepts /0 to /${bits}`,
    );
  }
  const cidr = cidrContaining(address, prefix);
  if (hostBits === 'reject' && cidr.first !== address.value) {
    throw new UserError(`invalid ${what} ${text}: host bits are set; it should be ${cidr.text}`);
  }
  return cidr;
}

export function cidrContains(cidr: Cidr, address: IpAddress): boolean {
  return cidr.family === address.family && cidr.first <= address.value && address.value <= cidr.last;
}

/** True when every address of `inner` is inside `outer`. */
export function cidrCovers(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.first <= inner.first && inner.last <= outer.last;
}

/** True when the two blocks share at least one address. Symmetric; false across families. */
export function cidrsOverlap(a: Cidr, b: Cidr): boolean {
  return a.family === b.family && a.first <= b.last && b.first <= a.last;
}

/** `first-last` text of an inclusive range, for messages. */
export function rangeText(family: IpFamily, first: bigint, last: bigint): string {
  return `${addressFromValue(family, first).text}-${addressFromValue(family, last).text}`;
}
