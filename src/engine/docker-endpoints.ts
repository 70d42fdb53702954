// Docker's endpoints on berth networks (issue 14): dockerd's remote NetworkDriver endpoint calls as
// berth use cases. CreateEndpoint only checks and notes what Docker decided (addresses, MAC,
// ports); Join plugs the endpoint: a veth whose sandbox end stays in the host namespace under the
// name Join answers (dockerd moves it into its sandbox, renames and addresses it itself). The
// berth endpoint's container id is Docker's sandbox id; its interface name, SrcName.
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { NotFoundError, UserError } from '../common/errors.js';
import { macForIpv4 } from '../drivers/bridge/bridge.js';
import { hostIfnameOf } from '../drivers/bridge/spec.js';
import { driverOf } from '../drivers/registry.js';
import { parseAddress, parseCidr } from '../ipam/index.js';
import type { PortBinding } from '../portmap/index.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { checkDockerId, getDockerNetwork, releaseIpamHolds } from './docker-networks.js';
import { attachNetworkEndpoint, releaseEndpoints, Undo } from './endpoints.js';
import { deleteLink, findLink, listLinks } from '../kernel/links.js';
import { withRtnl } from '../kernel/rtnl.js';
import { publishFileText, startEndpointRelay, stopEndpointRelay } from './port-relay.js';
import { driverContext } from './driver-context.js';
import { trace } from '../common/trace.js';

/** What CreateEndpoint noted for Join (kept in a file: a berth restart in between loses nothing). */
export interface DockerEndpointRequest {
  dockerNetworkId: string;
  endpointId: string;
  /** with prefix, as Docker sends them; '' when absent */
  address: string;
  addressV6: string;
  mac: string;
  publish: PortBinding[];
}

const DOCKER_SRC_NAME = /^bth[0-9a-f]{12}$/;

/** The interface Join hands to dockerd: berth's name for it in the host namespace (IFNAMSIZ 15). */
export function srcNameOf(endpointId: string): string {
  return `bth${endpointId.slice(0, 12)}`;
}

function pendingDir(engine: Engine): string {
  return join(engine.paths.run, 'docker-plugin', 'endpoints');
}

function readPending(engine: Engine, endpointId: string): DockerEndpointRequest | undefined {
  try {
    return JSON.parse(readFileSync(join(pendingDir(engine), endpointId), 'utf8')) as DockerEndpointRequest;
  } catch {
    return undefined;
  }
}

/** The berth endpoint for a Docker endpoint id, once joined. */
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

/**
 * NetworkDriver.CreateEndpoint: checks the addresses against the network and notes the request.
 * Returns the MAC when Docker gave none (berth's choice, 02:42 + the IPv4 address, as Docker's bridge).
 */
export function createDockerEndpoint(engine: Engine, req: DockerEndpointRequest): { mac?: string } {
  checkDockerId(req.endpointId, 'EndpointID');
  const net = getDockerNetwork(engine, req.dockerNetworkId);
  if (!req.address && !req.addressV6) throw new UserError(`endpoint ${req.endpointId.slice(0, 12)} has no address: berth networks need Docker's IPAM or berth's (not --ipam-driver null)`);
  const ip = req.address ? checkInSubnet(net, req.address, 'Interface.Address') : undefined;
  if (req.addressV6) checkInSubnet(net, req.addressV6, 'Interface.AddressIPv6');
  const mac = req.mac || (ip ? macForIpv4(ip) : '');
  if (findDockerEndpoint(engine, req.endpointId)) return req.mac || !mac ? {} : { mac };
  mkdirSync(pendingDir(engine), { recursive: true, mode: 0o700 });
  writeFileSync(join(pendingDir(engine), req.endpointId), JSON.stringify({ ...req, mac }), { mode: 0o600 });
  return req.mac || !mac ? {} : { mac };
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

/** NetworkDriver.Join: the berth endpoint, its veth (sandbox end left for dockerd) and published ports. On failure nothing is left. */
export async function joinDockerEndpoint(engine: Engine, dockerNetworkId: string, endpointId: string, sandboxKey: string): Promise<DockerJoin> {
  checkDockerId(endpointId, 'EndpointID');
  const net = getDockerNetwork(engine, dockerNetworkId);
  const containerId = sandboxIdOf(sandboxKey);
  const srcName = srcNameOf(endpointId);
  const joined = findDockerEndpoint(engine, endpointId);
  if (joined) {
    if (joined.containerId !== containerId) throw new UserError(`endpoint ${endpointId.slice(0, 12)} already joined sandbox ${joined.containerId}`);
    return { srcName, ...gatewaysOf(net) };
  }
  const req = readPending(engine, endpointId);
  if (!req || req.dockerNetworkId !== dockerNetworkId) throw new NotFoundError(`endpoint ${endpointId.slice(0, 12)} was not created on network ${dockerNetworkId.slice(0, 12)} (CreateEndpoint first)`);
  const ip = req.address ? req.address.split('/')[0] : undefined;
  const ip6 = req.addressV6 ? req.addressV6.split('/')[0] : undefined;
  const store = engine.store;
  // addresses berth's IPAM handed to Docker become the endpoint's
  await releaseIpamHolds(engine, net, [ip, ip6].flatMap((a) => (a ? [parseAddress(a).text] : [])));
  trace('docker join: ipam holds released');
  const undo = new Undo();
  try {
    const ep = await attachNetworkEndpoint(engine, net, {
      containerId,
      netns: '',
      ifname: srcName,
      publish: req.publish,
      handOver: true,
      ...(ip ? { ip } : {}),
      ...(ip6 ? { ip6 } : {}),
      ...(req.mac ? { mac: req.mac } : {}),
    }, undo);
    trace('docker join: endpoint attached');
    // the host's own connections to the published ports (127.0.0.1): a relay, as for CNI sandboxes;
    // no relayed port (most connects), no relay and no files
    const ports = req.publish.length ? store.listPorts({ endpointId: ep.id }) : [];
    if (publishFileText(ports)) {
      startEndpointRelay(engine, ep.id, ports);
      undo.push(() => stopEndpointRelay(engine, ep.id));
      trace('docker join: relay');
    }
  } catch (err) {
    await undo.run();
    throw err;
  }
  return { srcName, ...gatewaysOf(net) };
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
  if (ep) await releaseDockerEndpoint(engine, ep);
  rmSync(join(pendingDir(engine), endpointId), { force: true });
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
  const docker = engine.store.listEndpoints().filter((ep) => DOCKER_SRC_NAME.test(ep.interfaceName) && engine.store.findContainer(ep.containerId) === undefined);
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
