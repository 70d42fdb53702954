// Networks: the default `bridge` network and user-defined bridge networks — create, list,
// inspect, remove, prune — and what each means for the bridge driver.
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import { adoptParent, releaseParent, type ParentState } from '../drivers/bridge-parent.js';
import { ensureBridge, removeBridge, type BridgeSpec } from '../drivers/bridge.js';
import { listAddresses } from '../kernel/addresses.js';
import { findLink } from '../kernel/links.js';
import { AF_INET, AF_INET6, listRoutes } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import {
  DEFAULT_POOLS, firstHostAddress, parseCidr, pickFreeSubnet, pickUlaSubnet, validateSubnetConfigs, toSubnetConfig,
  type Cidr, type SubnetConfig,
} from '../ipam/index.js';
import type { NetworkRecord } from '../store/store.js';
import { newId } from '../store/store.js';
import type { Engine } from './context.js';
import { bridgeOptions, canonicalOptions, type BridgeOptions } from './network-options.js';

export const DEFAULT_NETWORK = 'bridge';
/** IFLA_IFALIAS prefixes that mark berth's links (bridge of a network, host side of an endpoint). */
export const NETWORK_ALIAS_PREFIX = 'berth:network:';
export const ENDPOINT_ALIAS_PREFIX = 'berth:endpoint:';
export const DEFAULT_BRIDGE_IFNAME = 'berth0';
const PREDEFINED = new Set([DEFAULT_NETWORK, 'host', 'none']);

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

/** Make the kernel match a network record (bridge, addresses, firewall). Idempotent. */
export async function ensureNetworkKernel(engine: Engine, net: NetworkRecord): Promise<void> {
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

const NETWORK_NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

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

/** Create a user-defined network: the record first, then the kernel; undone if the kernel fails. */
export async function createNetwork(engine: Engine, spec: CreateNetworkSpec): Promise<NetworkRecord> {
  const store = engine.store;
  if (!NETWORK_NAME.test(spec.name)) {
    throw new UserError(`invalid network name "${spec.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  if (PREDEFINED.has(spec.name)) throw new ConflictError(`network name "${spec.name}" is reserved for a pre-defined network`);
  if (spec.driver !== 'bridge') {
    throw new UserError(`network driver "${spec.driver}" is not supported yet: only bridge (overlay and macvlan come later)`);
  }
  if (spec.subnets.length === 0 && (spec.gateways.length || spec.ipRanges.length || Object.keys(spec.auxAddresses).length)) {
    throw new UserError('--gateway, --ip-range and --aux-address need a --subnet');
  }
  const options = canonicalOptions(spec.options);
  const bridge = bridgeOptions(options, spec.internal);
  const explicit = validateSubnetConfigs(subnetConfigs(spec)).map(toSubnetConfig);
  const v6given = explicit.find((s) => s.subnet.includes(':'));
  if (v6given && !spec.ipv6) throw new UserError(`IPv6 --subnet "${v6given.subnet}" given without --ipv6: add --ipv6 to enable IPv6 on the network`);
  const id = newId();
  const ifname = bridge.bridgeName ?? `br-${id.slice(0, 12)}`;
  if (bridge.parent && !explicit.some((s) => !s.subnet.includes(':'))) {
    throw new UserError(`-o parent=${bridge.parent} needs the LAN's --subnet and --gateway`);
  }
  if (store.listNetworks().some((n) => n.interfaceName === ifname)) {
    throw new ConflictError(`bridge name "${ifname}" is already used by another berth network`);
  }
  const [taken, parentExists, ifnameTaken] = await Promise.all([
    hostSubnets(engine),
    bridge.parent ? withRtnl(engine.hostNetns, (nl) => findLink(nl, bridge.parent as string)) : Promise.resolve(undefined),
    withRtnl(engine.hostNetns, (nl) => findLink(nl, ifname)),
  ]);
  if (bridge.parent && !parentExists) throw new UserError(`parent interface "${bridge.parent}" does not exist on this host`);
  if (bridge.parent && parentExists?.master) throw new ConflictError(`parent interface "${bridge.parent}" is already enslaved to another device`);
  if (ifnameTaken) throw new ConflictError(`an interface named "${ifname}" already exists on this host: choose another bridge name`);
  // the default network is there first and takes the first pool (172.17.0.0/16), as in Docker;
  // made only now that the request is known to be good (bad input changes nothing)
  await ensureDefaultNetwork(engine);

  const record = store.transaction(() => {
    const subnets = [...explicit];
    const used = networkSubnets(engine);
    // the host's own routes only rule out automatic picks; an explicit subnet is the user's call
    // (a NAT-free bridge's subnet *is* a subnet of the host)
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
  const parent = net.state?.parent as ParentState | undefined;
  const spec = bridgeSpecOf(net);
  if (parent) {
    const { removeBridgeRules } = await import('../drivers/firewall.js');
    removeBridgeRules(engine.hostNetns, { bridge: spec.ifname, subnets: spec.subnets ?? [], nat4: spec.nat4, nat6: spec.nat6, internal: spec.internal, inbound: spec.inbound });
    await releaseParent(engine.hostNetns, spec.ifname, parent);
  } else {
    await removeBridge(engine.hostNetns, spec);
  }
}

export function getNetwork(engine: Engine, ref: string): NetworkRecord {
  const net = engine.store.findNetwork(ref);
  if (!net) throw new NotFoundError(`network "${ref}" not found (give a name, a full id or a unique id prefix)`);
  return net;
}

/** Remove a user-defined network; refused while containers are attached (they are named). */
export async function removeNetwork(engine: Engine, ref: string): Promise<NetworkRecord> {
  const store = engine.store;
  const net = getNetwork(engine, ref);
  if (net.name === DEFAULT_NETWORK) throw new ConflictError(`"${DEFAULT_NETWORK}" is a pre-defined network and cannot be removed`);
  const attached = store.listEndpoints({ networkId: net.id });
  if (attached.length) {
    const names = attached.map((e) => store.findContainer(e.containerId)?.name ?? e.containerId.slice(0, 12));
    throw new ConflictError(`network "${net.name}" has active endpoints (${names.join(', ')}): disconnect or remove them first`);
  }
  await removeNetworkKernel(engine, net);
  store.deleteNetwork(net.id);
  return net;
}

/** Remove every user-defined network without endpoints; returns them. */
export async function pruneNetworks(engine: Engine): Promise<NetworkRecord[]> {
  const removed: NetworkRecord[] = [];
  for (const net of engine.store.listNetworks()) {
    if (net.name === DEFAULT_NETWORK || engine.store.listEndpoints({ networkId: net.id }).length) continue;
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
