// Endpoints: a sandbox's leg on a network (address, veth, published ports), attached with an
// undo log and released idempotently. Used by `berth run` and by the CNI front end.
import { ConflictError, SystemError, UserError } from '../common/errors.js';
import { detachEndpoint } from '../drivers/bridge/bridge.js';
import { detachVethEndpoint } from '../drivers/bridge/driver.js';
import { hostIfnameOf } from '../drivers/bridge/spec.js';
import type { PublishedPort } from '../drivers/bridge/firewall.js';
import type { PortGuard } from '../drivers/bridge/spoof-guard.js';
import { driverOf, isClusterNetwork } from '../drivers/registry.js';
import { allocateAddress, validateSubnetConfig } from '../ipam/index.js';
import type { PortBinding } from '../portmap/index.js';
import type { EndpointPlan } from '../drivers/plan.js';
import type { EndpointRecord, NetworkRecord, PortRecord } from '../store/store.js';
import { newId } from '../store/store.js';
import type { Engine } from './context.js';
import { listLinks } from '../kernel/links.js';
import { AF_INET, AF_INET6, addRoute, deleteRoute, listRoutes } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import { driverContext } from './driver-context.js';
import { checkHostPortFree, pickPort } from './host-ports.js';
import { attachGatewayLeg, claimAndPublishEndpoint, releaseOverlayEndpoint, requireCluster } from './overlay.js';
import { trace } from '../common/trace.js';
import { deferVeths } from './batch-release.js';

export { hostIfnameOf };

/** What run undoes if a later step fails, newest first. */
export class Undo {
  private steps: (() => Promise<void> | void)[] = [];
  push(step: () => Promise<void> | void): void {
    this.steps.unshift(step);
  }
  async run(): Promise<void> {
    for (const step of this.steps) {
      try {
        await step();
      } catch {
        // keep undoing: one failed step must not leave the rest behind
      }
    }
  }
}

export function toPublished(p: PortRecord): PublishedPort {
  return { proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, targetIp: p.targetIp, targetPort: p.targetPort };
}

export interface AttachRequest {
  containerId: string;
  /** the sandbox's network namespace */
  netns: string;
  /** name inside the sandbox */
  ifname: string;
  publish: PortBinding[];
  mac?: string;
  /** static addresses (--ip, --ip6) */
  ip?: string;
  ip6?: string;
  aliases?: string[];
  gwPriority?: number;
  /** notes for the user (e.g. ports that cannot be published here) are pushed here */
  warnings?: string[];
  /** the runtime moves the sandbox end itself (Docker's plugin Join): see EndpointPlug.handOver */
  handOver?: boolean;
}

const prefixOf = (cidr: string): string => cidr.split('/')[1] ?? '';
const isV6 = (cidr: string): boolean => cidr.includes(':');

/**
 * Plug a sandbox into a network of any driver: the driver's plan first (what the endpoint
 * reserves), host ports, addresses from this host's store or the cluster's by the network's
 * scope, the record, then the kernel through the driver, and the gateway leg where the driver
 * asks for one. Each step pushes its undo, so the caller can roll everything back if a later
 * step fails. The default route is not set here: see syncDefaultRoutes.
 */
export async function attachNetworkEndpoint(engine: Engine, network: NetworkRecord, req: AttachRequest, undo: Undo): Promise<EndpointRecord> {
  // a cluster endpoint's claim, publication and local commit never interleave with a resync of
  // this host's cluster records (overlay agent), which would remove it as stale
  if (isClusterNetwork(network)) return requireCluster(engine).localChange(() => attachSteps(engine, network, req, undo));
  return attachSteps(engine, network, req, undo);
}

async function attachSteps(engine: Engine, network: NetworkRecord, req: AttachRequest, undo: Undo): Promise<EndpointRecord> {
  const store = engine.store;
  const driver = driverOf(network.driver);
  const ctx = driverContext(engine);
  const { v4, v6 } = endpointSubnets(network, req);
  const plan = await driver.planEndpoint(ctx, network, { publish: req.publish.length, ...(req.mac ? { mac: req.mac } : {}) });
  if (req.publish.length && !plan.publishes && plan.portsDiscarded) req.warnings?.push(plan.portsDiscarded);
  trace('endpoint: planned');
  const endpointId = newId();
  const bindings = await pickBindings(engine, plan, req.publish);
  // a swarm-scoped network's addresses are the cluster's: claimed and published there first, in
  // one write, so other hosts program their entries while this one attaches (a frame sent before
  // the veth is up is dropped); recorded here too; a failed attach unpublishes
  const claimed = isClusterNetwork(network) ? await claimAndPublishEndpoint(engine, network, endpointId, req, v4, v6, plan.macOf, undo) : undefined;
  const ep = store.transaction(() => {
    const holder = plan.exclusive ? store.listEndpoints({ networkId: network.id })[0] : undefined;
    if (plan.exclusive && holder) throw new ConflictError(plan.exclusive(store.findContainer(holder.containerId)?.name ?? holder.containerId.slice(0, 12)));
    const addresses = claimed
      ? claimed.map((c) => {
          store.allocateAddress(network.id, c.subnet, endpointId, { static: c.address });
          return `${c.address}/${prefixOf(c.subnet)}`;
        })
      : reserveAddresses(engine, network, endpointId, req, v4, v6);
    const rec = store.createEndpoint({
      id: endpointId,
      networkId: network.id,
      containerId: req.containerId,
      interfaceName: req.ifname,
      mac: plan.macOf(addresses),
      addresses,
      aliases: req.aliases ?? [],
      gwPriority: req.gwPriority ?? 0,
    });
    reserveBindings(engine, network, rec, bindings);
    return rec;
  });
  trace('endpoint: store transaction');
  undo.push(() => void store.deleteEndpoint(endpointId));
  for (const b of bindings) await checkHostPortFree(b.proto, b.hostIp, b.hostPort);
  const ports = bindings.length ? store.listPorts({ endpointId }).map(toPublished) : [];
  trace('endpoint: host ports checked');
  await driver.attachEndpoint(ctx, network, ep, { netns: req.netns, ports, ...(req.mac ? { requestedMac: req.mac } : {}), ...(req.handOver ? { handOver: true } : {}) }, undo);
  trace('endpoint: driver attached');
  // a runtime that moves the interface itself (Docker) adds its own way out (docker_gwbridge)
  if (plan.gatewayLeg && !req.handOver) await attachGatewayLeg(engine, network, req, undo);
  return ep;
}

export type HostBinding = PortBinding & { hostPort: number };

/** The bindings with their host ports (picked where none was given), checked against host processes before anything is reserved; none where the plan publishes nothing. */
export async function pickBindings(engine: Engine, plan: Pick<EndpointPlan, 'publishes' | 'defaultHostIp'>, publish: readonly PortBinding[]): Promise<HostBinding[]> {
  return Promise.all(
    (plan.publishes ? publish : []).map(async (b) => {
      const hostIp = b.hostIp ?? plan.defaultHostIp;
      return { ...b, hostIp, hostPort: await pickPort(engine, { ...b, hostIp }) };
    }),
  );
}

/** Reserve the bindings' host ports for the endpoint's addresses; call inside a store transaction. */
export function reserveBindings(engine: Engine, network: NetworkRecord, ep: EndpointRecord, bindings: readonly HostBinding[]): void {
  for (const b of bindings) {
    // a port published on every address goes to the container's IPv4 and IPv6 addresses alike
    const targets = ep.addresses.filter((a) => (b.hostIp === undefined ? true : isV6(b.hostIp) === isV6(a)));
    if (!targets.length) throw new UserError(`cannot publish ${b.hostIp}:${b.hostPort}: the container has no address of that IP family on "${network.name}"`);
    for (const t of targets) {
      engine.store.reservePort({
        proto: b.proto,
        hostIp: b.hostIp ?? (isV6(t) ? '::' : '0.0.0.0'),
        hostPort: b.hostPort,
        containerId: ep.containerId,
        endpointId: ep.id,
        targetIp: t.split('/')[0] ?? '',
        targetPort: b.containerPort,
      });
    }
  }
}

export type SubnetOf = NetworkRecord['subnets'][number] | undefined;

/**
 * What an endpoint may send from (drivers/bridge/spoof-guard.ts), or undefined when its network's
 * driver guards no port or allows spoofing (`-o allow_spoofing=true`), or it has no known MAC.
 */
export function portGuardOf(network: NetworkRecord, ep: EndpointRecord): PortGuard | undefined {
  return driverOf(network.driver).portGuardOf(network, ep);
}

/** The network's first subnet of each family; --ip/--ip6 need the family on the network. */
export function endpointSubnets(network: NetworkRecord, req: Pick<AttachRequest, 'ip' | 'ip6'>): { v4: SubnetOf; v6: SubnetOf } {
  const v4 = network.subnets.find((s) => !isV6(s.subnet));
  const v6 = network.subnets.find((s) => isV6(s.subnet));
  if (!v4 && !v6) throw new SystemError(`network "${network.name}" has no subnet`);
  if (req.ip6 && !v6) throw new UserError(`--ip6 "${req.ip6}" given, but network "${network.name}" has no IPv6 subnet (create it with --ipv6)`);
  if (req.ip && !v4) throw new UserError(`--ip "${req.ip}" given, but network "${network.name}" has no IPv4 subnet`);
  return { v4, v6 };
}

/**
 * Refuse an --ip/--ip6 the network cannot give (wrong family, outside the subnet, reserved, in use)
 * before anything is written; reserveAddresses checks again inside its transaction (a race).
 * A cluster network's addresses are claimed in the cluster store: checked there, at the claim.
 */
export function checkRequestedAddresses(engine: Engine, network: NetworkRecord, req: Pick<AttachRequest, 'ip' | 'ip6'>): void {
  if (!req.ip && !req.ip6) return;
  const { v4, v6 } = endpointSubnets(network, req);
  if (isClusterNetwork(network)) return;
  const allocations = engine.store.listAllocations(network.id);
  for (const [subnet, wanted] of [[v4, req.ip], [v6, req.ip6]] as const) {
    if (!subnet || !wanted) continue;
    const used = allocations.filter((a) => a.subnet === subnet.subnet).map((a) => a.address);
    allocateAddress(validateSubnetConfig(subnet), used, wanted);
  }
}

/** Reserve the endpoint's addresses (`ip/prefix`); call inside a store transaction. */
export function reserveAddresses(engine: Engine, network: NetworkRecord, endpointId: string, req: AttachRequest, v4: SubnetOf, v6: SubnetOf): string[] {
  const addresses: string[] = [];
  // an address outside the ip-range is allowed when asked for explicitly (Docker)
  const pick = (subnet: SubnetOf, wanted: string | undefined) => {
    if (!subnet) return;
    const address = engine.store.allocateAddress(network.id, subnet.subnet, endpointId, wanted ? { static: wanted } : {});
    addresses.push(`${address}/${prefixOf(subnet.subnet)}`);
  };
  pick(v4, req.ip);
  pick(v6, req.ip6);
  return addresses;
}

export interface ReleaseOptions {
  /** the caller deletes the sandbox's namespace right after, and nothing else holds it */
  sandboxGoing?: boolean;
}

/**
 * Unplug and forget an endpoint of a local network (net undefined: its network is gone from the
 * store, its veth is still removed); returns a veth's host end left to the sandbox's deletion.
 */
export async function releaseLocalEndpoint(engine: Engine, net: NetworkRecord | undefined, ep: EndpointRecord, opts: ReleaseOptions): Promise<string | undefined> {
  const store = engine.store;
  const ctx = driverContext(engine);
  const unplug = {
    netns: opts.sandboxGoing ? '' : engine.netnsPath(ep.containerId),
    sandboxGoing: opts.sandboxGoing === true,
    ports: store.listPorts({ endpointId: ep.id }).map(toPublished),
  };
  const left = net ? await driverOf(net.driver).detachEndpoint(ctx, net, ep, unplug) : await detachVethEndpoint(ctx, ep, unplug, false, undefined);
  store.deleteEndpoint(ep.id);
  return left;
}

/**
 * Unpublish, unplug and forget a container's endpoints (all, or the one called ifname). Idempotent.
 * sandboxGoing: the caller deletes the sandbox's namespace right after, and nothing else holds it;
 * the host ends of veths left to that deletion are returned (see finishSandboxVeths).
 */
export async function releaseEndpoints(engine: Engine, containerId: string, ifname?: string, opts: ReleaseOptions = {}): Promise<string[]> {
  const store = engine.store;
  const leftToNetns: string[] = [];
  for (const ep of store.listEndpoints({ containerId })) {
    if (ifname !== undefined && ep.interfaceName !== ifname) continue;
    const net = store.findNetwork(ep.networkId);
    // a cluster network's endpoint also goes from the cluster store (and takes its gateway-bridge leg along)
    if (net && isClusterNetwork(net)) {
      await releaseOverlayEndpoint(engine, net, ep);
      continue;
    }
    const left = await releaseLocalEndpoint(engine, net, ep, opts);
    if (left) leftToNetns.push(left);
  }
  if (ifname === undefined) store.releasePorts({ containerId });
  return leftToNetns;
}

/**
 * After the sandbox's namespace was deleted: the kernel destroys its veth pairs in a background
 * work queue, which under load finishes after the command returned. Delete whatever host end is
 * still there, so a removal leaves nothing behind when it returns (a gone link costs one lookup).
 */
export async function finishSandboxVeths(engine: Engine, hostIfnames: string[]): Promise<void> {
  // many containers released at once: awaited together at the batch's end
  if (deferVeths(hostIfnames)) return;
  for (const name of hostIfnames) await detachEndpoint(engine.hostNetns, name);
}

const ifIndex = (name: string): number => Number(/\d+$/.exec(name)?.[0] ?? 0);

/** The lowest free ethN of a container. */
export function nextInterfaceName(engine: Engine, containerId: string): string {
  const used = new Set(engine.store.listEndpoints({ containerId }).map((e) => e.interfaceName));
  for (let i = 0; ; i++) if (!used.has(`eth${i}`)) return `eth${i}`;
}

/**
 * One default route per family: via the endpoint with the highest gw-priority whose network has
 * a gateway of that family (ties: the lowest ethN, i.e. the first network), as Docker 28 does.
 */
export async function syncDefaultRoutes(engine: Engine, containerId: string, netns: string): Promise<void> {
  const store = engine.store;
  const candidates = store
    .listEndpoints({ containerId })
    .map((ep) => ({ ep, net: store.findNetwork(ep.networkId) }))
    .filter((x): x is { ep: EndpointRecord; net: NetworkRecord } => x.net !== undefined && !x.net.internal)
    .sort((a, b) => (b.ep.gwPriority ?? 0) - (a.ep.gwPriority ?? 0) || ifIndex(a.ep.interfaceName) - ifIndex(b.ep.interfaceName));
  await withRtnl(netns, async (nl) => {
    // the links once, not once per family (dumps one after the other: the netlink package
    // follows one multipart answer per socket at a time)
    const links = await listLinks(nl);
    const routes = [await listRoutes(nl, AF_INET), await listRoutes(nl, AF_INET6)];
    for (const [i, family] of [AF_INET, AF_INET6].entries()) {
      const v6 = family === AF_INET6;
      let chosen: { gateway: string; ifname: string } | undefined;
      for (const { ep, net } of candidates) {
        if (!driverOf(net.driver).mayCarryDefaultRoute(net, v6)) continue;
        const subnet = net.subnets.find((s) => isV6(s.subnet) === v6);
        if (!subnet?.gateway || !ep.addresses.some((a) => isV6(a) === v6)) continue;
        chosen = { gateway: subnet.gateway, ifname: ep.interfaceName };
        break;
      }
      const want = chosen ? links.find((l) => l.name === chosen.ifname)?.index : undefined;
      for (const r of routes[i] ?? []) {
        if (r.dst !== 'default') continue;
        if (chosen && r.gateway === chosen.gateway && r.oif === want) continue;
        await deleteRoute(nl, { dst: 'default', family, ...(r.gateway ? { gateway: r.gateway } : {}), ...(r.oif ? { oif: r.oif } : {}) });
      }
      if (chosen && want) await addRoute(nl, { dst: 'default', gateway: chosen.gateway, oif: want }, { replace: true });
    }
  });
}
