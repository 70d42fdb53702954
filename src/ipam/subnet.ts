// A network's subnet as the user writes it (SubnetConfig, Docker's IPAM.Config) and as it is
// used once checked (Subnet). SubnetConfig is plain strings so it can be stored as JSON.
import { UserError } from '../common/errors.js';
import {
  addressFromValue,
  cidrContains,
  cidrCovers,
  cidrsOverlap,
  familyName,
  parseAddress,
  parseCidr,
  rangeText,
  type Cidr,
  type IpAddress,
} from './address.js';

export interface SubnetConfig {
  subnet: string;
  gateway?: string;
  ipRange?: string;
  auxAddresses?: Record<string, string>;
}

export interface Subnet {
  readonly cidr: Cidr;
  readonly gateway: IpAddress;
  /** Where dynamic addresses come from; the whole subnet when undefined. */
  readonly ipRange: Cidr | undefined;
  readonly auxAddresses: ReadonlyMap<string, IpAddress>;
}

const AUX_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/**
 * Addresses of the subnet itself that are never handed out, as Docker's IPAM does: the network
 * address (IPv4 blocks larger than /31, and every IPv6 block) and the IPv4 broadcast address
 * (blocks larger than /31; /31 and /32 are point-to-point, RFC 3021).
 */
export function subnetOwnAddresses(cidr: Cidr): Map<bigint, string> {
  const own = new Map<bigint, string>();
  const pointToPoint = cidr.family === 4 && cidr.prefix >= 31;
  if (!pointToPoint) own.set(cidr.first, 'the network address');
  if (cidr.family === 4 && !pointToPoint) own.set(cidr.last, 'the broadcast address');
  return own;
}

/** First and last host address: the block minus its network/broadcast address. */
function hostBounds(cidr: Cidr): [bigint, bigint] {
  const own = subnetOwnAddresses(cidr);
  return [own.has(cidr.first) ? cidr.first + 1n : cidr.first, own.has(cidr.last) ? cidr.last - 1n : cidr.last];
}

/** Lowest host address of the subnet: Docker's default gateway. */
export function firstHostAddress(cidr: Cidr): IpAddress {
  const [first, last] = hostBounds(cidr);
  if (first > last) throw new UserError(`subnet ${cidr.text} has no host address; use a shorter prefix`);
  return addressFromValue(cidr.family, first);
}

function hostRangeText(cidr: Cidr): string {
  const [first, last] = hostBounds(cidr);
  return first <= last ? rangeText(cidr.family, first, last) : 'none';
}

/** Parse an address that must be a host address of `cidr`; `what` names it in errors. */
function parseHostIn(cidr: Cidr, text: string, what: string): IpAddress {
  const address = parseAddress(text, what);
  if (address.family !== cidr.family) {
    throw new UserError(
      `${what} ${address.text} is ${familyName(address.family)} but subnet ${cidr.text} is ${familyName(cidr.family)}`,
    );
  }
  const own = subnetOwnAddresses(cidr).get(address.value);
  if (!cidrContains(cidr, address) || own) {
    const why = own ? `is ${own} of` : 'is not inside';
    throw new UserError(`${what} ${address.text} ${why} subnet ${cidr.text}; use an address in ${hostRangeText(cidr)}`);
  }
  return address;
}

/** Check one SubnetConfig and fill in the default gateway (first host address). */
export function validateSubnetConfig(config: SubnetConfig): Subnet {
  const cidr = parseCidr(config.subnet, 'subnet');
  const gateway =
    config.gateway === undefined ? firstHostAddress(cidr) : parseHostIn(cidr, config.gateway, 'gateway');

  let ipRange: Cidr | undefined;
  if (config.ipRange !== undefined) {
    ipRange = parseCidr(config.ipRange, 'ip-range');
    if (!cidrCovers(cidr, ipRange)) {
      throw new UserError(`ip-range ${ipRange.text} is not inside subnet ${cidr.text}; use a block within it`);
    }
  }

  const auxAddresses = new Map<string, IpAddress>();
  const holders = new Map<bigint, string>([[gateway.value, 'the gateway']]);
  for (const [name, text] of Object.entries(config.auxAddresses ?? {})) {
    if (!AUX_NAME.test(name)) {
      throw new UserError(
        `invalid aux-address name ${JSON.stringify(name)}: use letters, digits, '_', '.', '-' (starting with a letter or digit, at most 63)`,
      );
    }
    const address = parseHostIn(cidr, text, `aux-address ${name}`);
    const holder = holders.get(address.value);
    if (holder) throw new UserError(`aux-address ${name}=${address.text} is already ${holder} of ${cidr.text}`);
    holders.set(address.value, `aux-address ${name}`);
    auxAddresses.set(name, address);
  }
  return { cidr, gateway, ipRange, auxAddresses };
}

/** Check all subnets of one network: each valid, and no two overlapping. */
export function validateSubnetConfigs(configs: readonly SubnetConfig[]): Subnet[] {
  const subnets = configs.map(validateSubnetConfig);
  subnets.forEach((a, i) => {
    const b = subnets.slice(0, i).find((earlier) => cidrsOverlap(earlier.cidr, a.cidr));
    if (b) throw new UserError(`subnet ${a.cidr.text} overlaps subnet ${b.cidr.text} of the same network; use disjoint subnets`);
  });
  return subnets;
}

/** The normalised, storable form of a checked subnet (canonical text, gateway filled in). */
export function toSubnetConfig(subnet: Subnet): SubnetConfig {
  const config: SubnetConfig = { subnet: subnet.cidr.text, gateway: subnet.gateway.text };
  if (subnet.ipRange) config.ipRange = subnet.ipRange.text;
  config.auxAddresses = Object.fromEntries([...subnet.auxAddresses].map(([name, ip]) => [name, ip.text]));
  return config;
}
