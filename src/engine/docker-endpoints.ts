// Docker's endpoints on berth networks (issue 14): dockerd's remote NetworkDriver endpoint calls as
// berth use cases. CreateEndpoint checks what Docker decided (addresses, MAC) and answers at once;
// the endpoint is plugged right after, while dockerd records it (it idles ~8 ms before Join): a
// veth whose sandbox end stays in the host namespace under the name Join answers (dockerd moves
// it into its sandbox, renames and addresses it itself). Until Join the berth endpoint belongs to
// a placeholder container id; Join hands it to Docker's sandbox id. Its interface name is SrcName.
// Published ports come later, with ProgramExternalConnectivity (docker-ports.ts).
import { basename } from 'node:path';
import { NotFoundError, UserError } from '../common/errors.js';
import { macForIpv4 } from '../drivers/bridge/bridge.js';
import { hostIfnameOf } from '../drivers/bridge/spec.js';
import { driverOf } from '../drivers/registry.js';
import { parseAddress, parseCidr } from '../ipam/index.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { checkDockerId, getDockerNetwork, releaseIpamHolds } from './docker-networks.js';
import { attachNetworkEndpoint, releaseEndpoints, Undo } from './endpoints.js';
import { deleteLink, findLink, listLinks } from '../kernel/links.js';
import { withRtnl } from '../kernel/rtnl.js';
import { stopEndpointRelay } from './port-relay.js';
import { driverContext } from './driver-context.js';
import { trace } from '../common/trace.js';

/** What CreateEndpoint was given. */
export interface DockerEndpointRequest {
  dockerNetworkId: string;
  endpointId: string;
  /** with prefix, as Docker sends them; '' when absent */
  address: string;
  addressV6: string;
  mac: string;
}

const DOCKER_SRC_NAME = /^bth[0-9a-f]{12}$/;
/** The container id of an endpoint plugged at CreateEndpoint, before Join names Docker's sandbox. */
const UNJOINED_PREFIX = 'docker-unjoined-';
const unjoinedIdOf = (endpointId: string) => `${UNJOINED_PREFIX}${endpointId.slice(0, 12)}`;
export const isUnjoined = (ep: EndpointRecord): boolean => ep.containerId.startsWith(UNJOINED_PREFIX);

/** Why the plug after a CreateEndpoint failed: Join (dockerd's next call for it) answers it. */
const plugFailures = new Map<string, Error>();

/** The interface Join hands to dockerd: berth's name for it in the host namespace (IFNAMSIZ 15). */
export function srcNameOf(endpointId: string): string {
  return `bth${endpointId.slice(0, 12)}`;
}

/** The berth endpoint for a Docker endpoint id, once plugged. */
export function findDockerEndpoint(engine: Engine, endpointId: string): EndpointRecord | undefined {
  const name = srcNameOf(endpointId);
  return engine.store.listEndpoints().find((e) => e.interfaceName === name);
}

function checkInSubnet(net: NetworkRecord, cidrText: string, what: string): string {
  const ip = parseAddress(cidrText.split('/')[0] ?? '', what);
  const subnet = net.subnets.find((s) => {
    const c = parseCidr(s.subnet);
    return c.family === ip.family && ip.value >= c.first && ip.value <= c.last;
  });
  if (!subnet) throw new UserError(`${what} "${cidrText}" is in no subnet of berth network "${net.name}" (${net.subnets.map((s) => s.subnet).join(', ')})`);
  return ip.text;
}

export interface DockerEndpointCreated {
  /** the MAC berth chose when Docker gave none (02:42 + the IPv4 address, as Docker's bridge) */
  mac?: string;
  /** the plug, begun once the answer is out; never rejects (a failure is Join's answer) */
  plugged: Promise<void>;
}

/** NetworkDriver.CreateEndpoint: checks the addresses against the network, then plugs the endpoint. */
export function createDockerEndpoint(engine: Engine, req: DockerEndpointRequest): DockerEndpointCreated {
  checkDockerId(req.endpointId, 'EndpointID');
  const net = getDockerNetwork(engine, req.dockerNetworkId);
  if (!req.address && !req.addressV6) throw new UserError(`endpoint ${req.endpointId.slice(0, 12)} has no address: berth networks need Docker's IPAM or berth's (not --ipam-driver null)`);
  const ip = req.address ? checkInSubnet(net, req.address, 'Interface.Address') : undefined;
  const ip6 = req.addressV6 ? checkInSubnet(net, req.addressV6, 'Interface.AddressIPv6') : undefined;
  const mac = req.mac || (ip ? macForIpv4(ip) : '');
  const answer = req.mac || !mac ? {} : { mac };
  // a replayed call: plugged already
  if (findDockerEndpoint(engine, req.endpointId)) return { ...answer, plugged: Promise.resolve() };
  plugFailures.delete(req.endpointId);
  // setImmediate: the answer goes out before the plug's synchronous parts (nft) hold the event loop
  const plugged = new Promise<void>((resolve) => setImmediate(resolve))
    .then(() => plugDockerEndpoint(engine, net, req, ip, ip6))
    .catch((err: unknown) => void plugFailures.set(req.endpointId, err instanceof Error ? err : new Error(String(err))));
  return { ...answer, plugged };
}

/** The berth endpoint and its veth (sandbox end left for dockerd). On failure nothing is left. */
async function plugDockerEndpoint(engine: Engine, net: NetworkRecord, req: DockerEndpointRequest, ip: string | undefined, ip6: string | undefined): Promise<void> {
  const ips = [ip, ip6].filter((a): a is string => a !== undefined);
  await releaseStaleHolders(engine, net, ips);
  // addresses berth's IPAM handed to Docker become the endpoint's
  await releaseIpamHolds(engine, net, ips);
  trace('docker endpoint: ipam holds released');
  const undo = new Undo();
  try {
    await attachNetworkEndpoint(engine, net, {
      containerId: unjoinedIdOf(req.endpointId),
      netns: '',
      ifname: srcNameOf(req.endpointId),
      publish: [],
      handOver: true,
      ...(ip ? { ip } : {}),
      ...(ip6 ? { ip6 } : {}),
      ...(req.mac ? { mac: req.mac } : {}),
    }, undo);
    trace('docker endpoint: plugged');
  } catch (err) {
    await undo.run();
    throw err;
  }
}

/**
 * Docker gave these addresses to a new endpoint, so an endpoint of Docker's still holding one is
 * stale: a dockerd killed with -9 starts its containers again without deleting their old
 * endpoints (its cleanup fails before the driver is called). Docker's IPAM never hands out an
 * address of a live endpoint, and berth's refuses one held by any endpoint (RequestAddress), so
 * the holder is released. A holder that is not Docker's (berth's own containers) keeps it.
 */
async function releaseStaleHolders(engine: Engine, net: NetworkRecord, ips: readonly string[]): Promise<void> {
  const holders = engine.store
    .listEndpoints({ networkId: net.id })
    .filter((ep) => DOCKER_SRC_NAME.test(ep.interfaceName) && ep.addresses.some((a) => ips.includes(parseAddress(a.split('/')[0] ?? '').text)));
  for (const ep of holders) await releaseDockerEndpoint(engine, ep);
}

export interface DockerJoin {
  srcName: string;
  gateway?: string;
  gatewayV6?: string;
}

/** The sandbox id from Docker's sandbox key (/var/run/docker/netns/<12 hex>): the berth endpoint's container id. */
function sandboxIdOf(sandboxKey: string): string {
  const id = basename(sandboxKey);
  if (!sandboxKey.startsWith('/') || !/^[0-9a-f]{12,64}$/.test(id)) {
    throw new UserError(`SandboxKey "${sandboxKey}" is not a Docker sandbox path (/…/netns/<hex id>)`);
  }
  return id;
}

function gatewaysOf(net: NetworkRecord): Omit<DockerJoin, 'srcName'> {
  if (net.internal) return {};
  const driver = driverOf(net.driver);
  const gw = (v6: boolean) => (driver.mayCarryDefaultRoute(net, v6) ? net.subnets.find((s) => s.subnet.includes(':') === v6)?.gateway : undefined);
  const v4 = gw(false);
  const v6 = gw(true);
  return { ...(v4 ? { gateway: v4 } : {}), ...(v6 ? { gatewayV6: v6 } : {}) };
}

/**
 * NetworkDriver.Join: the plugged endpoint becomes the sandbox's; dockerd moves its interface.
 * Only reads before the answer: the sandbox id is recorded once it is out (recorded), which the
 * plugin's next call waits for.
 */
export function joinDockerEndpoint(engine: Engine, dockerNetworkId: string, endpointId: string, sandboxKey: string): DockerJoin & { recorded: Promise<void> } {
  checkDockerId(endpointId, 'EndpointID');
  const net = getDockerNetwork(engine, dockerNetworkId);
  const containerId = sandboxIdOf(sandboxKey);
  const failed = plugFailures.get(endpointId);
  if (failed) {
    plugFailures.delete(endpointId);
    throw failed;
  }
  const ep = findDockerEndpoint(engine, endpointId);
  if (!ep || ep.networkId !== net.id) throw new NotFoundError(`endpoint ${endpointId.slice(0, 12)} was not created on network ${dockerNetworkId.slice(0, 12)} (CreateEndpoint first)`);
  let recorded = Promise.resolve();
  if (ep.containerId !== containerId) {
    if (!isUnjoined(ep)) throw new UserError(`endpoint ${endpointId.slice(0, 12)} already joined sandbox ${ep.containerId}`);
    recorded = new Promise<void>((resolve) => setImmediate(resolve)).then(() => engine.store.setEndpointContainer(ep.id, containerId));
  }
  return { srcName: srcNameOf(endpointId), ...gatewaysOf(net), recorded };
}

async function releaseDockerEndpoint(engine: Engine, ep: EndpointRecord): Promise<void> {
  stopEndpointRelay(engine, ep.id);
  await releaseEndpoints(engine, ep.containerId, ep.interfaceName);
  // dockerd moves the sandbox end back to the host on Leave: a macvlan child is not deleted with a veth's host end
  await withRtnl(engine.hostNetns, async (nl) => {
    if (await findLink(nl, ep.interfaceName)) await deleteLink(nl, ep.interfaceName);
  });
}

/** NetworkDriver.DeleteEndpoint: unplug and forget it. Gone already: success. */
export async function deleteDockerEndpoint(engine: Engine, endpointId: string): Promise<void> {
  checkDockerId(endpointId, 'EndpointID');
  const ep = findDockerEndpoint(engine, endpointId);
  plugFailures.delete(endpointId);
  if (ep) await releaseDockerEndpoint(engine, ep);
}

export interface DockerEndpointProblem {
  ep: EndpointRecord;
  problem: string;
  action: string;
  repair: () => Promise<void>;
}

/**
 * `system check` of Docker's endpoints. A leftover: its sandbox is gone without a DeleteEndpoint
 * reaching berth (docker rm while the plugin was down): dockerd moved the sandbox end back to the
 * host namespace under its SrcName, or the pair went with the sandbox's namespace (an endpoint
 * between Join and dockerd's move looks the same for a moment: the daemon checks before it
 * serves the plugin). A live one: its veth must sit on its network's bridge.
 */
export async function dockerEndpointProblems(engine: Engine, which: 'leftovers' | 'live'): Promise<DockerEndpointProblem[]> {
  // an endpoint not joined yet has its sandbox end in the host namespace by design (a dockerd that
  // died before Join deletes it when it starts again: libnetwork cleans its unjoined endpoints)
  const docker = engine.store
    .listEndpoints()
    .filter((ep) => DOCKER_SRC_NAME.test(ep.interfaceName) && !isUnjoined(ep) && engine.store.findContainer(ep.containerId) === undefined);
  if (!docker.length) return [];
  const links = await withRtnl(engine.hostNetns, (nl) => listLinks(nl));
  const byName = new Map(links.map((l) => [l.name, l]));
  const out: DockerEndpointProblem[] = [];
  const leftover = (ep: EndpointRecord, problem: string) => {
    if (which === 'leftovers') out.push({ ep, problem, action: 'released its veth, addresses and ports', repair: () => releaseDockerEndpoint(engine, ep) });
  };
  for (const ep of docker) {
    if (byName.has(ep.interfaceName)) {
      leftover(ep, `its sandbox end ${ep.interfaceName} is back in the host namespace: Docker's sandbox ${ep.containerId} is gone`);
      continue;
    }
    const net = engine.store.findNetwork(ep.networkId);
    const link = net ? driverOf(net.driver).endpointLinkOf(net, ep) : undefined;
    if (!net || link?.kind !== 'veth') continue;
    if (!byName.has(link.hostIfname)) {
      leftover(ep, `its veth ${link.hostIfname} is gone with Docker's sandbox ${ep.containerId}`);
      continue;
    }
    if (which === 'leftovers') continue;
    // the sandbox end is in dockerd's namespace, which berth does not open: only the host side is checked
    const found = await driverOf(net.driver).endpointProblem(driverContext(engine), net, ep, { sandboxNetns: '', links: byName });
    if (found?.repair && found.action) out.push({ ep, problem: found.problem, action: found.action, repair: found.repair });
    else if (found) out.push({ ep, problem: found.problem, action: '', repair: async () => undefined });
  }
  return out;
}

/** NetworkDriver.EndpointOperInfo: what berth made of it (shown by docker inspect). */
export function dockerEndpointInfo(engine: Engine, endpointId: string): Record<string, unknown> {
  checkDockerId(endpointId, 'EndpointID');
  const ep = findDockerEndpoint(engine, endpointId);
  if (!ep) return {};
  const net = engine.store.findNetwork(ep.networkId);
  return {
    'berth.network': net?.name ?? ep.networkId,
    'berth.endpoint': ep.id,
    'berth.host-interface': net ? driverOf(net.driver).endpointLinkOf(net, ep).hostIfname : hostIfnameOf(ep),
    'berth.ports': engine.store.listPorts({ endpointId: ep.id }).map((p) => `${p.hostIp}:${p.hostPort}->${p.targetIp}:${p.targetPort}/${p.proto}`),
  };
}
