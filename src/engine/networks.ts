// Networks: the default `bridge` network and user-defined bridge networks — create, list,
// inspect, remove, prune — and what each means for the bridge driver.
import { ConflictError, NotFoundError, SystemError, UserError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import { adoptParent, releaseParent, type ParentState } from '../drivers/bridge/bridge-parent.js';
import { ensureBridge, removeBridge, type BridgeSpec } from '../drivers/bridge/bridge.js';
import { ensureMacvlanNetwork, removeMacvlanNetwork, type MacvlanCreatedParent, type MacvlanNetworkSpec } from '../drivers/macvlan/macvlan.js';
import { listAddresses } from '../kernel/addresses.js';
import { probeKernelFeatures } from '../kernel/features.js';
import { findLink, listLinks, type MacvlanMode } from '../kernel/links.js';
import { AF_INET, AF_INET6, listRoutes } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import { createHash } from 'node:crypto';
import { checkNetworkName } from '../common/network-name.js';
import {
  DEFAULT_POOLS, firstHostAddress, parseCidr, pickFreeSubnet, pickUlaSubnet, validateSubnetConfigs, toSubnetConfig,
  type Cidr, type SubnetConfig,
} from '../ipam/index.js';
import type { NetworkRecord } from '../store/store.js';
import { newId } from '../store/store.js';
import type { Engine } from './context.js';
import { checkParentLink } from './parent-link.js';
import { checkAgainstHost, checkSubnetUsable, hostUsedSubnets } from './host-subnets.js';
import { checkLabels } from './metadata-limits.js';
import { canonicalMacvlanOptions, macvlanOptions } from './macvlan-options.js';
import { checkFilters, LIST_FILTERS, networkMatches, PRUNE_FILTERS, type NetworkFilters } from './network-filters.js';
import { bridgeOptions, canonicalOptions, type BridgeOptions } from './network-options.js';
import { createOverlayNetwork, ensureOverlayKernel, removeOverlayNetworkEverywhere } from './overlay.js';
import { restoreFirewallIfMissing } from './firewall-state.js';

export const DEFAULT_NETWORK = 'bridge';
/** IFLA_IFALIAS prefixes that mark berth's links (bridge of a network, host side of an endpoint). */
export const NETWORK_ALIAS_PREFIX = 'berth:network:';
export const ENDPOINT_ALIAS_PREFIX = 'berth:endpoint:';
export const DEFAULT_BRIDGE_IFNAME = 'berth0';
const PREDEFINED = new Set([DEFAULT_NETWORK, 'host', 'none']);
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

export function optionsOf(net: NetworkRecord): BridgeOptions {
  return bridgeOptions(net.options, net.internal);
}

export function bridgeSpecOf(net: NetworkRecord): BridgeSpec {
  const o = optionsOf(net);
  const v4 = net.subnets.filter((s) => !s.subnet.includes(':'));
  const v6 = net.subnets.filter((s) => s.subnet.includes(':'));
  const nat = (mode: string) => o.masquerade && !net.internal && !o.parent && (mode === 'nat' || mode === 'nat-unprotected');
  const gatewayOf = (s: SubnetConfig) => `${s.gateway ?? firstHostAddress(parseCidr(s.subnet)).text}/${s.subnet.split('/')[1]}`;
  // no gateway address on the bridge: gateway mode isolated, or a NAT-free bridge (the LAN's router is the gateway)
  const gateways = o.parent ? [] : [
    ...(o.gatewayModeIpv4 === 'isolated' ? [] : v4.map(gatewayOf)),
    ...(o.gatewayModeIpv6 === 'isolated' ? [] : v6.map(gatewayOf)),
  ];
  return {
    ifname: net.interfaceName ?? DEFAULT_BRIDGE_IFNAME,
    gateways,
    nat4: nat(o.gatewayModeIpv4) ? v4.map((s) => s.subnet) : [],
    nat6: nat(o.gatewayModeIpv6) ? v6.map((s) => s.subnet) : [],
    internal: net.internal,
    // one inbound policy per bridge: the most open of the two families' modes wins
    inbound: [o.gatewayModeIpv4, o.gatewayModeIpv6].includes('nat-unprotected')
      ? 'nat-unprotected'
      : [o.gatewayModeIpv4, o.gatewayModeIpv6].includes('routed') ? 'routed' : 'nat',
    ...(o.mtu ? { mtu: o.mtu } : {}),
    alias: `${NETWORK_ALIAS_PREFIX}${net.id}`,
    subnets: net.subnets.map((s) => s.subnet),
  };
}

/** What a macvlan network's driver made and keeps in the record's state. */
export interface MacvlanState {
  parent: string;
  createdParent?: MacvlanCreatedParent;
  shim?: { ifname: string; addresses: string[] };
}

export function macvlanStateOf(net: NetworkRecord): MacvlanState {
  const st = net.state?.macvlan as MacvlanState | undefined;
  if (!st) throw new SystemError(`macvlan network "${net.name}" has no driver state in the store`);
  return st;
}

export function macvlanSpecOf(net: NetworkRecord): MacvlanNetworkSpec & { mode: MacvlanMode } {
  const o = macvlanOptions(net.options);
  const st = macvlanStateOf(net);
  return {
    parent: st.parent,
    mode: o.mode,
    alias: `${NETWORK_ALIAS_PREFIX}${net.id}`,
    ...(st.createdParent ? { createdParent: st.createdParent } : {}),
    ...(st.shim ? { shim: st.shim } : {}),
    ...(o.mtu ? { mtu: o.mtu } : {}),
  };
}

/**
 * Where the daemon's embedded DNS listens for a network, and what its containers' resolv.conf
 * names: the gateway on a bridge network (the host holds it). On a macvlan network the gateway
 * is the LAN's router, and the containers cannot reach the host through the parent (kernel
 * semantics): DNS is served only with host_access, on the host shim's address; without it
 * containers use --dns or the host's resolvers, as on the default bridge.
 */
export function dnsAddressesOf(net: NetworkRecord): string[] {
  if (net.driver === 'macvlan') return (macvlanStateOf(net).shim?.addresses ?? []).map((a) => a.split('/')[0] ?? a);
  return net.subnets.map((s) => s.gateway).filter((g): g is string => g !== undefined);
}

/** Make the kernel match a network record (bridge, addresses, firewall; macvlan parent, shim). Idempotent. */
export async function ensureNetworkKernel(engine: Engine, net: NetworkRecord): Promise<void> {
  if (net.driver === 'macvlan') return ensureMacvlanNetwork(engine.hostNetns, macvlanSpecOf(net));
  // a flushed table comes back whole first: ensureBridge alone would install one holding only this network
  restoreFirewallIfMissing(engine);
  if (net.driver === 'overlay') return ensureOverlayKernel(engine, net);
  await ensureBridge(engine.hostNetns, bridgeSpecOf(net));
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
        driver: 'bridge',
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
function berthInterfaceNames(engine: Engine): string[] {
  return [DEFAULT_BRIDGE_IFNAME, ...engine.store.listNetworks().flatMap((n) => (n.interfaceName ? [n.interfaceName] : []))];
}

function networkSubnets(engine: Engine): Cidr[] {
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

const DRIVERS = ['bridge', 'macvlan', 'overlay'];

/** The --subnet/--gateway/--ip-range/--aux-address configs, checked; IPv6 ones need --ipv6. */
function explicitSubnets(spec: CreateNetworkSpec): SubnetConfig[] {
  // special-purpose blocks first: their message says more than "no host address" would
  for (const subnet of spec.subnets) checkSubnetUsable({ subnet });
  const explicit = validateSubnetConfigs(subnetConfigs(spec)).map(toSubnetConfig);
  const v6given = explicit.find((s) => s.subnet.includes(':'));
  if (v6given && !spec.ipv6) throw new UserError(`IPv6 --subnet "${v6given.subnet}" given without --ipv6: add --ipv6 to enable IPv6 on the network`);
  return explicit;
}

/**
 * A macvlan network: the record (with the driver's state: the parent, what berth made, the host
 * shim and its addresses) in one transaction, then the kernel objects; undone if the kernel fails.
 * Checked first, so that bad input changes nothing: the options, the parent (exists, or IF.VID on
 * a kernel with 802.1q), and that no other network uses that parent in a conflicting way.
 */
async function createMacvlanNetwork(engine: Engine, spec: CreateNetworkSpec): Promise<NetworkRecord> {
  const store = engine.store;
  const options = canonicalMacvlanOptions(spec.options);
  const o = macvlanOptions(options);
  const explicit = explicitSubnets(spec);
  if (o.parent && !explicit.some((s) => !s.subnet.includes(':'))) {
    throw new UserError(`-o parent=${o.parent} needs the LAN's --subnet (and its --gateway): containers on a macvlan network take addresses of the parent's LAN`);
  }
  const id = newId();
  const links = await withRtnl(engine.hostNetns, (nl) => listLinks(nl));
  let parent: string;
  let createdParent: MacvlanCreatedParent | undefined;
  if (!o.parent) {
    parent = `mv-${id.slice(0, 12)}`;
    createdParent = { kind: 'bridge' };
  } else {
    parent = o.parent;
    const link = links.find((l) => l.name === o.parent);
    if (link?.master !== undefined) {
      const master = links.find((l) => l.index === link.master)?.name ?? `#${link.master}`;
      throw new ConflictError(`parent interface "${o.parent}" is a port of ${master}: a macvlan parent cannot be enslaved to another device`);
    }
    if (link) checkParentLink(link, 'give a host Ethernet NIC (-o parent=IF), IF.VID for an 802.1q sub-interface, or no parent for an internal network', berthInterfaceNames(engine));
    if (!link && !o.vlan) {
      throw new UserError(`parent interface "${o.parent}" does not exist on this host: give an existing interface (-o parent=IF), IF.VID for an 802.1q sub-interface, or no parent for an internal network`);
    }
    if (!link && o.vlan) {
      const base = o.vlan.link;
      if (!links.some((l) => l.name === base)) {
        throw new UserError(`-o parent=${o.parent}: its base interface "${base}" does not exist on this host; give IF.VID with an existing IF`);
      }
      if (!(await probeKernelFeatures()).vlan) {
        throw new UserError(`-o parent=${o.parent} asks for an 802.1q sub-interface (VLAN ${o.vlan.vid} on ${base}), but this kernel has no 802.1q support (link kind "vlan"): give an untagged parent interface, or create ${o.parent} on a host whose kernel has 802.1q`);
      }
      createdParent = { kind: 'vlan', ...o.vlan };
    }
  }
  for (const other of store.listNetworks()) {
    if (other.driver === 'bridge' && (other.state?.parent as ParentState | undefined)?.parent === parent) {
      throw new ConflictError(`parent interface "${parent}" is taken by the NAT-free bridge network "${other.name}"`);
    }
    if (other.driver !== 'macvlan') continue;
    const st = macvlanStateOf(other);
    if (st.parent !== parent) continue;
    const theirs = macvlanOptions(other.options).mode;
    if (o.mode === 'passthru' || theirs === 'passthru') {
      throw new ConflictError(`parent interface "${parent}" is already the parent of macvlan network "${other.name}" (macvlan_mode ${theirs}): a passthru network takes its parent whole, so it shares it with no other network`);
    }
    if (st.createdParent) throw new ConflictError(`parent interface "${parent}" was created for macvlan network "${other.name}" and goes away with it: give another VLAN id`);
  }
  checkAgainstHost(explicit, await hostUsedSubnets(engine), o.parent);
  // the default network is there first and takes the first pool, as in Docker (see createNetwork)
  await ensureDefaultNetwork(engine);
  const taken = o.parent ? [] : await hostSubnets(engine);
  const record = store.transaction(() => {
    const subnets = [...explicit];
    const used = networkSubnets(engine);
    if (!subnets.some((s) => !s.subnet.includes(':'))) subnets.unshift({ subnet: pickFreeSubnet(DEFAULT_POOLS, [...taken, ...used]).text });
    if (spec.ipv6 && !subnets.some((s) => s.subnet.includes(':'))) subnets.push({ subnet: pickUlaSubnet([...taken, ...used]).text });
    const net = store.createNetwork({
      id,
      name: spec.name,
      driver: 'macvlan',
      scope: 'local',
      options,
      labels: spec.labels,
      // Docker: a macvlan network without a parent is internal
      internal: spec.internal || !o.parent,
      attachable: spec.attachable,
      ipv6: spec.ipv6,
      interfaceName: null,
      subnets: validateSubnetConfigs(subnets).map(toSubnetConfig),
    });
    // the shim holds one address of each subnet, taken from IPAM like a container's
    const shim = o.hostAccess
      ? {
          ifname: `mh-${id.slice(0, 12)}`,
          addresses: net.subnets.map((s) => {
            const a = store.allocateAddress(id, s.subnet, 'host-shim');
            return `${a}/${a.includes(':') ? 128 : 32}`;
          }),
        }
      : undefined;
    const state: MacvlanState = { parent, ...(createdParent ? { createdParent } : {}), ...(shim ? { shim } : {}) };
    store.setNetworkState(id, { macvlan: state });
    return store.getNetwork(id);
  });
  try {
    await ensureNetworkKernel(engine, record);
  } catch (err) {
    await removeMacvlanNetwork(engine.hostNetns, macvlanSpecOf(record)).catch(() => undefined);
    store.deleteNetwork(record.id);
    throw err;
  }
  return record;
}

/** Create a user-defined network: the record first, then the kernel; undone if the kernel fails. */
export async function createNetwork(engine: Engine, spec: CreateNetworkSpec): Promise<NetworkRecord> {
  const store = engine.store;
  checkNetworkName(spec.name);
  if (PREDEFINED.has(spec.name)) throw new ConflictError(`network name "${spec.name}" is reserved for a pre-defined network`);
  if (!DRIVERS.includes(spec.driver)) {
    throw new UserError(`network driver "${spec.driver}" is not supported: expected one of ${DRIVERS.join(', ')}`);
  }
  if (spec.subnets.length === 0 && (spec.gateways.length || spec.ipRanges.length || Object.keys(spec.auxAddresses).length)) {
    throw new UserError('--gateway, --ip-range and --aux-address need a --subnet');
  }
  checkLabels(spec.labels);
  if (spec.driver === 'macvlan') return createMacvlanNetwork(engine, spec);
  if (spec.driver === 'overlay') return createOverlayNetwork(engine, spec);
  const options = canonicalOptions(spec.options);
  const bridge = bridgeOptions(options, spec.internal);
  const explicit = explicitSubnets(spec);
  const id = newId();
  const ifname = bridge.bridgeName ?? `br-${id.slice(0, 12)}`;
  if (bridge.parent && !explicit.some((s) => !s.subnet.includes(':'))) {
    throw new UserError(`-o parent=${bridge.parent} needs the LAN's --subnet and --gateway`);
  }
  if (store.listNetworks().some((n) => n.interfaceName === ifname)) {
    throw new ConflictError(`bridge name "${ifname}" is already used by another berth network`);
  }
  const [taken, hostUsed, parentExists, ifnameTaken] = await Promise.all([
    hostSubnets(engine),
    hostUsedSubnets(engine),
    bridge.parent ? withRtnl(engine.hostNetns, (nl) => findLink(nl, bridge.parent as string)) : Promise.resolve(undefined),
    withRtnl(engine.hostNetns, (nl) => findLink(nl, ifname)),
  ]);
  if (bridge.parent && !parentExists) throw new UserError(`parent interface "${bridge.parent}" does not exist on this host`);
  if (parentExists) checkParentLink(parentExists, 'a NAT-free bridge takes over a host Ethernet NIC on the LAN (-o parent=IF)', berthInterfaceNames(engine));
  const macvlanUser = bridge.parent ? store.listNetworks().find((n) => n.driver === 'macvlan' && macvlanStateOf(n).parent === bridge.parent) : undefined;
  if (macvlanUser) throw new ConflictError(`parent interface "${bridge.parent}" is the parent of macvlan network "${macvlanUser.name}": a NAT-free bridge needs a NIC of its own`);
  if (bridge.parent && parentExists?.master) throw new ConflictError(`parent interface "${bridge.parent}" is already enslaved to another device`);
  if (ifnameTaken) throw new ConflictError(`an interface named "${ifname}" already exists on this host: choose another bridge name`);
  checkAgainstHost(explicit, hostUsed, bridge.parent);
  // the default network is there first and takes the first pool (172.17.0.0/16), as in Docker;
  // made only now that the request is known to be good (bad input changes nothing)
  await ensureDefaultNetwork(engine);

  const record = store.transaction(() => {
    const subnets = [...explicit];
    const used = networkSubnets(engine);
    // explicit subnets were checked against the host above (a NAT-free bridge's subnet *is* a
    // subnet of the host); the host's routes also rule out automatic picks
    if (!subnets.some((s) => !s.subnet.includes(':'))) {
      subnets.unshift({ subnet: pickFreeSubnet(DEFAULT_POOLS, [...taken, ...used]).text });
    }
    if (spec.ipv6 && !subnets.some((s) => s.subnet.includes(':'))) subnets.push({ subnet: pickUlaSubnet([...taken, ...used]).text });
    return store.createNetwork({
      id,
      name: spec.name,
      driver: 'bridge',
      scope: 'local',
      options: { ...options, 'com.docker.network.bridge.name': ifname },
      labels: spec.labels,
      internal: spec.internal,
      attachable: spec.attachable,
      ipv6: spec.ipv6,
      interfaceName: ifname,
      subnets: validateSubnetConfigs(subnets).map(toSubnetConfig),
    });
  });
  try {
    if (bridge.parent) {
      const state = await adoptParent(engine.hostNetns, ifname, bridge.parent, { ...(bridge.mtu ? { mtu: bridge.mtu } : {}), alias: `${NETWORK_ALIAS_PREFIX}${record.id}` });
      store.setNetworkState(record.id, { parent: state });
    }
    await ensureNetworkKernel(engine, record);
  } catch (err) {
    await removeNetworkKernel(engine, store.getNetwork(record.id)).catch(() => undefined);
    store.deleteNetwork(record.id);
    throw err;
  }
  return store.getNetwork(record.id);
}

async function removeNetworkKernel(engine: Engine, net: NetworkRecord): Promise<void> {
  if (net.driver === 'macvlan') return removeMacvlanNetwork(engine.hostNetns, macvlanSpecOf(net));
  const parent = net.state?.parent as ParentState | undefined;
  const spec = bridgeSpecOf(net);
  if (parent) {
    const { removeBridgeRules } = await import('../drivers/bridge/firewall.js');
    removeBridgeRules(engine.hostNetns, { bridge: spec.ifname, subnets: spec.subnets ?? [], nat4: spec.nat4, nat6: spec.nat6, internal: spec.internal, inbound: spec.inbound });
    await releaseParent(engine.hostNetns, spec.ifname, parent);
  } else {
    await removeBridge(engine.hostNetns, spec);
  }
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
  if (net.driver === 'overlay') return removeOverlayNetworkEverywhere(engine, net);
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
    if (net.name === DEFAULT_NETWORK || net.driver === 'overlay' || engine.store.listEndpoints({ networkId: net.id }).length) continue;
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
      Name: c?.name ?? ep.containerId,
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
