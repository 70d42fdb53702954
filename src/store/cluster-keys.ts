// Where cluster-scope records live in etcd. Pure: names only, no I/O.
//
//   <prefix>/networks/id/<network id>          network record (JSON)
//   <prefix>/networks/name/<name>              network id: the name index, taken by transaction
//   <prefix>/vnis/<vni, 8 digits>              network id: one VNI per network cluster-wide
//   <prefix>/ipam/<network id>/<address>       {owner, hostId}: one key per allocated address
//   <prefix>/endpoints/<network id>/<ep id>    endpoint record, under its host's lease
//   <prefix>/hosts/<host id>                   host record, under its own lease
//   <prefix>/wireguard/tunnel/<address>        {owner, hostId}: a host's WireGuard tunnel address (not leased)
//   <prefix>/config/tunnel-subnet              "CIDR": the cluster's WireGuard tunnel subnet, written once
//
// The default prefix carries a layout version, so a later layout can live beside this one.
import { UserError } from '../common/errors.js';

export const DEFAULT_CLUSTER_PREFIX = '/berth/v1';

const PREFIX_RE = /^(\/[A-Za-z0-9_.-]+)+$/;
export const HOST_ID_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** etcd keys of one network's records use its 64-hex id; names never appear in record paths. */
const HEX_ID_RE = /^[0-9a-f]{64}$/;

/** VNIs the store hands out: 4096 up (below is left to hand-made VXLANs), to the 24-bit maximum. */
export const VNI_MIN = 4096;
export const VNI_MAX = 16_777_215;

export function checkClusterPrefix(prefix: string): string {
  if (!PREFIX_RE.test(prefix)) {
    throw new UserError(`invalid cluster store prefix ${JSON.stringify(prefix)}: expected /SEGMENT[/SEGMENT…] like ${DEFAULT_CLUSTER_PREFIX}, no trailing slash`);
  }
  return prefix;
}

export function checkHostId(id: string): string {
  if (!HOST_ID_RE.test(id)) {
    throw new UserError(`invalid host id ${JSON.stringify(id)}: use 1-64 letters, digits, '_', '.', '-', starting with a letter or digit`);
  }
  return id;
}

function hexId(id: string, what: string): string {
  if (!HEX_ID_RE.test(id)) throw new UserError(`invalid ${what} ${JSON.stringify(id)}: expected 64 lowercase hex digits`);
  return id;
}

export function checkVni(vni: number, what = 'VNI'): number {
  if (!Number.isInteger(vni) || vni < VNI_MIN || vni > VNI_MAX) {
    throw new UserError(`invalid ${what} ${JSON.stringify(vni)}: expected an integer from ${VNI_MIN} to ${VNI_MAX}`);
  }
  return vni;
}

/** Zero-padded so that etcd's byte order is numeric order. */
export function vniSegment(vni: number): string {
  return String(checkVni(vni)).padStart(8, '0');
}

export function parseVniSegment(segment: string): number | undefined {
  if (!/^[0-9]{8}$/.test(segment)) return undefined;
  const vni = Number(segment);
  return vni >= VNI_MIN && vni <= VNI_MAX ? vni : undefined;
}

/** The key layout under one prefix. Every `…Prefix()` ends in '/', so `a/` never matches `ab/`. */
export class ClusterKeys {
  readonly prefix: string;

  constructor(prefix = DEFAULT_CLUSTER_PREFIX) {
    this.prefix = checkClusterPrefix(prefix);
  }

  networksPrefix(): string {
    return `${this.prefix}/networks/id/`;
  }

  network(id: string): string {
    return `${this.networksPrefix()}${hexId(id, 'network id')}`;
  }

  /** Network names are checked by the record validation before they reach a key. */
  networkName(name: string): string {
    return `${this.prefix}/networks/name/${name}`;
  }

  vnisPrefix(): string {
    return `${this.prefix}/vnis/`;
  }

  vni(vni: number): string {
    return `${this.vnisPrefix()}${vniSegment(vni)}`;
  }

  /** Every network's IPAM keys. */
  ipamRootPrefix(): string {
    return `${this.prefix}/ipam/`;
  }

  ipamPrefix(networkId: string): string {
    return `${this.prefix}/ipam/${hexId(networkId, 'network id')}/`;
  }

  /** `address` must be canonical text (ip-address's correctForm), so one address has one key. */
  ipam(networkId: string, address: string): string {
    return `${this.ipamPrefix(networkId)}${address}`;
  }

  endpointsPrefix(networkId?: string): string {
    return networkId === undefined ? `${this.prefix}/endpoints/` : `${this.prefix}/endpoints/${hexId(networkId, 'network id')}/`;
  }

  endpoint(networkId: string, endpointId: string): string {
    return `${this.endpointsPrefix(networkId)}${hexId(endpointId, 'endpoint id')}`;
  }

  hostsPrefix(): string {
    return `${this.prefix}/hosts/`;
  }

  host(hostId: string): string {
    return `${this.hostsPrefix()}${checkHostId(hostId)}`;
  }

  tunnelPrefix(): string {
    return `${this.prefix}/wireguard/tunnel/`;
  }

  /** `address` must be canonical text. */
  tunnel(address: string): string {
    return `${this.tunnelPrefix()}${address}`;
  }

  /** The cluster's WireGuard tunnel subnet (written once, by the first daemon to join). */
  tunnelSubnet(): string {
    return `${this.configPrefix()}tunnel-subnet`;
  }

  /** Cluster-wide settings. */
  configPrefix(): string {
    return `${this.prefix}/config/`;
  }

  /** The last path segment of a key under `prefix`, undefined for keys elsewhere. */
  static leaf(key: string, prefix: string): string | undefined {
    if (!key.startsWith(prefix)) return undefined;
    const rest = key.slice(prefix.length);
    return rest === '' ? undefined : rest;
  }
}

/** etcd's range end for "every key starting with prefix": the prefix with its last byte + 1. */
export function prefixRangeEnd(prefix: string | Buffer): Buffer {
  const b = Buffer.from(prefix);
  for (let i = b.length - 1; i >= 0; i--) {
    const byte = b[i] ?? 0;
    if (byte < 0xff) {
      const end = Buffer.from(b.subarray(0, i + 1));
      end[i] = byte + 1;
      return end;
    }
  }
  // All 0xff (never for our keys): etcd reads "\0" as "to the end of the keyspace".
  return Buffer.from([0]);
}
