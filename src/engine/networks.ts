// Networks: the default `bridge` network and user-defined networks of every driver — create,
// list, inspect, remove, prune. What a driver makes of a network is the driver's
// (drivers/registry.ts); creating one, engine/network-create.ts.
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import type { ParentRequest } from '../drivers/driver.js';
import { DEFAULT_DRIVER, driverOf, isClusterNetwork } from '../drivers/registry.js';
import { listAddresses } from '../kernel/addresses.js';
import { AF_INET, AF_INET6, listRoutes } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import { createHash } from 'node:crypto';
import {
  DEFAULT_POOLS, firstHostAddress, parseCidr, pickFreeSubnet, validateSubnetConfigs, toSubnetConfig,
  type Cidr, type SubnetConfig,
} from '../ipam/index.js';
import type { NetworkRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { driverContext } from './driver-context.js';
import { checkSubnetUsable } from './host-subnets.js';
import { checkFilters, LIST_FILTERS, networkMatches, PRUNE_FILTERS, type NetworkFilters } from './network-filters.js';
import { removeOverlayNetworkEverywhere } from './overlay.js';
import { firewallTablesReady } from './firewall-state.js';

import { DEFAULT_BRIDGE_IFNAME } from '../drivers/bridge/spec.js';

export { createNetwork, planRequest } from './network-create.js';
export { scopeOfDriver } from '../drivers/registry.js';
export { ENDPOINT_ALIAS_PREFIX, NETWORK_ALIAS_PREFIX } from '../drivers/driver.js';
export { bridgeSpecOf, DEFAULT_BRIDGE_IFNAME, optionsOf } from '../drivers/bridge/spec.js';
export { macvlanSpecOf, macvlanStateOf, type MacvlanState } from '../drivers/macvlan/spec.js';

export const DEFAULT_NETWORK = 'bridge';
const PREDEFINED = new Set([DEFAULT_NETWORK, 'host', 'none']);
export const isPredefinedNetwork = (name: string): boolean => PREDEFINED.has(name);
/** Docker's driver names of its pre-defined host and none networks. */
const PSEUDO_DRIVERS: Record<string, string> = { host: 'host', none: 'null' };

/** Subnets already used on the host: its routes (but default routes) and addresses. */
export async function hostSubnets(engine: Engine): Promise<Cidr[]> {
  return withRtnl(engine.hostNetns, async (nl) => {
    const out: Cidr[] = [];
    for (const family of [AF_INET, AF_INET6]) {
      for (const r of await listRoutes(nl, family)) {
        if (r.dst === 'default' || r.type !== 'UNICAST' || r.dst.startsWith('fe80:')) continue;
        out.push(parseCidr(r.dst, 'route', 'mask'));
      }
    }
    for (const a of await listAddresses(nl)) {
      if (a.ip.startsWith('127.') || a.ip === '::1' || a.ip.startsWith('fe80:')) continue;
      out.push(parseCidr(a.cidr, 'address', 'mask'));
    }
    return out;
  });
}

/**
 * Where the daemon's embedded DNS listens for a network, and what its containers' resolv.conf
 * names: the gateway on a bridge network (the host holds it). On a macvlan network the gateway
 * is the LAN's router, and the containers cannot reach the host through the parent (kernel
 * semantics): DNS is served only with host_access, on the host shim's address; without it
 * containers use --dns or the host's resolvers, as on the default bridge.
 */
export function dnsAddressesOf(net: NetworkRecord): string[] {
  return driverOf(net.driver).dnsAddressesOf(net);
}

/** Make the kernel match a network record (bridge, addresses, firewall; macvlan parent, shim). Idempotent. */
export async function ensureNetworkKernel(engine: Engine, net: NetworkRecord): Promise<void> {
  const driver = driverOf(net.driver);
  // a flushed table comes back whole first: ensureBridge alone would install one holding only this
  // network; found (or put back) just now, the driver need not list it again (one nft call less per attach)
  const firewallChecked = driver.usesFirewall && firewallTablesReady(engine);
  await driver.ensureNetwork({ ...driverContext(engine), ...(firewallChecked ? { firewallChecked } : {}) }, net);
}

/** The default bridge network, created in the store and the kernel if needed. Idempotent. */
export async function ensureDefaultNetwork(engine: Engine): Promise<NetworkRecord> {
  const store = engine.store;
  let net = store.findNetwork(DEFAULT_NETWORK);
  if (!net) {
    // Docker's choice: 172.17.0.0/16 unless something on the host overlaps it
    const taken = await hostSubnets(engine);
    net = store.transaction(() => {
      const existing = store.findNetwork(DEFAULT_NETWORK);
      if (existing) return existing;
      const subnet = pickFreeSubnet(DEFAULT_POOLS, [...taken, ...networkSubnets(engine)]);
      return store.createNetwork({
        name: DEFAULT_NETWORK,
        driver: DEFAULT_DRIVER,
        scope: 'local',
        options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.name': DEFAULT_BRIDGE_IFNAME,
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
        },
        labels: {},
        internal: false,
        attachable: false,
        ipv6: false,
        interfaceName: DEFAULT_BRIDGE_IFNAME,
        subnets: [{ subnet: subnet.text, gateway: firstHostAddress(subnet).text }],
      });
    });
  }
  await ensureNetworkKernel(engine, net);
  trace('network: default ready');
  return net;
}

/** Interface names of berth's networks (bridges), also those not (yet) in the kernel. */
export function berthInterfaceNames(engine: Engine): string[] {
  return [DEFAULT_BRIDGE_IFNAME, ...engine.store.listNetworks().flatMap((n) => (n.interfaceName ? [n.interfaceName] : []))];
}

export function networkSubnets(engine: Engine): Cidr[] {
  return engine.store.listNetworks().flatMap((n) => n.subnets.map((s) => parseCidr(s.subnet)));
}

export interface CreateNetworkSpec {
  name: string;
  driver: string;
  subnets: string[];
  gateways: string[];
  ipRanges: string[];
  auxAddresses: Record<string, string>;
  ipv6: boolean;
  internal: boolean;
  attachable: boolean;
  options: Record<string, string>;
  labels: Record<string, string>;
}

/** Pair --gateway and --ip-range with their --subnet (the one that contains them), as Docker does. */
function subnetConfigs(spec: CreateNetworkSpec): SubnetConfig[] {
  const configs: SubnetConfig[] = spec.subnets.map((subnet) => ({ subnet }));
  const owner = (what: string, value: string, field: 'gateway' | 'ipRange') => {
    const probe = field === 'ipRange' ? parseCidr(value, 'ip-range') : parseCidr(`${value}/${value.includes(':') ? 128 : 32}`, 'gateway');
    const c = configs.find((cfg) => {
      const s = parseCidr(cfg.subnet);
      return s.family === probe.family && probe.first >= s.first && probe.last <= s.last;
    });
    if (!c) throw new UserError(`${what} "${value}" is not inside any --subnet (${spec.subnets.join(', ') || 'none given'})`);
    if (c[field] !== undefined) throw new UserError(`two ${what}s for subnet ${c.subnet}: give at most one per subnet`);
    c[field] = value;
  };
  for (const g of spec.gateways) owner('gateway', g, 'gateway');
  for (const r of spec.ipRanges) owner('ip-range', r, 'ipRange');
  for (const [name, ip] of Object.entries(spec.auxAddresses)) {
    const probe = parseCidr(`${ip}/${ip.includes(':') ? 128 : 32}`, 'aux-address');
    const c = configs.find((cfg) => {
      const s = parseCidr(cfg.subnet);
      return s.family === probe.family && probe.first >= s.first && probe.last <= s.last;
    });
    if (!c) throw new UserError(`aux-address ${name}=${ip} is not inside any --subnet`);
    c.auxAddresses = { ...c.auxAddresses, [name]: ip };
  }
  return configs;
}

/** The --subnet/--gateway/--ip-range/--aux-address configs, checked; IPv6 ones need --ipv6. */
export function explicitSubnets(spec: CreateNetworkSpec): SubnetConfig[] {
  // special-purpose blocks first: their message says more than "no host address" would
  for (const subnet of spec.subnets) checkSubnetUsable({ subnet });
  const explicit = validateSubnetConfigs(subnetConfigs(spec)).map(toSubnetConfig);
  const v6given = explicit.find((s) => s.subnet.includes(':'));
  if (v6given && !spec.ipv6) throw new UserError(`IPv6 --subnet "${v6given.subnet}" given without --ipv6: add --ipv6 to enable IPv6 on the network`);
  return explicit;
}

export async function removeNetworkKernel(engine: Engine, net: NetworkRecord): Promise<void> {
  await driverOf(net.driver).removeNetwork(driverContext(engine), net);
}

/** Why another network's use of a host NIC keeps `request` from taking it, as a ConflictError to throw. */
export function parentConflict(engine: Engine, request: ParentRequest): ConflictError | undefined {
  for (const other of engine.store.listNetworks()) {
    const why = driverOf(other.driver).parentConflict(other, request);
    if (why) return new ConflictError(why);
  }
  return undefined;
}

/**
 * Docker's pre-defined `host` and `none` networks, for Docker-shaped lists and inspects: berth
 * keeps no record of them (they are sandbox modes, not networks with kernel objects), so their
 * ids derive from the default network's, stable for the life of a host's store.
 */
export function predefinedPseudoNetworks(engine: Engine, defaultNet: NetworkRecord): NetworkRecord[] {
  return Object.entries(PSEUDO_DRIVERS).map(([name, driver]) => ({
    id: createHash('sha256').update(`berth:${name}:${defaultNet.id}`).digest('hex'),
    name,
    driver,
    scope: 'local',
    created: defaultNet.created,
    options: {},
    labels: {},
    internal: false,
    attachable: false,
    ipv6: false,
    interfaceName: null,
    subnets: [],
  }));
}

/** Networks as Docker lists them (host and none included), filtered by Docker's network filters. */
export async function listNetworksFiltered(engine: Engine, filters: NetworkFilters, opts: { predefined: boolean }): Promise<NetworkRecord[]> {
  checkFilters(filters, LIST_FILTERS);
  const def = await ensureDefaultNetwork(engine);
  const all = [...engine.store.listNetworks(), ...(opts.predefined ? predefinedPseudoNetworks(engine, def) : [])];
  return all.filter((n) => networkMatches(n, { inUse: engine.store.listEndpoints({ networkId: n.id }).length > 0 }, filters));
}

/** A network by name, id or unique id prefix, host and none included (for Docker-shaped inspect). */
export async function findListedNetwork(engine: Engine, ref: string): Promise<NetworkRecord> {
  // host and none take their ids from the default network, as they are listed
  if (PREDEFINED.has(ref)) await ensureDefaultNetwork(engine);
  const own = engine.store.findNetwork(ref);
  if (own) return own;
  const def = engine.store.findNetwork(DEFAULT_NETWORK);
  const pseudo = def ? predefinedPseudoNetworks(engine, def).find((p) => p.name === ref || p.id === ref || (ref.length >= 1 && p.id.startsWith(ref))) : undefined;
  if (pseudo) return pseudo;
  return getNetwork(engine, ref);
}

export function getNetwork(engine: Engine, ref: string): NetworkRecord {
  const net = engine.store.findNetwork(ref);
  if (!net) throw new NotFoundError(`network "${ref}" not found (give a name, a full id or a unique id prefix)`);
  return net;
}

/** Remove a user-defined network; refused while containers are attached (they are named). */
export async function removeNetwork(engine: Engine, ref: string): Promise<NetworkRecord> {
  const store = engine.store;
  if (!store.findNetwork(ref)) {
    // host and none, by name or by the id the API lists them with
    const def = store.findNetwork(DEFAULT_NETWORK);
    const pseudo = ref in PSEUDO_DRIVERS ? ref : def && predefinedPseudoNetworks(engine, def).find((p) => p.id.startsWith(ref))?.name;
    if (pseudo) throw new ConflictError(`"${pseudo}" is a pre-defined network and cannot be removed`);
  }
  const net = getNetwork(engine, ref);
  if (net.name === DEFAULT_NETWORK) throw new ConflictError(`"${DEFAULT_NETWORK}" is a pre-defined network and cannot be removed`);
  if (isClusterNetwork(net)) return removeOverlayNetworkEverywhere(engine, net);
  const attached = store.listEndpoints({ networkId: net.id });
  if (attached.length) {
    const names = attached.map((e) => store.findContainer(e.containerId)?.name ?? e.containerId.slice(0, 12));
    throw new ConflictError(`network "${net.name}" has active endpoints (${names.join(', ')}): disconnect or remove them first`);
  }
  await removeNetworkKernel(engine, net);
  store.deleteNetwork(net.id);
  return net;
}

/** Remove every user-defined network without endpoints that passes the filters (until, label, label!); returns them. */
export async function pruneNetworks(engine: Engine, filters: NetworkFilters = {}): Promise<NetworkRecord[]> {
  // bad filters delete nothing
  checkFilters(filters, PRUNE_FILTERS);
  const now = Date.now();
  const removed: NetworkRecord[] = [];
  for (const net of engine.store.listNetworks()) {
    // overlay networks belong to the cluster: removed with `network rm` only
    if (net.name === DEFAULT_NETWORK || isClusterNetwork(net) || engine.store.listEndpoints({ networkId: net.id }).length) continue;
    if (!networkMatches(net, { inUse: false }, filters, now)) continue;
    removed.push(await removeNetwork(engine, net.id));
  }
  return removed;
}

/** `docker network inspect` shape. */
export function inspectNetwork(engine: Engine, net: NetworkRecord): Record<string, unknown> {
  const store = engine.store;
  const containers: Record<string, unknown> = {};
  for (const ep of store.listEndpoints({ networkId: net.id })) {
    const c = store.findContainer(ep.containerId);
    containers[ep.containerId] = {
      // a CNI sandbox: the runtime's name for it (K8S_POD_NAME or its first alias), else its CNI id
      Name: c?.name ?? ep.aliases[0] ?? ep.containerId,
      EndpointID: ep.id,
      MacAddress: ep.mac ?? '',
      IPv4Address: ep.addresses.find((a) => !a.includes(':')) ?? '',
      IPv6Address: ep.addresses.find((a) => a.includes(':')) ?? '',
    };
  }
  return {
    Name: net.name,
    Id: net.id,
    Created: net.created,
    Scope: net.scope,
    Driver: net.driver,
    EnableIPv4: true,
    EnableIPv6: net.ipv6,
    IPAM: {
      Driver: 'default',
      Options: null,
      Config: net.subnets.map((s) => ({
        Subnet: s.subnet,
        ...(s.ipRange ? { IPRange: s.ipRange } : {}),
        ...(s.gateway ? { Gateway: s.gateway } : {}),
        ...(s.auxAddresses && Object.keys(s.auxAddresses).length ? { AuxiliaryAddresses: s.auxAddresses } : {}),
      })),
    },
    Internal: net.internal,
    Attachable: net.attachable,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: net.options,
    Labels: net.labels,
  };
}
