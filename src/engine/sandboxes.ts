// Sandboxes that berth did not start: a network namespace handed over by a runtime (CNI ADD)
// or a benchmark. berth plugs it into a network and unplugs it again, keyed by (container id,
// interface name) as CNI does.
import { NotFoundError } from '../common/errors.js';
import { getLink } from '../kernel/links.js';
import { withRtnl } from '../kernel/rtnl.js';
import type { PortBinding } from '../portmap/index.js';
import type { EndpointRecord, NetworkRecord, PortRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { attachBridgeEndpoint, hostIfnameOf, releaseEndpoints, syncDefaultRoutes, Undo } from './endpoints.js';
import { DEFAULT_NETWORK, ensureDefaultNetwork } from './networks.js';
import { startEndpointRelay, stopEndpointRelay } from './port-relay.js';

export interface SandboxAttachment {
  network: NetworkRecord;
  endpoint: EndpointRecord;
  hostIfname: string;
  ports: PortRecord[];
}

export interface SandboxRequest {
  containerId: string;
  netns: string;
  ifname: string;
  network: string;
  publish: PortBinding[];
}

async function networkFor(engine: Engine, name: string): Promise<NetworkRecord> {
  if (name === DEFAULT_NETWORK) return ensureDefaultNetwork(engine);
  throw new NotFoundError(`network "${name}" not found: only the default "${DEFAULT_NETWORK}" network exists so far`);
}

/** Plug a sandbox into a network; on failure nothing is left behind. */
export async function attachSandbox(engine: Engine, req: SandboxRequest): Promise<SandboxAttachment> {
  const network = await networkFor(engine, req.network);
  const undo = new Undo();
  try {
    const endpoint = await attachBridgeEndpoint(engine, network, req, undo);
    await syncDefaultRoutes(engine, req.containerId, req.netns);
    const ports = engine.store.listPorts({ endpointId: endpoint.id });
    // the host's own connections to the published ports (127.0.0.1): a relay process, as for berth's containers
    startEndpointRelay(engine, endpoint.id, ports);
    undo.push(() => stopEndpointRelay(engine, endpoint.id));
    return { network, endpoint, hostIfname: hostIfnameOf(endpoint), ports };
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

/** The attachment as recorded, checked against the kernel (CNI CHECK). */
export async function checkSandbox(engine: Engine, containerId: string, ifname: string, netns: string): Promise<SandboxAttachment> {
  const endpoint = engine.store.listEndpoints({ containerId }).find((e) => e.interfaceName === ifname);
  if (!endpoint) throw new NotFoundError(`no endpoint of container "${containerId}" named "${ifname}"`);
  const network = engine.store.getNetwork(endpoint.networkId);
  const hostIfname = hostIfnameOf(endpoint);
  await withRtnl(engine.hostNetns, (nl) => getLink(nl, hostIfname));
  await withRtnl(netns, (nl) => getLink(nl, ifname));
  return { network, endpoint, hostIfname, ports: engine.store.listPorts({ endpointId: endpoint.id }) };
}
