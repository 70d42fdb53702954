// What the cluster store keeps in etcd, and the checks every record passes before it is written.
// Records are JSON; addresses are canonical text so equal values compare equal across hosts.
import { UserError } from '../common/errors.js';
import { parseAddress, type SubnetConfig } from '../ipam/index.js';
import { checkNewNetwork } from './records.js';
import { checkHostId } from './cluster-keys.js';
import { newId, type NetworkRecord } from './store.js';

/** An overlay network as every host sees it: the local NetworkRecord shape plus its VNI. */
export interface ClusterNetworkRecord extends NetworkRecord {
  vni: number;
  /** Host id of the daemon that created it. */
  createdBy: string;
}

/** What createNetwork takes. Without subnets, an IPv4 /24 from 10.0.0.0/8 is picked (as Swarm does). */
export interface NewClusterNetwork {
  name: string;
  id?: string;
  subnets?: SubnetConfig[];
  /** A specific VNI (`-o vni=N`); by default the lowest free one from 4096. */
  vni?: number;
  ipv6?: boolean;
  attachable?: boolean;
  internal?: boolean;
  /** Driver options as given (`encrypted`, `mtu`…): the overlay driver interprets them. */
  options?: Record<string, string>;
  labels?: Record<string, string>;
}

/** One endpoint (container leg) on an overlay network: what remote hosts program FDB/neigh from. */
export interface ClusterEndpointRecord {
  id: string;
  networkId: string;
  /** The host whose lease keeps this record alive. */
  hostId: string;
  containerId: string;
  containerName: string;
  /** Lowercase, six hex pairs. */
  mac: string;
  /** Plain addresses (no prefix length: the network's subnets give it). */
  ipv4: string | null;
  ipv6: string | null;
  /** Underlay (or WireGuard) address of the host's VXLAN device. */
  vtep: string;
  /** DNS names besides containerName. */
  aliases: string[];
}

export type NewClusterEndpoint = Omit<ClusterEndpointRecord, 'hostId' | 'vtep' | 'aliases'> & {
  /** Defaults to the host record's vtep. */
  vtep?: string;
  aliases?: string[];
};

export interface WireGuardInfo {
  /** Base64 Curve25519 public key (44 characters). The private key never leaves its host. */
  publicKey: string;
  /** Where peers send to: `IP:PORT` or `[IPv6]:PORT`. */
  endpoint: string;
  /** This host's address inside the WireGuard mesh, when encrypted VXLAN runs over it. */
  tunnelAddress?: string;
}

export interface ClusterHostRecord {
  id: string;
  /** The address other hosts reach this one at (--advertise-addr). */
  advertiseAddress: string;
  /** Source/destination address of plain VXLAN traffic; the advertise address unless set. */
  vtep: string;
  wireguard: WireGuardInfo | null;
  /** ISO 8601 time of the last registration. */
  updated: string;
}

export interface HostRegistration {
  advertiseAddress: string;
  vtep?: string;
  wireguard?: WireGuardInfo | null;
}

/** The value of an ipam/<network>/<address> key: who holds the address. */
export interface AllocationRecord {
  /** Usually an endpoint id; any OWNER-shaped string the caller uses consistently. */
  owner: string;
  hostId: string;
}

export interface ClusterAllocation extends AllocationRecord {
  networkId: string;
  address: string;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const HEX_ID = /^[0-9a-f]{64}$/;
const RUNTIME_CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
const ALIAS = /^[A-Za-z0-9_.-]{1,255}$/;
const OWNER = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const ENDPOINT_V4 = /^([0-9.]+):([0-9]{1,5})$/;
const ENDPOINT_V6 = /^\[([0-9A-Fa-f:.]+)\]:([0-9]{1,5})$/;

function check(ok: boolean, what: string, value: unknown, accepted: string): void {
  if (!ok) throw new UserError(`invalid ${what} ${JSON.stringify(value)}: ${accepted}`);
}

export function checkOwner(owner: string): string {
  check(OWNER.test(owner), 'address owner', owner, "expected an endpoint id or another name of [A-Za-z0-9_.:-] (at most 128)");
  return owner;
}

/** Validate a new overlay network into its record (without the VNI, which the store assigns). */
export function checkNewClusterNetwork(n: NewClusterNetwork, subnets: SubnetConfig[], hostId: string): Omit<ClusterNetworkRecord, 'vni'> {
  const record = checkNewNetwork({
    id: n.id ?? newId(),
    name: n.name,
    driver: 'overlay',
    scope: 'swarm',
    options: n.options ?? {},
    labels: n.labels ?? {},
    internal: n.internal ?? false,
    attachable: n.attachable ?? false,
    ipv6: n.ipv6 ?? subnets.some((s) => s.subnet.includes(':')),
    interfaceName: null,
    subnets,
  });
  if (record.subnets.length === 0) throw new UserError(`overlay network ${record.name} needs at least one subnet`);
  return { ...record, createdBy: checkHostId(hostId) };
}

function plainAddress(text: string | null, family: 4 | 6, what: string): string | null {
  if (text === null) return null;
  const a = parseAddress(text, what);
  if (a.family !== family) throw new UserError(`invalid ${what} ${JSON.stringify(text)}: expected an IPv${family} address`);
  return a.text;
}

export function checkEndpointRecord(e: NewClusterEndpoint, hostId: string, hostVtep: string): ClusterEndpointRecord {
  check(HEX_ID.test(e.id), 'endpoint id', e.id, 'expected 64 lowercase hex digits');
  check(HEX_ID.test(e.networkId), 'network id', e.networkId, 'expected 64 lowercase hex digits');
  check(RUNTIME_CONTAINER_ID.test(e.containerId), 'container id', e.containerId, "expected letters, digits, '_', '.', '-'");
  check(CONTAINER_NAME.test(e.containerName), 'container name', e.containerName,
    "use 1-128 letters, digits, '_', '.', '-', starting with a letter or digit");
  const mac = e.mac.toLowerCase();
  check(MAC.test(mac), 'MAC address', e.mac, 'expected six hex pairs like 02:42:0a:00:00:02');
  const aliases = e.aliases ?? [];
  for (const a of aliases) check(ALIAS.test(a), 'network alias', a, "use letters, digits, '_', '.', '-' (at most 255)");
  const ipv4 = plainAddress(e.ipv4, 4, 'endpoint IPv4 address');
  const ipv6 = plainAddress(e.ipv6, 6, 'endpoint IPv6 address');
  if (ipv4 === null && ipv6 === null) throw new UserError(`endpoint ${e.id} has no address: give an IPv4 or IPv6 address (or both)`);
  return {
    id: e.id,
    networkId: e.networkId,
    hostId,
    containerId: e.containerId,
    containerName: e.containerName,
    mac,
    ipv4,
    ipv6,
    vtep: parseAddress(e.vtep ?? hostVtep, 'VTEP address').text,
    aliases: [...aliases],
  };
}

function checkWireGuard(wg: WireGuardInfo): WireGuardInfo {
  check(WG_KEY.test(wg.publicKey), 'WireGuard public key', wg.publicKey, 'expected 44 characters of base64 (as `wg pubkey` prints)');
  const m = ENDPOINT_V4.exec(wg.endpoint) ?? ENDPOINT_V6.exec(wg.endpoint);
  const port = Number(m?.[2]);
  check(m !== null && port >= 1 && port <= 65535, 'WireGuard endpoint', wg.endpoint, 'expected IP:PORT or [IPv6]:PORT');
  const ip = parseAddress(m?.[1] ?? '', 'WireGuard endpoint address');
  const out: WireGuardInfo = { publicKey: wg.publicKey, endpoint: ip.family === 6 ? `[${ip.text}]:${port}` : `${ip.text}:${port}` };
  if (wg.tunnelAddress !== undefined) out.tunnelAddress = parseAddress(wg.tunnelAddress, 'WireGuard tunnel address').text;
  return out;
}

export function checkHostRegistration(hostId: string, r: HostRegistration): ClusterHostRecord {
  const advertiseAddress = parseAddress(r.advertiseAddress, 'advertise address').text;
  return {
    id: checkHostId(hostId),
    advertiseAddress,
    vtep: r.vtep === undefined ? advertiseAddress : parseAddress(r.vtep, 'VTEP address').text,
    wireguard: r.wireguard ? checkWireGuard(r.wireguard) : null,
    updated: new Date().toISOString(),
  };
}

/** Parse a stored JSON value; a record that is not JSON is corruption, not user input. */
export function parseStored<T>(key: string, value: Buffer | string): T {
  try {
    return JSON.parse(value.toString()) as T;
  } catch (e) {
    throw new Error(`cluster store: value of ${key} is not JSON (${(e as Error).message})`);
  }
}
