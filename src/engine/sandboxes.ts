// Sandboxes that berth did not start: a network namespace handed over by a runtime (CNI ADD)
// or a benchmark. berth plugs it into a network and unplugs it again, keyed by (container id,
// interface name) as CNI does. Any berth network: the default bridge, user-defined bridges,
// macvlan, and overlay where the engine holds the cluster (the daemon).
import { existsSync } from 'node:fs';
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import { BERTH_TABLE } from '../drivers/bridge/firewall.js';
import { driverOf, isClusterNetwork } from '../drivers/registry.js';
import { listAddresses } from '../kernel/addresses.js';
import { deleteLink, findLink } from '../kernel/links.js';
import { readNftTable } from '../kernel/nft/listing.js';
import { AF_INET, AF_INET6, listRoutes } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import type { PortBinding } from '../portmap/index.js';
import type { EndpointRecord, NetworkRecord, PortRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { attachNetworkEndpoint, releaseEndpoints, syncDefaultRoutes, Undo } from './endpoints.js';
import { DEFAULT_NETWORK, ensureDefaultNetwork, ensureNetworkKernel, getNetwork } from './networks.js';
import { endpointRelayProblem, releaseEndpointRelay, startEndpointRelay, startEndpointRelayOnHost } from './port-relay.js';
import { forgetSandboxDns, recordSandboxDns } from './sandbox-dns.js';
import { shapeSandbox, unshapeSandbox, type SandboxBandwidth } from './sandbox-bandwidth.js';
import { trace } from '../common/trace.js';

export interface SandboxAttachment {
  network: NetworkRecord;
  endpoint: EndpointRecord;
  /** the host end of the veth (bridge networks); undefined for macvlan and overlay children */
  hostIfname: string | undefined;
  ports: PortRecord[];
}

export interface SandboxRequest {
  containerId: string;
  netns: string;
  ifname: string;
  /** a berth network by name or id */
  network: string;
  publish: PortBinding[];
  /** static addresses and MAC (podman --ip, --ip6, --mac-address) */
  ip?: string;
  ip6?: string;
  mac?: string;
  aliases?: string[];
  /** the CNI bandwidth capability: shaped on the host end of the veth (bridge networks) */
  bandwidth?: SandboxBandwidth;
  /** the runtime's DNS servers (the dns capability): upstreams of the embedded DNS for this sandbox */
  dnsServers?: string[];
  /** false: the runtime holds the published host ports itself (podman): no relay binds them */
  relay?: boolean;
  /** a long-lived caller (the daemon): the host's one relay binds the ports (no process per endpoint; ADD does not wait for it) */
  hostRelay?: boolean;
}

/** A berth network by name or id, its kernel objects ensured; overlay only with the cluster at hand. */
export async function sandboxNetwork(engine: Engine, ref: string): Promise<NetworkRecord> {
  if (ref === DEFAULT_NETWORK) return ensureDefaultNetwork(engine);
  const network = getNetwork(engine, ref);
  if (isClusterNetwork(network)) {
    if (!engine.cluster) {
      throw new UserError(`network "${network.name}" is an overlay network: it is served only through a daemon joined to the cluster (berth daemon --cluster-store), not in-process`);
    }
    return network;
  }
  await ensureNetworkKernel(engine, network);
  return network;
}

/** The recorded attachment of (container id, interface name), if any. */
export function findSandboxEndpoint(engine: Engine, containerId: string, ifname: string): EndpointRecord | undefined {
  return engine.store.listEndpoints({ containerId }).find((e) => e.interfaceName === ifname);
}

/** The host end of a local network's veth (a bridge port); undefined for macvlan children and cluster networks. */
function hostEndOf(network: NetworkRecord, ep: EndpointRecord): string | undefined {
  const link = driverOf(network.driver).endpointLinkOf(network, ep);
  return link.kind === 'veth' && !isClusterNetwork(network) ? link.hostIfname : undefined;
}

/** Plug a sandbox into a network; on failure nothing is left behind. */
export async function attachSandbox(engine: Engine, req: SandboxRequest): Promise<SandboxAttachment> {
  const network = await sandboxNetwork(engine, req.network);
  trace('sandbox: network ready');
  if (findSandboxEndpoint(engine, req.containerId, req.ifname)) {
    throw new ConflictError(`container "${req.containerId}" already has an interface "${req.ifname}": DEL it first`);
  }
  const undo = new Undo();
  try {
    // before the endpoint's record: the daemon's DNS, seeing the record, finds its upstreams too
    if (req.dnsServers?.length) {
      recordSandboxDns(engine, req.containerId, req.dnsServers);
      undo.push(() => void (engine.store.listEndpoints({ containerId: req.containerId }).length || forgetSandboxDns(engine, req.containerId)));
    }
    const { ip, ip6, mac, aliases } = req;
    const endpoint = await attachNetworkEndpoint(engine, network, { containerId: req.containerId, netns: req.netns, ifname: req.ifname, publish: req.publish, ...(ip ? { ip } : {}), ...(ip6 ? { ip6 } : {}), ...(mac ? { mac } : {}), ...(aliases ? { aliases } : {}) }, undo);
    trace('sandbox: endpoint attached');
    const hostIfname = hostEndOf(network, endpoint);
    if (req.bandwidth) {
      // before shaping: a failed shape leaves no ifb behind either
      if (hostIfname) undo.push(() => unshapeSandbox(engine, hostIfname));
      await shapeSandbox(engine, network.name, endpoint.id, hostIfname, req.bandwidth);
    }
    await syncDefaultRoutes(engine, req.containerId, req.netns);
    trace('sandbox: default routes');
    const ports = engine.store.listPorts({ endpointId: endpoint.id });
    // the host's own connections to the published ports (127.0.0.1): a relay process, as for berth's containers
    if (req.relay !== false && req.hostRelay) startEndpointRelayOnHost(engine, endpoint.id, ports);
    else if (req.relay !== false) startEndpointRelay(engine, endpoint.id, ports);
    trace('sandbox: relay started');
    undo.push(() => releaseEndpointRelay(engine, endpoint.id));
    return { network, endpoint, hostIfname, ports };
  } catch (err) {
    await undo.run();
    throw err;
  }
}

/**
 * Unplug it; unplugging one that is not plugged is success. netns: the runtime's sandbox, where a
 * macvlan child lives (the engine looks for it only in berth's own namespaces); gone or unknown: skipped.
 */
export async function detachSandbox(engine: Engine, containerId: string, ifname: string, netns = ''): Promise<void> {
  for (const ep of engine.store.listEndpoints({ containerId }).filter((e) => e.interfaceName === ifname)) {
    await releaseEndpointRelay(engine, ep.id);
    const network = engine.store.findNetwork(ep.networkId);
    const hostIfname = network ? hostEndOf(network, ep) : undefined;
    if (hostIfname) await unshapeSandbox(engine, hostIfname);
    if (netns && network && driverOf(network.driver).endpointLinkOf(network, ep).kind === 'macvlan' && existsSync(netns)) {
      await withRtnl(netns, (nl) => deleteLink(nl, ifname));
    }
  }
  await releaseEndpoints(engine, containerId, ifname);
  if (!engine.store.listEndpoints({ containerId }).length) forgetSandboxDns(engine, containerId);
}

/** The attachment as recorded, and what drifted in the kernel from it (CNI CHECK); empty: all as recorded. */
export async function checkSandbox(engine: Engine, containerId: string, ifname: string, netns: string): Promise<SandboxAttachment & { problems: string[] }> {
  const endpoint = findSandboxEndpoint(engine, containerId, ifname);
  if (!endpoint) throw new NotFoundError(`no endpoint of container "${containerId}" named "${ifname}"`);
  const network = engine.store.getNetwork(endpoint.networkId);
  const hostIfname = hostEndOf(network, endpoint);
  const ports = engine.store.listPorts({ endpointId: endpoint.id });
  const relay = await endpointRelayProblem(engine, endpoint.id);
  const problems = [...(await sandboxDrift(endpoint, network, ifname, netns)), ...(await hostDrift(engine, network, hostIfname)), ...publishedDrift(engine, ports), ...(relay ? [relay] : [])];
  return { network, endpoint, hostIfname, ports, problems };
}

/** Inside the sandbox: the interface, its MAC, its addresses, the default route of each family. */
async function sandboxDrift(ep: EndpointRecord, network: NetworkRecord, ifname: string, netns: string): Promise<string[]> {
  return withRtnl(netns, async (nl) => {
    const link = await findLink(nl, ifname);
    if (!link) return [`interface "${ifname}" is gone from the sandbox`];
    const problems: string[] = [];
    if (ep.mac && link.mac?.toLowerCase() !== ep.mac.toLowerCase()) problems.push(`"${ifname}" has MAC ${link.mac ?? 'none'}, expected ${ep.mac}`);
    const present = new Set((await listAddresses(nl, { index: link.index })).map((a) => a.cidr));
    for (const address of ep.addresses) if (!present.has(address)) problems.push(`address ${address} is missing from "${ifname}"`);
    if (network.internal) return problems;
    const driver = driverOf(network.driver);
    for (const family of [AF_INET, AF_INET6]) {
      const v6 = family === AF_INET6;
      if (!driver.mayCarryDefaultRoute(network, v6)) continue;
      const gateway = network.subnets.find((sn) => sn.subnet.includes(':') === v6)?.gateway;
      if (!gateway || !ep.addresses.some((a) => a.includes(':') === v6)) continue;
      const defaults = (await listRoutes(nl, family)).filter((r) => r.dst === 'default');
      if (!defaults.length) problems.push(`the sandbox has no IPv${v6 ? 6 : 4} default route (expected via ${gateway})`);
    }
    return problems;
  });
}

/** On the host: the veth's host end, on its network's bridge. */
async function hostDrift(engine: Engine, network: NetworkRecord, hostIfname: string | undefined): Promise<string[]> {
  if (!hostIfname) return [];
  const bridge = network.interfaceName ?? 'berth0';
  return withRtnl(engine.hostNetns, async (nl) => {
    const link = await findLink(nl, hostIfname);
    if (!link) return [`host interface "${hostIfname}" is gone`];
    const master = await findLink(nl, bridge);
    if (!master || link.master !== master.index) return [`host interface "${hostIfname}" is not a port of bridge "${bridge}"`];
    return [];
  });
}

/** berth's published-port maps hold each of the attachment's ports. */
function publishedDrift(engine: Engine, ports: PortRecord[]): string[] {
  if (!ports.length) return [];
  const table = readNftTable(BERTH_TABLE, { netns: engine.hostNetns });
  const entries = (table?.maps ?? []).filter((m) => m.name.startsWith('pub')).flatMap((m) => m.elements.map((e) => JSON.stringify(e)));
  return ports
    .filter((p) => !entries.some((e) => e.includes(`"${p.targetIp}"`) && new RegExp(`\\b${p.hostPort}\\b`).test(e)))
    .map((p) => `published port ${p.hostIp}:${p.hostPort}/${p.proto} -> ${p.targetIp}:${p.targetPort} is missing from the firewall`);
}

/**
 * CNI GC: release the sandbox attachments on a network that are not in the valid list. Only
 * runtime sandboxes are touched (an endpoint of a berth container is never this plugin's).
 * Returns the released (container id, interface name) pairs.
 */
export async function collectSandboxes(engine: Engine, networkRef: string, valid: { containerId: string; ifname: string }[]): Promise<{ containerId: string; ifname: string }[]> {
  const network = engine.store.findNetwork(networkRef);
  if (!network) return [];
  const berthContainers = new Set(engine.store.listContainers().map((c) => c.id));
  const keep = new Set(valid.map((a) => `${a.containerId}\0${a.ifname}`));
  const stale = engine.store
    .listEndpoints({ networkId: network.id })
    .filter((ep) => !berthContainers.has(ep.containerId) && !keep.has(`${ep.containerId}\0${ep.interfaceName}`));
  for (const ep of stale) await detachSandbox(engine, ep.containerId, ep.interfaceName);
  return stale.map((ep) => ({ containerId: ep.containerId, ifname: ep.interfaceName }));
}
