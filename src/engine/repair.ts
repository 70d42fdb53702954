// Self-repair: compare the store (what should be) with the kernel (what is), report every
// difference, and with `repair` make the kernel match the store again. The store wins, except
// for containers whose processes are gone: those release what they held.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { deleteLink, listLinks, type LinkInfo } from '../kernel/links.js';
import { listAddresses } from '../kernel/addresses.js';
import { deleteNetns, isNetnsPath } from '../kernel/netns.js';
import { withRtnl } from '../kernel/rtnl.js';
import {
  expectedElementCounts, firewallElementCounts, firewallInstalled, syncFirewall, type BridgeFirewall, type PortPublication,
} from '../drivers/bridge/firewall.js';
import { vethEndpointProblem } from '../drivers/bridge/driver.js';
import { driverOf } from '../drivers/registry.js';
import { spoofGuardInstalled, syncSpoofGuard, type PortGuard } from '../drivers/bridge/spoof-guard.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { creationAbandoned, liveStatus, type Container, type ContainerConfig, type ContainerState } from './containers.js';
import { reconcileContainer, unrecordedEnd } from './reconcile.js';
import { driverContext } from './driver-context.js';
import { portGuardOf } from './endpoints.js';
import { dockerEndpointProblems } from './docker-endpoints.js';
import { hostRelayDrift, orphanedEndpointRelays, releaseEndpointRelay } from './port-relay.js';
import { ensureNetworkKernel, ENDPOINT_ALIAS_PREFIX, NETWORK_ALIAS_PREFIX } from './networks.js';
import { tunnelSubnetOf } from './tunnel-subnet.js';

/** The object a finding is about, by kind and key (the topology flags the node it is: topology-drift.ts). */
export type FindingRef =
  | { kind: 'container'; id: string }
  | { kind: 'endpoint'; id: string; containerId: string; interfaceName: string }
  | { kind: 'network'; id: string; name: string }
  | { kind: 'link'; name: string }
  | { kind: 'netns'; name: string }
  | { kind: 'port-relay'; endpointId: string }
  | { kind: 'nft-table'; family: string; name: string };

export interface Finding {
  /** the object, named for people */
  object: string;
  ref: FindingRef;
  problem: string;
  /** what --repair did about it */
  action?: string;
}

function containers(engine: Engine): Container[] {
  return engine.store.listContainers().map((r) => ({ id: r.id, name: r.name, created: r.created, config: r.config as ContainerConfig, state: r.state as ContainerState }));
}

/**
 * The store's networks and endpoints, each read once, by id: the sweeps below look a network up
 * per endpoint and an endpoint per port, and reading those one by one decoded the same networks
 * once per container (issue 16).
 */
interface StoreSnapshot {
  networks: Map<string, NetworkRecord>;
  endpoints: Map<string, EndpointRecord>;
}

function snapshot(engine: Engine): StoreSnapshot {
  const store = engine.store;
  return {
    networks: new Map(store.listNetworks().map((n) => [n.id, n])),
    endpoints: new Map(store.listEndpoints().map((e) => [e.id, e])),
  };
}

/** What berth's nft table should hold, from the store. */
export function desiredFirewall(engine: Engine, snap: StoreSnapshot = snapshot(engine)): { bridges: BridgeFirewall[]; ports: PortPublication[] } {
  // a driver without a bridge (macvlan) has no firewall elements
  const bridges = [...snap.networks.values()].flatMap((n) => {
    const b = driverOf(n.driver).firewallOf(n);
    return b ? [b] : [];
  });
  const ports = engine.store.listPorts().map((p) => {
    const ep = p.endpointId ? snap.endpoints.get(p.endpointId) : undefined;
    const net = ep ? snap.networks.get(ep.networkId) : undefined;
    return {
      port: { proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, targetIp: p.targetIp, targetPort: p.targetPort },
      routed: net ? driverOf(net.driver).routedPorts(net) : false,
    };
  });
  return { bridges, ports };
}

/** The bridge ports berth's `table bridge berth` guards against spoofing, from the store. */
export function desiredPortGuards(engine: Engine, snap: StoreSnapshot = snapshot(engine)): PortGuard[] {
  return [...snap.endpoints.values()].flatMap((ep) => {
    const net = snap.networks.get(ep.networkId);
    if (!net) return [];
    const g = portGuardOf(net, ep);
    return g ? [g] : [];
  });
}

/** Put berth's nft tables back as the store says (after a flush or a firewall reload). */
export function restoreFirewall(engine: Engine): void {
  const { bridges, ports } = desiredFirewall(engine);
  syncFirewall(engine.hostNetns, tunnelSubnetOf(engine), bridges, ports);
  syncSpoofGuard(engine.hostNetns, desiredPortGuards(engine));
}

/** True if berth's nft tables are there with their current rules (the bridge one once a port is guarded). */
export function firewallTablesInstalled(engine: Engine): boolean {
  if (!firewallInstalled(engine.hostNetns, tunnelSubnetOf(engine))) return false;
  return spoofGuardInstalled(engine.hostNetns) || desiredPortGuards(engine).length === 0;
}

/** describe: without repairing, say in each finding's action what --repair would do (the topology page). */
export async function checkSystem(engine: Engine, opts: { repair: boolean; describe?: boolean }): Promise<Finding[]> {
  const store = engine.store;
  const findings: Finding[] = [];
  const note = (ref: FindingRef, object: string, problem: string, action?: string) => findings.push({ object, ref, problem, ...((opts.repair || opts.describe) && action ? { action } : {}) });
  // looked at first: repairing a network below puts a missing table back (firewall-state.ts)
  const tableMissing = !firewallInstalled(engine.hostNetns, tunnelSubnetOf(engine));

  // 1. containers whose process is gone still hold addresses, ports and a namespace; a creation
  //    abandoned halfway (its berth process died) is undone; an orphan outliving its shim is killed
  const before = containers(engine);
  for (const c of before) {
    const what = unrecordedEnd(c);
    if (what === 'abandoned') {
      note({ kind: 'container', id: c.id }, `container ${c.name}`, 'its creation was interrupted (the berth process creating it died)', 'stopped what had started and released its network');
    } else if (what === 'ended') {
      note({ kind: 'container', id: c.id }, `container ${c.name}`, 'its process is gone, but it still holds its network', 'released its addresses, ports and namespace');
    } else if (what === 'orphan') {
      note({ kind: 'container', id: c.id }, `container ${c.name}`, `its process ${c.state.childPid} outlived its shim and still runs`, 'killed it');
    }
    if (what && opts.repair) await reconcileContainer(engine, c);
  }

  // 1b. Docker's endpoints (plugin) whose sandbox went while berth was not listening
  for (const p of await dockerEndpointProblems(engine, 'leftovers')) {
    note({ kind: 'endpoint', id: p.ep.id, containerId: p.ep.containerId, interfaceName: p.ep.interfaceName }, `Docker endpoint ${p.ep.interfaceName} (sandbox ${p.ep.containerId})`, p.problem, p.action);
    if (opts.repair) await p.repair();
  }

  // 2. networks: what each driver made is there (a bridge up with its gateway addresses; a macvlan parent and shim)
  const links = await withRtnl(engine.hostNetns, (nl) => listLinks(nl));
  const addresses = await withRtnl(engine.hostNetns, (nl) => listAddresses(nl));
  const ctx = driverContext(engine);
  for (const net of store.listNetworks()) {
    const driver = driverOf(net.driver);
    // cluster networks' devices are the overlay agent's: checked only in a daemon joined to the cluster
    if (driver.scope === 'swarm' && !engine.cluster) continue;
    const found = await driver.networkProblem(ctx, net, { links, addresses });
    if (!found) continue;
    note({ kind: 'network', id: net.id, name: net.name }, `network ${net.name}`, found.problem, found.action);
    if (opts.repair && found.action) await ensureNetworkKernel(engine, net);
  }

  // 2b. Docker's endpoints (plugin): veths off their (maybe re-created) bridge
  for (const p of await dockerEndpointProblems(engine, 'live')) {
    note({ kind: 'endpoint', id: p.ep.id, containerId: p.ep.containerId, interfaceName: p.ep.interfaceName }, `Docker endpoint ${p.ep.interfaceName} (sandbox ${p.ep.containerId})`, p.problem, p.action || undefined);
    if (opts.repair && p.action) await p.repair();
  }

  // 3. endpoints: the host side must exist and sit on its network's bridge (a re-created bridge has no ports)
  // (read again: step 1 may have repaired some; one read of each serves every step below)
  const after = opts.repair ? containers(engine) : before;
  const snap = snapshot(engine);
  const live = new Map(after.filter((c) => liveStatus(c) === 'running').map((c) => [c.id, c]));
  const now = opts.repair ? await withRtnl(engine.hostNetns, (nl) => listLinks(nl)) : links;
  const nowByName = new Map(now.map((l) => [l.name, l]));
  for (const ep of snap.endpoints.values()) {
    const c = live.get(ep.containerId);
    if (!c) continue;
    const owner = `endpoint ${ep.interfaceName} of container ${c.name}`;
    const net = snap.networks.get(ep.networkId);
    const check = { sandboxNetns: engine.netnsPath(ep.containerId), links: nowByName };
    // an endpoint whose network is gone from the store: its veth is still looked for
    const found = net ? await driverOf(net.driver).endpointProblem(ctx, net, ep, check) : vethEndpointProblem(ctx, ep, undefined, check);
    if (!found) continue;
    note({ kind: 'endpoint', id: ep.id, containerId: ep.containerId, interfaceName: ep.interfaceName }, owner, found.problem, found.action);
    if (opts.repair && found.repair) await found.repair();
  }

  // 4. links berth made that the store does not know
  const networkIds = new Set(snap.networks.keys());
  const endpointIds = new Set(snap.endpoints.keys());
  const stray = (l: LinkInfo): boolean =>
    (l.alias?.startsWith(NETWORK_ALIAS_PREFIX) === true && !networkIds.has(l.alias.slice(NETWORK_ALIAS_PREFIX.length))) ||
    (l.alias?.startsWith(ENDPOINT_ALIAS_PREFIX) === true && !endpointIds.has(l.alias.slice(ENDPOINT_ALIAS_PREFIX.length)));
  for (const l of links.filter(stray)) {
    note({ kind: 'link', name: l.name }, `link ${l.name}`, `berth made it (${l.alias}), but the store does not know it`, 'deleted it');
    if (opts.repair) await withRtnl(engine.hostNetns, (nl) => deleteLink(nl, l.name));
  }

  // 5. namespace mounts of containers that are gone or not running
  // a namespace of a container being created right now (by a live berth process) is spared too
  const running = new Set(
    after
      .filter((c) => c.state.status === 'running' || (c.state.status === 'created' && !creationAbandoned(c)))
      .map((c) => c.state.netns ?? engine.netnsPath(c.id)),
  );
  let mounts: string[] = [];
  try {
    mounts = readdirSync(engine.paths.netnsDir);
  } catch {
    // no namespace directory yet
  }
  for (const name of mounts) {
    const path = join(engine.paths.netnsDir, name);
    if (running.has(path)) continue;
    note({ kind: 'netns', name }, `netns ${name}`, isNetnsPath(path) ? 'no running container owns it' : 'a stale file, not a namespace', 'deleted it');
    if (opts.repair) deleteNetns(path);
  }

  // 5b. CNI port relays still holding the host ports of an endpoint that is gone
  for (const id of orphanedEndpointRelays(engine)) {
    note({ kind: 'port-relay', endpointId: id }, `port relay ${id.slice(0, 12)}`, 'its endpoint is gone, but it still holds the host ports', 'stopped it');
    if (opts.repair) await releaseEndpointRelay(engine, id);
  }
  // 5c. the host's one relay (CNI through the daemon): binding what the live endpoints publish, and no more
  for (const f of await hostRelayDrift(engine)) {
    note({ kind: 'port-relay', endpointId: f.endpointId }, f.object, f.problem, f.action);
    if (opts.repair) await f.repair();
  }

  // 6. berth's nft table: present, current, and holding what the store says
  // (read again after a repair: releasing a relay may have changed what the store holds)
  const final = opts.repair ? snapshot(engine) : snap;
  const desired = desiredFirewall(engine, final);
  let fwProblem = '';
  if (tableMissing || !firewallInstalled(engine.hostNetns, tunnelSubnetOf(engine))) {
    fwProblem = store.listNetworks().length ? "berth's nft table is missing or outdated" : '';
  } else {
    const have = firewallElementCounts(engine.hostNetns) ?? {};
    const want = expectedElementCounts(desired.bridges, desired.ports);
    const off = Object.keys(want).filter((k) => (have[k] ?? 0) !== want[k]);
    if (off.length) fwProblem = `nft elements differ from the store in ${off.map((k) => `${k} (${have[k] ?? 0}, want ${want[k]})`).join(', ')}`;
  }
  if (fwProblem) {
    note({ kind: 'nft-table', family: 'inet', name: 'berth' }, 'nft table inet berth', fwProblem, 'reinstalled the rules and refilled every set and map');
    if (opts.repair) syncFirewall(engine.hostNetns, tunnelSubnetOf(engine), desired.bridges, desired.ports);
  }

  // 7. the anti-spoofing table: present with its rules whenever a bridge port is guarded
  const guards = desiredPortGuards(engine, final);
  if (guards.length && !spoofGuardInstalled(engine.hostNetns)) {
    note({ kind: 'nft-table', family: 'bridge', name: 'berth' }, 'nft table bridge berth', 'the anti-spoofing table is missing or outdated', 'reinstalled it with every guarded port');
    if (opts.repair) syncSpoofGuard(engine.hostNetns, guards);
  }
  return findings;
}
