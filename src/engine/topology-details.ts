// One topology node in detail, read when a user clicks it: its addresses, routes, MTU, byte and
// packet counters as the kernel has them now, and the elements of berth's nft tables that concern
// it, as the kernel has them now too (topology-nft.ts).
import { listAddresses } from '../kernel/addresses.js';
import { listLinkCounters } from '../kernel/link-stats.js';
import { listLinks } from '../kernel/links.js';
import type { NetnsTarget } from '../kernel/netns.js';
import { AF_INET, AF_INET6, listRoutes } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import { driverOf } from '../drivers/registry.js';
import { NotFoundError } from '../common/errors.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import type { Engine } from './context.js';
import type { ContainerConfig, ContainerState } from './containers.js';
import { storedNetworkMode } from './network-mode.js';
import { liveNftElements } from './topology-nft.js';

export interface InterfaceDetails {
  name: string;
  kind?: string;
  mtu: number;
  mac?: string;
  up: boolean;
  addresses: string[];
  counters?: Record<string, number>;
}

export interface NodeDetails {
  id: string;
  /** where the kernel objects below were read: 'host' or the container's namespace */
  namespace: string;
  interfaces: InterfaceDetails[];
  routes: { dst: string; gateway?: string; dev?: string; table: number }[];
  nft: string[];
}

/** The details of a node of topology(); a node that is not there is a NotFoundError. */
export async function topologyNodeDetails(engine: Engine, id: string): Promise<NodeDetails> {
  const store = engine.store;
  let m: RegExpExecArray | null;
  if (id === 'host') return { ...(await readNamespace(engine.hostNetns, undefined)), id, namespace: 'host', nft: [] };
  if ((m = /^host\/([^/]+)$/.exec(id))) {
    const ifname = m[1] as string;
    const ns = await readNamespace(engine.hostNetns, ifname);
    if (!ns.interfaces.length) throw new NotFoundError(`no interface ${ifname} on the host`);
    const tokens = [ifname];
    for (const net of store.listNetworks()) if (driverOf(net.driver).hostInterfaceOf(net) === ifname) tokens.push(...networkTokens(net));
    for (const ep of store.listEndpoints()) {
      const net = store.findNetwork(ep.networkId);
      const link = net ? driverOf(net.driver).endpointLinkOf(net, ep) : undefined;
      if (link?.kind === 'veth' && link.hostIfname === ifname) tokens.push(...endpointTokens(engine, ep));
    }
    return { ...ns, id, namespace: 'host', nft: liveNftElements(engine, tokens) };
  }
  if ((m = /^network\/(.+)$/.exec(id))) {
    const net = store.findNetwork(m[1] as string);
    if (!net) throw new NotFoundError(`no network ${m[1] as string}`);
    const ifname = driverOf(net.driver).hostInterfaceOf(net);
    return { ...(await readNamespace(engine.hostNetns, ifname)), id, namespace: 'host', nft: liveNftElements(engine, networkTokens(net)) };
  }
  if ((m = /^ns\/([0-9a-f]{64})(?:\/([^/]+))?$/.exec(id))) {
    const c = store.findContainer(m[1] as string);
    if (!c) throw new NotFoundError(`no container ${m[1] as string}`);
    const config = c.config as ContainerConfig;
    const state = c.state as ContainerState;
    const mode = storedNetworkMode(config.networkMode);
    // a host-mode container lives in the host's namespace; a container-mode one in its target's
    const owner = mode.kind === 'container' ? mode.ref : c.id;
    const netns: NetnsTarget | null = mode.kind === 'host' ? engine.hostNetns : (state.netns ?? engine.netnsPath(owner));
    const eps = store.listEndpoints({ containerId: owner });
    const only = m[2];
    const chosen = only ? eps.filter((e) => e.interfaceName === only) : eps;
    let ns: Omit<NodeDetails, 'id' | 'namespace' | 'nft'> = { interfaces: [], routes: [] };
    // a container that is not running has no namespace to read: its store records still show
    if (state.status === 'running') ns = await readNamespace(netns, only).catch(() => ns);
    return { ...ns, id, namespace: mode.kind === 'host' ? 'host' : String(netns), nft: liveNftElements(engine, chosen.flatMap((ep) => endpointTokens(engine, ep))) };
  }
  throw new NotFoundError(`no topology node ${id}: expected host, host/IFNAME, network/NAME, ns/ID or ns/ID/IFNAME`);
}

async function readNamespace(netns: NetnsTarget | null, only: string | undefined): Promise<Omit<NodeDetails, 'id' | 'namespace' | 'nft'>> {
  return withRtnl(netns, async (nl) => {
    const links = (await listLinks(nl)).filter((l) => only === undefined || l.name === only);
    const addrs = await listAddresses(nl);
    const counters = await listLinkCounters(nl);
    const routes = [...(await listRoutes(nl, AF_INET)), ...(await listRoutes(nl, AF_INET6))];
    const names = new Map(links.map((l) => [l.index, l.name]));
    return {
      interfaces: links.map((l) => ({
        name: l.name,
        ...(l.kind ? { kind: l.kind } : {}),
        mtu: l.mtu,
        ...(l.mac ? { mac: l.mac } : {}),
        up: l.up,
        addresses: addrs.filter((a) => a.index === l.index).map((a) => a.cidr),
        ...(counters.get(l.name) ? { counters: { ...counters.get(l.name) } } : {}),
      })),
      routes: routes
        .filter((r) => r.table !== 255 && (only === undefined || names.has(r.oif ?? -1)))
        .map((r) => ({ dst: r.dst, ...(r.gateway ? { gateway: r.gateway } : {}), ...(names.get(r.oif ?? -1) ? { dev: names.get(r.oif ?? -1) } : {}), table: r.table })),
    };
  });
}

/** The tokens of a network's elements: its interface and its subnets' network addresses. */
function networkTokens(net: NetworkRecord): string[] {
  const subnets = (net.subnets as unknown[]).map((s) => (typeof s === 'string' ? s : typeof s === 'object' && s !== null && 'subnet' in s ? String(s.subnet) : ''));
  return [driverOf(net.driver).hostInterfaceOf(net), ...subnets.filter(Boolean)];
}

/** The tokens of an endpoint's elements: its addresses, MAC and the host end of its veth. */
function endpointTokens(engine: Engine, ep: EndpointRecord): string[] {
  const net = engine.store.findNetwork(ep.networkId);
  const link = net ? driverOf(net.driver).endpointLinkOf(net, ep) : undefined;
  return [...ep.addresses, ...(ep.mac ? [ep.mac] : []), ...(link?.kind === 'veth' ? [link.hostIfname] : [])];
}
