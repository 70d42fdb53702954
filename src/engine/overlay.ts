// Overlay networks in the engine: create/remove through the cluster store, a local mirror of
// each cluster network in the host's store (so `network ls/inspect`, `run --network`, DNS and
// repair see it like any other network), endpoints whose addresses come from the cluster's
// compare-and-swap IPAM, and Docker's second leg on the per-host gateway bridge.
//
// The cluster is reached only through engine.cluster, which a daemon started with
// --cluster-store sets (drivers/overlay/agent.ts, started through engine/overlay-agent.ts). A daemonless CLI has none: overlay
// operations fail with a message saying what is needed. The mirror record carries the VNI in
// Docker's option key, so the kernel side can be rebuilt from the local record alone.
import { ConflictError, ForbiddenError, NotFoundError, SystemError, UserError, quote } from '../common/errors.js';
import { trace, tracing } from '../common/trace.js';
import type { OverlayCluster } from '../drivers/overlay/cluster.js';
import { WIREGUARD_OVERHEAD } from '../drivers/overlay/overlay-encryption.js';
import {
  VXLAN_OVERHEAD, overlayNames, vxlanOverhead, type OverlaySpec,
} from '../drivers/overlay/overlay.js';
import { checkAgainstHost, hostUsedSubnets } from './host-subnets.js';
import { overlaySubnets } from './overlay-subnets.js';
import { cidrsOverlap, firstHostAddress, parseCidr } from '../ipam/index.js';
import type { ClusterNetworkRecord, ClusterStore } from '../store/cluster.js';
import { ClusterUnreachableError } from '../store/cluster-errors.js';
import { tunnelSubnetOf } from './tunnel-subnet.js';
import { NEEDS_CLUSTER, VNI_OPTION, isEncrypted, overlayOptionsOf } from '../drivers/overlay/options.js';
import type { EndpointRecord, NetworkRecord, NewNetwork } from '../store/store.js';
import { newId } from '../store/store.js';
import type { NetworkDriver } from '../drivers/driver.js';
import { driverOf, isClusterNetwork } from '../drivers/registry.js';
import type { Engine } from './context.js';
import { driverContext } from './driver-context.js';
import { attachNetworkEndpoint, nextInterfaceName, releaseEndpoints, type AttachRequest, type SubnetOf, type Undo } from './endpoints.js';
import { planRequest } from './network-create.js';
import { NETWORK_ALIAS_PREFIX, createNetwork, ensureNetworkKernel, type CreateNetworkSpec } from './networks.js';



export { isClusterNetwork } from '../drivers/registry.js';
export { WireGuardMesh, type EncryptionState, type MeshOptions } from '../drivers/overlay/mesh.js';
export { remoteOf, type OverlayCluster } from '../drivers/overlay/cluster.js';
export { NEEDS_CLUSTER, VNI_OPTION, isEncrypted, overlayOptions, type OverlayOptions } from '../drivers/overlay/options.js';

export const GWBRIDGE = 'berth_gwbridge';

export function requireCluster(engine: Engine): OverlayCluster {
  if (!engine.cluster) throw new UserError(NEEDS_CLUSTER);
  return engine.cluster;
}

/**
 * Docker's rule for swarm-scoped networks: a standalone container (`berth run --network`,
 * `network connect`, and the same through the API) joins one only if it was created with
 * --attachable. Docker containers through the plugin and CNI runtimes are the "services" of
 * berth's overlay: they join any (their paths do not call this).
 */
export function checkAttachable(net: NetworkRecord): void {
  if (!isClusterNetwork(net) || net.attachable) return;
  // Docker's words (swarmkit's PermissionDenied, wrapped by the daemon), then what to do
  throw new ForbiddenError(
    `Could not attach to network ${quote(net.name)}: network ${quote(net.name)} not manually attachable: containers started with berth run or added with network connect join an overlay network only if it was created with --attachable (berth network create -d overlay --attachable …)`,
  );
}

export function vniOf(net: NetworkRecord): number {
  const vni = Number(net.options[VNI_OPTION]);
  if (!Number.isInteger(vni)) throw new SystemError(`overlay network "${net.name}" has no VNI in its local record`);
  return vni;
}

/** Underlay MTU − VXLAN, and − WireGuard too when encrypted (1370 on a 1500 underlay); -o mtu overrides. */
export function overlayMtu(net: NetworkRecord, cluster: OverlayCluster): number {
  const o = overlayOptionsOf(net);
  // encrypted VXLAN runs over the IPv4 tunnel addresses whatever the underlay's family
  return o.mtu ?? cluster.underlayMtu - (o.encrypted ? VXLAN_OVERHEAD + WIREGUARD_OVERHEAD : vxlanOverhead(cluster.vtep));
}

/** The VTEP address of this host's endpoints on net: the tunnel address when encrypted. */
export function localVtep(net: Pick<NetworkRecord, 'options' | 'name' | 'internal'>, cluster: OverlayCluster): string {
  if (!isEncrypted(net)) return cluster.vtep;
  const enc = cluster.encryption();
  // never fall back to the underlay address: that would be plaintext
  if (!enc) throw new SystemError(`encrypted overlay network "${net.name}": this host's WireGuard device is not up yet`);
  return enc.tunnelAddress;
}

export function overlaySpecOf(net: NetworkRecord, cluster: OverlayCluster): OverlaySpec {
  return {
    networkId: net.id,
    vni: vniOf(net),
    gateways: net.subnets.map((s) => `${s.gateway ?? firstHostAddress(parseCidr(s.subnet)).text}/${s.subnet.split('/')[1]}`),
    subnets: net.subnets.map((s) => s.subnet),
    local: localVtep(net, cluster),
    mtu: overlayMtu(net, cluster),
    alias: `${NETWORK_ALIAS_PREFIX}${net.id}`,
    encrypted: isEncrypted(net),
  };
}


/** The local mirror of a cluster network (scope swarm; the VNI in Docker's option key). */
export function mirrorRecordOf(n: ClusterNetworkRecord): NewNetwork {
  return {
    id: n.id,
    name: n.name,
    driver: 'overlay',
    scope: 'swarm',
    created: n.created,
    options: { ...n.options, [VNI_OPTION]: String(n.vni) },
    labels: n.labels,
    internal: n.internal,
    attachable: n.attachable,
    ipv6: n.ipv6,
    interfaceName: overlayNames(n.id).bridge,
    subnets: n.subnets,
  };
}

/** Bridge and VXLAN device of an overlay network; a freshly made device gets the remote entries at once. */
export async function ensureOverlayKernel(engine: Engine, net: NetworkRecord): Promise<void> {
  await driverOf(net.driver).ensureNetwork(driverContext(engine), net);
}

/** Make a cluster network present on this host: local mirror record and kernel objects. Idempotent. */
export async function mirrorOverlayNetwork(engine: Engine, n: ClusterNetworkRecord): Promise<NetworkRecord> {
  const store = engine.store;
  let local = store.listNetworks().find((x) => x.id === n.id);
  if (!local) {
    // kernel first: once the record exists, the daemon's DNS binds the gateway and its nft watch
    // expects berth's table
    const draft: NetworkRecord = { ...mirrorRecordOf(n), id: n.id, created: n.created };
    await ensureOverlayKernel(engine, draft);
    try {
      local = store.createNetwork(mirrorRecordOf(n));
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      local = store.listNetworks().find((x) => x.id === n.id);
      if (!local) throw new ConflictError(`overlay network "${n.name}" cannot be used on this host: ${err.message}`);
    }
  }
  await ensureOverlayKernel(engine, local);
  return local;
}

/**
 * A cluster network is gone: remove its kernel objects and local mirror. Kept (false) while
 * containers here still have endpoints on it; they are released as usual and the next call removes it.
 */
export async function forgetOverlayNetwork(engine: Engine, networkId: string): Promise<boolean> {
  const store = engine.store;
  const local = store.listNetworks().find((x) => x.id === networkId && isClusterNetwork(x));
  if (!local) return true;
  if (store.listEndpoints({ networkId }).length) return false;
  await driverOf(local.driver).removeNetwork(driverContext(engine), local);
  store.deleteNetwork(networkId);
  return true;
}

/**
 * `network create` of a swarm-scoped network: checked here (the driver's plan, this host's
 * networks and subnets), recorded in the cluster store (for every host), then mirrored and made here.
 */
export async function createClusterNetwork(engine: Engine, driver: NetworkDriver, spec: CreateNetworkSpec): Promise<NetworkRecord> {
  // the cluster picks IPv4 subnets itself, so IPv6 ones must be given
  const subnets = overlaySubnets(spec);
  const plan = await driver.planNetwork(driverContext(engine), planRequest(engine, spec, newId(), subnets));
  const cluster = requireCluster(engine);
  const store = engine.store;
  const clash = store.listNetworks().find((n) => n.name === spec.name);
  if (clash) throw new ConflictError(`network with name ${spec.name} already exists on this host (driver ${clash.driver}); choose another name`);
  for (const s of subnets) {
    const mine = parseCidr(s.subnet);
    const other = store.listNetworks().find((n) => n.subnets.some((o) => cidrsOverlap(mine, parseCidr(o.subnet))));
    if (other) throw new ConflictError(`subnet ${s.subnet} overlaps a subnet of network "${other.name}" on this host; choose another subnet`);
  }
  // each host's bridge holds the gateway: a subnet of this host's LAN would take its traffic
  checkAgainstHost(subnets, await hostUsedSubnets(engine), plan.onLan);
  await plan.prepareHost?.();
  const record = await cluster.store().createNetwork({
    name: spec.name,
    ...(subnets.length ? { subnets } : {}),
    ...(plan.vni !== undefined ? { vni: plan.vni } : {}),
    ipv6: spec.ipv6,
    attachable: spec.attachable,
    internal: plan.internal,
    options: plan.options,
    labels: spec.labels,
  }, isEncrypted({ options: plan.options, internal: plan.internal }) ? { tunnelSubnet: tunnelSubnetOf(engine) } : {});
  return mirrorOverlayNetwork(engine, record);
}

/** `network rm` of an overlay network: refused by the cluster while any host has endpoints on it. */
export async function removeOverlayNetworkEverywhere(engine: Engine, net: NetworkRecord): Promise<NetworkRecord> {
  const cluster = requireCluster(engine);
  const local = engine.store.listEndpoints({ networkId: net.id });
  if (local.length) {
    const names = local.map((e) => engine.store.findContainer(e.containerId)?.name ?? e.containerId.slice(0, 12));
    throw new ConflictError(`network "${net.name}" has active endpoints (${names.join(', ')}): disconnect or remove them first`);
  }
  await cluster.store().removeNetwork(net.id);
  await forgetOverlayNetwork(engine, net.id);
  return net;
}

/** The per-host gateway bridge (Docker's docker_gwbridge): NAT egress and published ports of overlay containers. */
export async function ensureGwBridge(engine: Engine): Promise<NetworkRecord> {
  const existing = engine.store.findNetwork(GWBRIDGE);
  if (existing) {
    await ensureNetworkKernel(engine, existing);
    return existing;
  }
  try {
    return await createNetwork(engine, {
      name: GWBRIDGE,
      driver: 'bridge',
      subnets: [],
      gateways: [],
      ipRanges: [],
      auxAddresses: {},
      ipv6: false,
      internal: false,
      attachable: false,
      // as docker_gwbridge: containers reach the outside through it, not each other
      options: {
        'com.docker.network.bridge.name': GWBRIDGE,
        'com.docker.network.bridge.enable_icc': 'false',
        'com.docker.network.bridge.enable_ip_masquerade': 'true',
      },
      labels: {},
    });
  } catch (err) {
    // another attach made it first
    const made = engine.store.findNetwork(GWBRIDGE);
    if (err instanceof ConflictError && made) return made;
    throw err;
  }
}

function containerNameOf(engine: Engine, containerId: string): string {
  const name = engine.store.findContainer(containerId)?.name;
  return name && /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/.test(name) ? name : containerId.slice(0, 12);
}

/**
 * A swarm-scoped network's endpoint in the cluster: its addresses claimed (compare-and-swap) and
 * its record published under this host's VTEP, for the other hosts, in one transaction (one
 * revision; the MAC follows from the addresses through macOf). Undone by removing the record and
 * releasing the addresses. The caller records the same addresses and MAC locally.
 */
export async function claimAndPublishEndpoint(
  engine: Engine, network: NetworkRecord, endpointId: string, req: AttachRequest, v4: SubnetOf, v6: SubnetOf,
  macOf: (addresses: readonly string[]) => string | null, undo: Undo,
): Promise<{ subnet: string; address: string }[]> {
  const cluster = requireCluster(engine);
  const cs = cluster.store();
  const requests: { subnet: string; address?: string }[] = [];
  for (const [subnet, wanted] of [[v4, req.ip], [v6, req.ip6]] as const) {
    if (subnet) requests.push({ subnet: subnet.subnet, ...(wanted ? { address: wanted } : {}) });
  }
  let claimed: { subnet: string; address: string }[] = [];
  // pushed first: a write that etcd applied but whose answer timed out is undone too (idempotent)
  undo.push(async () => void (await cs.removeEndpoint(network.id, endpointId)));
  await cs.claimAndPutEndpoint(network.id, endpointId, requests, (addresses) => {
    claimed = requests.map((r, i) => ({ subnet: r.subnet, address: addresses[i] as string }));
    const address = (v6: boolean) => addresses.find((x) => x.includes(':') === v6) ?? null;
    return {
      id: endpointId,
      networkId: network.id,
      containerId: req.containerId,
      containerName: containerNameOf(engine, req.containerId),
      mac: macOf(claimed.map((c) => `${c.address}/${c.subnet.split('/')[1] ?? ''}`)) ?? '',
      ipv4: address(false),
      ipv6: address(true),
      aliases: req.aliases ?? [],
      vtep: localVtep(network, cluster),
    };
  });
  if (tracing) trace(`cluster: endpoint ${containerNameOf(engine, req.containerId)} published at ${Date.now()}`);
  return claimed;
}

/**
 * Docker's second leg for a network whose driver asks for one (overlay): egress and published
 * ports through an endpoint on the host's gateway bridge, one per container.
 */
export async function attachGatewayLeg(engine: Engine, network: NetworkRecord, req: AttachRequest, undo: Undo): Promise<void> {
  if (!hasGwLeg(engine, req.containerId)) {
    const gw = await ensureGwBridge(engine);
    await attachNetworkEndpoint(
      engine,
      gw,
      { containerId: req.containerId, netns: req.netns, ifname: nextInterfaceName(engine, req.containerId), publish: req.publish, ...(req.warnings ? { warnings: req.warnings } : {}), gwPriority: req.gwPriority ?? 0 },
      undo,
    );
  } else if (req.publish.length) {
    req.warnings?.push(`WARNING: Published ports are discarded on ${network.driver} network "${network.name}": the container already has its gateway-bridge leg`);
  }
}

function hasGwLeg(engine: Engine, containerId: string): boolean {
  const gw = engine.store.findNetwork(GWBRIDGE);
  return gw !== undefined && engine.store.listEndpoints({ containerId }).some((e) => e.networkId === gw.id);
}

/**
 * Unplug an overlay endpoint: its cluster record and addresses (if etcd answers; else the agent
 * resyncs later, so a container can always be removed), the veth, the local record, and the
 * gateway-bridge leg once the container has no overlay endpoint left. Idempotent.
 */
export async function releaseOverlayEndpoint(engine: Engine, net: NetworkRecord, ep: EndpointRecord): Promise<void> {
  const store = engine.store;
  const cluster = engine.cluster;
  const unplug = async () => {
    if (cluster) {
      try {
        await cluster.store().removeEndpoint(ep.networkId, ep.id);
      } catch (err) {
        if (!(err instanceof ClusterUnreachableError) && !(err instanceof NotFoundError)) throw err;
        cluster.markDirty(`endpoint ${ep.id.slice(0, 12)} released while the cluster store was unreachable`);
      }
    }
    await driverOf(net.driver).detachEndpoint(driverContext(engine), net, ep, { netns: '', sandboxGoing: false, ports: [] });
    store.deleteEndpoint(ep.id);
  };
  // a resync between the cluster removal and the local one would put the endpoint back; one that
  // hangs on an unreachable etcd (up to 10 s) must not hold up a removal: after 2 s it goes on,
  // and the resync, seeing the change, runs again
  await (cluster ? cluster.localChange(unplug, { maxWaitMs: 2000 }) : unplug());
  const left = store.listEndpoints({ containerId: ep.containerId });
  const overlays = new Set(store.listNetworks().filter(isClusterNetwork).map((n) => n.id));
  if (left.some((e) => overlays.has(e.networkId))) return;
  const gw = store.findNetwork(GWBRIDGE);
  const leg = gw ? left.find((e) => e.networkId === gw.id) : undefined;
  if (leg) await releaseEndpoints(engine, ep.containerId, leg.interfaceName);
}

/** This host's endpoints on overlay networks, as cluster records (what resync() takes). */
export function localOverlayEndpoints(engine: Engine): Parameters<ClusterStore['resync']>[0] {
  const store = engine.store;
  const overlays = new Set(store.listNetworks().filter(isClusterNetwork).map((n) => n.id));
  const tunnel = engine.cluster?.encryption()?.tunnelAddress;
  const encrypted = new Set(store.listNetworks().filter((n) => isClusterNetwork(n) && isEncrypted(n)).map((n) => n.id));
  return store
    .listEndpoints()
    .filter((e) => overlays.has(e.networkId) && e.mac !== null)
    .map((e) => ({
      id: e.id,
      networkId: e.networkId,
      containerId: e.containerId,
      containerName: containerNameOf(engine, e.containerId),
      mac: e.mac as string,
      ipv4: e.addresses.find((a) => !a.includes(':'))?.split('/')[0] ?? null,
      ipv6: e.addresses.find((a) => a.includes(':'))?.split('/')[0] ?? null,
      aliases: e.aliases,
      // without a tunnel address (WireGuard down) the host's VTEP is published: peers ignore
      // such records for an encrypted network (fail closed), so nothing is sent in plaintext
      ...(encrypted.has(e.networkId) && tunnel ? { vtep: tunnel } : {}),
    }));
}

/** `berth system tunnel-subnet CIDR`: needs the daemon joined to the cluster. */
export async function changeTunnelSubnet(engine: Engine, subnet: string): Promise<{ subnet: string; previous: string }> {
  return requireCluster(engine).changeTunnelSubnet(subnet);
}

/** `berth system rotate-keys`: needs the daemon joined to the cluster. */
export async function rotateKeys(engine: Engine): Promise<{ publicKey: string; previous: string }> {
  return requireCluster(engine).rotateKeys();
}
