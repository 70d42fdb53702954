// The host as one graph, as the kernel has it: the host namespace and its uplinks, bridges
// (default, user-defined, NAT-free), veth pairs with both ends, container namespaces, the modes
// that share one (container, host), published ports, macvlan parents and shims, VXLAN and
// WireGuard devices, and for overlays the other hosts' containers (from the cluster store).
// Drift between store and kernel is flagged on the nodes it concerns (topology-drift.ts).
import { listAddresses, type AddressInfo } from '../kernel/addresses.js';
import { listLinks, type LinkInfo } from '../kernel/links.js';
import { AF_INET, AF_INET6, listRoutes, type RouteInfo } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import { ENDPOINT_ALIAS_PREFIX, NETWORK_ALIAS_PREFIX } from '../drivers/driver.js';
import { isEncrypted } from '../drivers/overlay/options.js';
import { WG_IFNAME_PREFIX } from '../drivers/overlay/overlay-encryption.js';
import { overlayNames } from '../drivers/overlay/overlay.js';
import { driverOf } from '../drivers/registry.js';
import type { EndpointRecord, NetworkRecord, PortRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { liveStatus, type Container, type ContainerConfig, type ContainerState } from './containers.js';
import { storedNetworkMode } from './network-mode.js';
import { GWBRIDGE } from './overlay.js';
import { addDrift, addFindings } from './topology-drift.js';
import type { Finding } from './repair.js';
import type { InterfaceRole, TopologyEdge, TopologyGraph, TopologyNode } from './topology-types.js';

export type { TopologyEdge, TopologyGraph, TopologyNode } from './topology-types.js';

export interface TopologyOptions {
  /** flag the differences `berth system check` finds (default true) */
  drift?: boolean;
  /** flag these findings (a check made earlier, see src/ui/server.ts) instead of checking now */
  findings?: readonly Finding[];
  /** the host's links, addresses and routes as read already (a kept watch's, topology-watch.ts), instead of dumping them */
  host?: HostState;
}

export interface HostState {
  links: LinkInfo[];
  addrs: AddressInfo[];
  routes: RouteInfo[];
}

export const hostIfId = (name: string): string => `host/${name}`;
export const nsId = (containerId: string): string => `ns/${containerId}`;

export async function topology(engine: Engine, opts: TopologyOptions = {}): Promise<TopologyGraph> {
  const host: HostState = opts.host ?? await withRtnl(engine.hostNetns, async (nl) => ({
    links: await listLinks(nl),
    addrs: await listAddresses(nl),
    routes: [...(await listRoutes(nl, AF_INET)), ...(await listRoutes(nl, AF_INET6))],
  }));
  const g = new GraphBuilder();
  const networks = engine.store.listNetworks();
  const endpoints = engine.store.listEndpoints();
  addHost(g, host, networks, endpoints);
  addNetworks(g, networks);
  addContainers(g, engine, networks, endpoints);
  addRemoteHosts(g, engine, networks);
  addTunnels(g, engine, host, networks);
  if (opts.findings) addFindings(g, opts.findings);
  else if (opts.drift !== false) await addDrift(g, engine);
  return g.graph();
}

/** Nodes by id (one each), edges only between nodes that exist. */
export class GraphBuilder {
  private readonly nodes = new Map<string, TopologyNode>();
  private readonly edges: TopologyEdge[] = [];
  node(n: TopologyNode): TopologyNode {
    const had = this.nodes.get(n.id);
    if (had) return had;
    this.nodes.set(n.id, n);
    return n;
  }
  get(id: string): TopologyNode | undefined {
    return this.nodes.get(id);
  }
  find(pred: (n: TopologyNode) => boolean): TopologyNode | undefined {
    for (const n of this.nodes.values()) if (pred(n)) return n;
    return undefined;
  }
  edge(e: TopologyEdge): void {
    this.edges.push(e);
  }
  graph(): TopologyGraph {
    // an edge to a node the kernel does not have (drift) is not drawn: the drift is, on its other end
    const edges = this.edges.filter((e) => this.nodes.has(e.from) && this.nodes.has(e.to));
    return { nodes: [...this.nodes.values()], edges };
  }
}

function addHost(g: GraphBuilder, host: HostState, networks: NetworkRecord[], endpoints: EndpointRecord[]): void {
  g.node({
    id: 'host',
    kind: 'host',
    label: 'host',
    host: 'local',
    networks: networks.map((n) => n.name),
    // the host's default routes here; every route is in the node's details (topology-details.ts)
    data: { routes: host.routes.filter((r) => r.table !== 255 && r.dst === 'default').map((r) => ({ dst: r.dst, gateway: r.gateway, oif: host.links.find((l) => l.index === r.oif)?.name })) },
  });
  const uplinks = new Set(host.routes.filter((r) => r.dst === 'default' && r.table !== 255).map((r) => r.oif));
  const netById = new Map(networks.map((n) => [n.id, n]));
  const epById = new Map(endpoints.map((e) => [e.id, e]));
  // by index: with 500 containers the host has ~500 veths, each with an address (a search per link was quadratic)
  const linkByIndex = new Map(host.links.map((l) => [l.index, l]));
  const addrsOf = new Map<number, string[]>();
  for (const a of host.addrs) addrsOf.set(a.index, [...(addrsOf.get(a.index) ?? []), a.cidr]);
  // macvlan parents (a NAT-free bridge's NIC is one of its ports: drawn as such)
  const parents = new Set(networks.filter((n) => !driverOf(n.driver).usesFirewall).map((n) => driverOf(n.driver).parentOf(n)).filter((p): p is string => p !== undefined));
  for (const l of host.links) {
    const addresses = addrsOf.get(l.index) ?? [];
    const ownerNet = l.alias?.startsWith(NETWORK_ALIAS_PREFIX) ? netById.get(l.alias.slice(NETWORK_ALIAS_PREFIX.length)) : undefined;
    const ownerEp = l.alias?.startsWith(ENDPOINT_ALIAS_PREFIX) ? epById.get(l.alias.slice(ENDPOINT_ALIAS_PREFIX.length)) : undefined;
    const epNet = ownerEp ? netById.get(ownerEp.networkId) : undefined;
    const role = roleOf(l, uplinks, parents, ownerNet);
    const master = l.master !== undefined ? linkByIndex.get(l.master) : undefined;
    // a bridge's port (an overlay's VXLAN device) is on the bridge's network; the WireGuard device carries every encrypted overlay
    const masterNet = master?.alias?.startsWith(NETWORK_ALIAS_PREFIX) ? netById.get(master.alias.slice(NETWORK_ALIAS_PREFIX.length)) : undefined;
    const carried = role === 'wireguard' ? networks.filter((n) => n.driver === 'overlay' && isEncrypted(n)) : [];
    g.node({
      id: hostIfId(l.name),
      kind: l.kind === 'bridge' ? 'bridge' : 'interface',
      label: l.name,
      host: 'local',
      // a NIC that is a network's parent (NAT-free bridge port, macvlan parent) belongs to it too
      networks: [...new Set([ownerNet, epNet, masterNet, ...carried, ...networks.filter((n) => driverOf(n.driver).parentOf(n) === l.name)].filter((n) => n !== undefined).map((n) => n.name))],
      data: { kind: l.kind, role, up: l.up, mtu: l.mtu, mac: l.mac, addresses, ...(l.alias ? { alias: l.alias } : {}) },
    });
    g.edge({ from: hostIfId(l.name), to: 'host', kind: 'in' });
    if (master) g.edge({ from: hostIfId(l.name), to: hostIfId(master.name), kind: 'port-of' });
    // a macvlan network's host shim hangs off the network's parent
    const shimParent = role === 'macvlan-shim' && ownerNet ? driverOf(ownerNet.driver).parentOf(ownerNet) : undefined;
    if (shimParent) g.edge({ from: hostIfId(l.name), to: hostIfId(shimParent), kind: 'shim-of' });
  }
}

function roleOf(l: LinkInfo, uplinks: Set<number | undefined>, parents: Set<string>, ownerNet: NetworkRecord | undefined): InterfaceRole {
  if (l.name === 'lo') return 'loopback';
  if (uplinks.has(l.index)) return 'uplink';
  if (l.kind === 'vxlan') return 'vxlan';
  if (l.name.startsWith(WG_IFNAME_PREFIX) || l.kind === 'wireguard') return 'wireguard';
  if (l.kind === 'macvlan' && ownerNet) return 'macvlan-shim';
  if (l.kind === 'bridge' && l.name === GWBRIDGE) return 'gateway-bridge';
  if (parents.has(l.name)) return 'macvlan-parent';
  if (l.kind === 'veth' && l.alias?.startsWith(ENDPOINT_ALIAS_PREFIX)) return 'veth';
  return l.kind === undefined ? 'nic' : 'other';
}

function addNetworks(g: GraphBuilder, networks: NetworkRecord[]): void {
  for (const net of networks) {
    const driver = driverOf(net.driver);
    const parent = driver.parentOf(net);
    // a network with a bridge and a parent NIC: the NAT-free bridge (the NIC is one of its ports)
    const natFree = driver.usesFirewall && parent !== undefined;
    const ifname = driver.hostInterfaceOf(net);
    g.node({
      id: `network/${net.name}`,
      kind: 'network',
      label: net.name,
      host: 'local',
      networks: [net.name],
      data: { id: net.id, driver: net.driver, scope: net.scope, subnets: net.subnets, internal: net.internal, interface: ifname, ...(parent ? { parent } : {}), natFree, routedPorts: driver.routedPorts(net) },
    });
    g.edge({ from: `network/${net.name}`, to: hostIfId(ifname), kind: 'attached' });
    const hostIf = g.get(hostIfId(ifname));
    if (hostIf && !hostIf.networks?.includes(net.name)) hostIf.networks = [...(hostIf.networks ?? []), net.name];
  }
}

function containersOf(engine: Engine): Container[] {
  return engine.store.listContainers().map((r) => ({ id: r.id, name: r.name, created: r.created, config: r.config as ContainerConfig, state: r.state as ContainerState }));
}

function addContainers(g: GraphBuilder, engine: Engine, networks: NetworkRecord[], endpoints: EndpointRecord[]): void {
  const store = engine.store;
  const netById = new Map(networks.map((n) => [n.id, n]));
  const epsOf = new Map<string, EndpointRecord[]>();
  for (const ep of endpoints) epsOf.set(ep.containerId, [...(epsOf.get(ep.containerId) ?? []), ep]);
  // every container's published ports in one query (one per container took 500 with 500 containers)
  const portsOf = new Map<string, PortRecord[]>();
  for (const p of store.listPorts()) portsOf.set(p.containerId, [...(portsOf.get(p.containerId) ?? []), p]);
  // a namespace's interfaces (each to its veth host end or macvlan parent) and published ports
  const drawEndpoints = (ns: string, containerId: string, mine: readonly EndpointRecord[]) => {
    for (const ep of mine) {
      const epId = `${ns}/${ep.interfaceName}`;
      const net = netById.get(ep.networkId);
      g.node({ id: epId, kind: 'interface', label: ep.interfaceName, host: 'local', networks: net ? [net.name] : [], data: { addresses: ep.addresses, mac: ep.mac, aliases: ep.aliases, network: net?.name } });
      g.edge({ from: epId, to: ns, kind: 'in' });
      // a veth's host end, or the parent of a macvlan child; an endpoint of a vanished network has no edge
      if (!net) continue;
      const link = driverOf(net.driver).endpointLinkOf(net, ep);
      g.edge({ from: epId, to: hostIfId(link.hostIfname), kind: link.kind });
    }
    for (const p of portsOf.get(containerId) ?? []) {
      g.edge({ from: 'host', to: ns, kind: 'publishes', label: `${p.hostIp}:${p.hostPort}/${p.proto} -> ${p.targetIp}:${p.targetPort}` });
    }
  };
  const containers = containersOf(engine);
  for (const c of containers) {
    const mine = epsOf.get(c.id) ?? [];
    const mode = storedNetworkMode(c.config.networkMode);
    const ns = g.node({
      id: nsId(c.id),
      kind: 'namespace',
      label: c.name,
      host: 'local',
      networks: mine.map((ep) => netById.get(ep.networkId)?.name).filter((n): n is string => n !== undefined),
      data: {
        id: c.id,
        status: liveStatus(c),
        networkMode: mode.kind === 'container' ? `container:${containers.find((x) => x.id === mode.ref)?.name ?? mode.ref}` : c.config.networkMode,
        hostname: c.config.hostname,
        addresses: mine.flatMap((ep) => ep.addresses),
        macs: mine.map((ep) => ep.mac).filter((m): m is string => m !== null),
        netns: c.state.netns,
      },
    });
    if (mode.kind === 'container') g.edge({ from: ns.id, to: nsId(mode.ref), kind: 'shares', label: 'network namespace' });
    if (mode.kind === 'host') g.edge({ from: ns.id, to: 'host', kind: 'shares', label: 'host network' });
    drawEndpoints(ns.id, c.id, mine);
  }
  // a runtime's sandboxes (CNI, Docker's plugin): endpoints with no berth container, named as the runtime names them
  const berthIds = new Set(containers.map((c) => c.id));
  for (const [id, mine] of epsOf) {
    if (berthIds.has(id)) continue;
    const ns = g.node({
      id: nsId(id),
      kind: 'namespace',
      label: mine.find((ep) => ep.aliases.length)?.aliases[0] ?? id,
      host: 'local',
      networks: mine.map((ep) => netById.get(ep.networkId)?.name).filter((n): n is string => n !== undefined),
      data: { id, status: 'running', networkMode: 'sandbox', addresses: mine.flatMap((ep) => ep.addresses), macs: mine.map((ep) => ep.mac).filter((m): m is string => m !== null) },
    });
    drawEndpoints(ns.id, id, mine);
  }
  // container mode: the joiner is on its target's networks too
  for (const c of containers) {
    const mode = storedNetworkMode(c.config.networkMode);
    const target = mode.kind === 'container' ? g.get(nsId(mode.ref)) : undefined;
    const joiner = g.get(nsId(c.id));
    if (target && joiner) joiner.networks = [...new Set([...(joiner.networks ?? []), ...(target.networks ?? [])])];
  }
}

/** Overlay networks: the other hosts of the cluster and their containers, as the agent last saw them. */
function addRemoteHosts(g: GraphBuilder, engine: Engine, networks: NetworkRecord[]): void {
  const cluster = engine.cluster;
  if (!cluster) return;
  // a host by the address it advertises (its VTEP may be a WireGuard tunnel address); a host
  // whose record is gone (its lease ran out) by its id
  const records = new Map(cluster.hosts().map((h) => [h.id, h]));
  for (const net of networks.filter((n) => n.scope === 'swarm')) {
    for (const r of cluster.remoteEndpoints(net.id)) {
      const rec = records.get(r.hostId);
      const hostNode = g.node({
        id: `remote/${r.hostId}`,
        kind: 'remote-host',
        label: `host ${rec?.advertiseAddress ?? r.hostId}`,
        host: r.hostId,
        networks: [],
        data: { hostId: r.hostId, ...(rec ? { advertiseAddress: rec.advertiseAddress } : { record: 'none (the host left the cluster)' }), vtep: r.vtep },
      });
      if (!hostNode.networks?.includes(net.name)) hostNode.networks = [...(hostNode.networks ?? []), net.name];
      const id = `remote/${r.hostId}/${r.containerId}`;
      if (!g.get(id)) g.edge({ from: id, to: hostNode.id, kind: 'in' });
      const ctr = g.node({ id, kind: 'namespace', label: r.containerName, host: r.hostId, networks: [], data: { id: r.containerId, addresses: [r.ipv4, r.ipv6].filter((a) => a !== null), macs: [r.mac], aliases: r.aliases } });
      if (!ctr.networks?.includes(net.name)) {
        ctr.networks = [...(ctr.networks ?? []), net.name];
        g.edge({ from: id, to: `network/${net.name}`, kind: 'remote', label: `via VTEP ${r.vtep}` });
      }
    }
  }
}

/** What carries an overlay: its VXLAN device over the WireGuard device (encrypted) or the underlay link, WireGuard over the underlay. */
function addTunnels(g: GraphBuilder, engine: Engine, host: HostState, networks: NetworkRecord[]): void {
  const cluster = engine.cluster;
  if (!cluster) return;
  const vtepIndex = host.addrs.find((a) => a.cidr.split('/')[0] === cluster.vtep)?.index;
  const underlay = host.links.find((l) => l.index === vtepIndex);
  const enc = cluster.encryption();
  const wg = enc ? host.links.find((l) => l.name === enc.ifname) : undefined;
  // the underlay carries every overlay (the page's network filter keeps it)
  const onUnderlay = underlay ? g.get(hostIfId(underlay.name)) : undefined;
  if (onUnderlay) onUnderlay.networks = [...new Set([...(onUnderlay.networks ?? []), ...networks.filter((n) => n.driver === 'overlay').map((n) => n.name)])];
  if (wg && underlay) g.edge({ from: hostIfId(wg.name), to: hostIfId(underlay.name), kind: 'tunnel', label: 'WireGuard' });
  for (const net of networks.filter((n) => n.driver === 'overlay')) {
    const vx = g.get(hostIfId(overlayNames(net.id).vxlan));
    const over = isEncrypted(net) ? wg : underlay;
    if (vx && over) g.edge({ from: vx.id, to: hostIfId(over.name), kind: 'tunnel', label: 'VXLAN' });
  }
}
