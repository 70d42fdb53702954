// Sandboxes that berth did not start: a network namespace handed over by a runtime (CNI ADD)
// or a benchmark. berth plugs it into a network and unplugs it again, keyed by (container id,
// interface name) as CNI does. Any berth network: the default bridge, user-defined bridges,
// macvlan, and overlay where the engine holds the cluster (the daemon).
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import { getLink } from '../kernel/links.js';
import { withRtnl } from '../kernel/rtnl.js';
import type { PortBinding } from '../portmap/index.js';
import type { EndpointRecord, NetworkRecord, PortRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { attachNetworkEndpoint, hostIfnameOf, releaseEndpoints, syncDefaultRoutes, Undo } from './endpoints.js';
import { DEFAULT_NETWORK, ensureDefaultNetwork, ensureNetworkKernel, getNetwork } from './networks.js';
import { startEndpointRelay, stopEndpointRelay } from './port-relay.js';

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
}

/** A berth network by name or id, its kernel objects ensured; overlay only with the cluster at hand. */
export async function sandboxNetwork(engine: Engine, ref: string): Promise<NetworkRecord> {
  if (ref === DEFAULT_NETWORK) return ensureDefaultNetwork(engine);
  const network = getNetwork(engine, ref);
  if (network.driver === 'overlay') {
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

const hostEndOf = (network: NetworkRecord, ep: EndpointRecord): string | undefined => (network.driver === 'bridge' ? hostIfnameOf(ep) : undefined);

/** Plug a sandbox into a network; on failure nothing is left behind. */
export async function attachSandbox(engine: Engine, req: SandboxRequest): Promise<SandboxAttachment> {
  const network = await sandboxNetwork(engine, req.network);
  if (findSandboxEndpoint(engine, req.containerId, req.ifname)) {
    throw new ConflictError(`container "${req.containerId}" already has an interface "${req.ifname}": DEL it first`);
  }
  const undo = new Undo();
  try {
    const { ip, ip6, mac, aliases } = req;
    const endpoint = await attachNetworkEndpoint(engine, network, { containerId: req.containerId, netns: req.netns, ifname: req.ifname, publish: req.publish, ...(ip ? { ip } : {}), ...(ip6 ? { ip6 } : {}), ...(mac ? { mac } : {}), ...(aliases ? { aliases } : {}) }, undo);
    await syncDefaultRoutes(engine, req.containerId, req.netns);
    const ports = engine.store.listPorts({ endpointId: endpoint.id });
    // the host's own connections to the published ports (127.0.0.1): a relay process, as for berth's containers
    startEndpointRelay(engine, endpoint.id, ports);
    undo.push(() => stopEndpointRelay(engine, endpoint.id));
    return { network, endpoint, hostIfname: hostEndOf(network, endpoint), ports };
  } catch (err) {
    await undo.run();
    throw err;
  }
}

/** Unplug it; unplugging one that is not plugged is success. */
export async function detachSandbox(engine: Engine, containerId: string, ifname: string): Promise<void> {
  for (const ep of engine.store.listEndpoints({ containerId }).filter((e) => e.interfaceName === ifname)) stopEndpointRelay(engine, ep.id);
  await releaseEndpoints(engine, containerId, ifname);
}

/** The attachment as recorded, its links checked against the kernel (CNI CHECK). */
export async function checkSandbox(engine: Engine, containerId: string, ifname: string, netns: string): Promise<SandboxAttachment> {
  const endpoint = findSandboxEndpoint(engine, containerId, ifname);
  if (!endpoint) throw new NotFoundError(`no endpoint of container "${containerId}" named "${ifname}"`);
  const network = engine.store.getNetwork(endpoint.networkId);
  const hostIfname = hostEndOf(network, endpoint);
  if (hostIfname) await withRtnl(engine.hostNetns, (nl) => getLink(nl, hostIfname));
  await withRtnl(netns, (nl) => getLink(nl, ifname));
  return { network, endpoint, hostIfname, ports: engine.store.listPorts({ endpointId: endpoint.id }) };
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
