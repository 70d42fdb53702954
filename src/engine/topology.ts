// The host as one graph: namespaces, bridges, veth pairs, addresses, routes and published
// ports, for GET /topology and the web page.
import { listAddresses } from '../kernel/addresses.js';
import { listLinks } from '../kernel/links.js';
import { AF_INET, AF_INET6, listRoutes } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import type { Engine } from './context.js';
import { liveStatus, type Container, type ContainerConfig, type ContainerState } from './containers.js';
import { hostIfnameOf } from '../drivers/bridge/spec.js';
import { driverOf } from '../drivers/registry.js';
import { joinedContainerId } from './network-mode.js';

export interface TopologyNode {
  id: string;
  kind: 'host' | 'namespace' | 'bridge' | 'interface' | 'network';
  label: string;
  data?: Record<string, unknown>;
}
export interface TopologyEdge {
  from: string;
  to: string;
  kind: 'in' | 'port-of' | 'veth' | 'macvlan' | 'publishes' | 'attached';
  label?: string;
}

export async function topology(engine: Engine): Promise<{ nodes: TopologyNode[]; edges: TopologyEdge[] }> {
  const store = engine.store;
  const nodes: TopologyNode[] = [];
  const edges: TopologyEdge[] = [];
  const host = await withRtnl(engine.hostNetns, async (nl) => ({
    links: await listLinks(nl),
    addrs: await listAddresses(nl),
    routes: [...(await listRoutes(nl, AF_INET)), ...(await listRoutes(nl, AF_INET6))],
  }));
  nodes.push({ id: 'host', kind: 'host', label: 'host', data: { routes: host.routes.map((r) => ({ dst: r.dst, gateway: r.gateway, oif: r.oif })) } });
  const ifId = (name: string) => `host/${name}`;
  for (const l of host.links) {
    const addresses = host.addrs.filter((a) => a.index === l.index).map((a) => a.cidr);
    nodes.push({ id: ifId(l.name), kind: l.kind === 'bridge' ? 'bridge' : 'interface', label: l.name, data: { kind: l.kind, up: l.up, mtu: l.mtu, mac: l.mac, addresses } });
    edges.push({ from: ifId(l.name), to: 'host', kind: 'in' });
    const master = l.master !== undefined ? host.links.find((m) => m.index === l.master) : undefined;
    if (master) edges.push({ from: ifId(l.name), to: ifId(master.name), kind: 'port-of' });
  }
  for (const net of store.listNetworks()) {
    // a bridge network is its bridge; a macvlan network hangs off its parent
    const ifname = driverOf(net.driver).hostInterfaceOf(net);
    nodes.push({ id: `network/${net.name}`, kind: 'network', label: net.name, data: { id: net.id, driver: net.driver, subnets: net.subnets, internal: net.internal } });
    edges.push({ from: `network/${net.name}`, to: ifId(ifname), kind: 'attached' });
  }
  // a namespace's interfaces (each to its veth host end or macvlan parent) and published ports
  const drawEndpoints = (id: string) => {
    const nsId = `ns/${id}`;
    for (const ep of store.listEndpoints({ containerId: id })) {
      const epId = `${nsId}/${ep.interfaceName}`;
      nodes.push({ id: epId, kind: 'interface', label: ep.interfaceName, data: { addresses: ep.addresses, mac: ep.mac, aliases: ep.aliases } });
      edges.push({ from: epId, to: nsId, kind: 'in' });
      const net = store.findNetwork(ep.networkId);
      // a veth's host end, or the parent of a macvlan child; an endpoint of a vanished network is drawn as a veth
      const link = net ? driverOf(net.driver).endpointLinkOf(net, ep) : { kind: 'veth' as const, hostIfname: hostIfnameOf(ep) };
      edges.push({ from: epId, to: ifId(link.hostIfname), kind: link.kind });
    }
    for (const p of store.listPorts({ containerId: id })) {
      edges.push({ from: 'host', to: nsId, kind: 'publishes', label: `${p.hostIp}:${p.hostPort}/${p.proto} -> ${p.targetIp}:${p.targetPort}` });
    }
  };
  const containers: Container[] = store.listContainers().map((r) => ({ id: r.id, name: r.name, created: r.created, config: r.config as ContainerConfig, state: r.state as ContainerState }));
  for (const c of containers) {
    const status = liveStatus(c);
    const nsId = `ns/${c.id}`;
    nodes.push({ id: nsId, kind: 'namespace', label: c.name, data: { id: c.id, status, networkMode: c.config.networkMode, netns: c.state.netns } });
    const joined = joinedContainerId(c.config.networkMode);
    if (joined) edges.push({ from: nsId, to: `ns/${joined}`, kind: 'in', label: 'shares namespace' });
    drawEndpoints(c.id);
  }
  // CNI sandboxes: a runtime's namespaces (no berth container), named as the runtime names them
  const berthIds = new Set(containers.map((c) => c.id));
  const sandboxIds = [...new Set(store.listEndpoints().map((ep) => ep.containerId))].filter((id) => !berthIds.has(id));
  for (const id of sandboxIds) {
    const name = store.listEndpoints({ containerId: id }).find((ep) => ep.aliases.length)?.aliases[0] ?? id;
    nodes.push({ id: `ns/${id}`, kind: 'namespace', label: name, data: { id, status: 'running', networkMode: 'cni' } });
    drawEndpoints(id);
  }
  return { nodes, edges };
}
