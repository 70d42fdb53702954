// A container up to the start of its process (plan -> apply, undoing on failure): its record,
// namespace, endpoint, files and the shim's argv. Whoever launches the shim finishes it.
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { trace } from '../common/trace.js';
import { ConflictError, UserError } from '../common/errors.js';
import { createNetns, deleteNetns } from '../kernel/netns.js';
import { withRtnl } from '../kernel/rtnl.js';
import { getLink, setLinkUp } from '../kernel/links.js';
import type { NetworkRecord } from '../store/store.js';
import { newId } from '../store/store.js';
import type { Engine } from './context.js';
import { checkRunSpec } from './container-spec.js';
import { getContainer, liveStatus, type ContainerConfig, type ContainerState, type RunSpec } from './container-types.js';
import { attachNetworkEndpoint, checkRequestedAddresses, syncDefaultRoutes, Undo } from './endpoints.js';
import { checkAttachable } from './overlay.js';
import { ensureMountBase } from './mount-base.js';
import { generateName } from './names.js';
import { networkModeText, type NetworkMode } from './network-mode.js';
import { dnsAddressesOf, ensureDefaultNetwork, ensureNetworkKernel, getNetwork } from './networks.js';
import { processStartTime } from './process.js';
import { relayWarning, writePublishFile } from './port-relay.js';
import { writeSandboxFiles } from './sandbox-files.js';
import { pidfileOf, shimArgv } from './shim.js';

/**
 * A container up to the start of its process: record, namespace, endpoint, files, and the
 * shim's argv. Whoever launches the shim (this process, or a thin client through the daemon)
 * finishes with recordStarted; on failure the undo log releases everything.
 */
export interface Prepared {
  id: string;
  name: string;
  warnings: string[];
  detach: boolean;
  /** the shim and its arguments */
  shimArgv: string[];
  pidfile: string;
  netns?: string;
  /** the berth process creating it; in the foreground, it waits for the end and records it */
  creator: { pid: number; start: string };
  undo: Undo;
}

/** Resolve `--network container:X`: X must be running; returns its id and namespace. */
function resolveJoinTarget(engine: Engine, ref: string, selfName: string | undefined): { id: string; netns: string } {
  if (selfName !== undefined && ref === selfName) {
    throw new UserError(`invalid network mode "container:${ref}": a container cannot join its own network namespace`);
  }
  const target = getContainer(engine, ref);
  if (liveStatus(target) !== 'running' || !target.state.childPid) {
    throw new ConflictError(`cannot join the network of container "${target.name}": it is not running (start it first)`);
  }
  // the target's own namespace handle; /proc/PID/ns/net works too but dies with the process
  return { id: target.id, netns: target.state.netns ?? `/proc/${target.state.childPid}/ns/net` };
}

/** A user-defined network, its kernel objects made sure of (someone may have deleted the bridge). */
export async function readyNetwork(engine: Engine, ref: string): Promise<NetworkRecord> {
  const net = getNetwork(engine, ref);
  // run and connect: a standalone container (the CNI and Docker plugin paths do not come here)
  checkAttachable(net);
  await ensureNetworkKernel(engine, net);
  return net;
}

export async function prepareContainer(engine: Engine, spec: RunSpec): Promise<Prepared> {
  const store = engine.store;
  const { publish, warnings } = checkRunSpec(spec);
  trace('run: validated');
  const target = spec.network.kind === 'container' ? resolveJoinTarget(engine, spec.network.ref, spec.name) : undefined;
  const network =
    spec.network.kind === 'bridge'
      ? await ensureDefaultNetwork(engine)
      : spec.network.kind === 'network'
        ? await readyNetwork(engine, spec.network.ref)
        : undefined;
  // a refused --ip/--ip6 changes nothing: checked before the record
  if (network) checkRequestedAddresses(engine, network, spec);
  trace('run: network ready');
  engine.ensureRunDirs();
  const mountBase = ensureMountBase(engine);

  const id = newId();
  const undo = new Undo();
  try {
    // 1. the record: reserves the name
    const name = spec.name ?? generateName((n) => store.findContainer(n) !== undefined);
    const hostname = spec.hostname ?? (spec.network.kind === 'host' ? (await import('node:os')).hostname() : id.slice(0, 12));
    // the mode as resolved: the target's id, the network's name
    const resolved: NetworkMode =
      target ? { kind: 'container', ref: target.id } : network && spec.network.kind === 'network' ? { kind: 'network', ref: network.name } : spec.network;
    const config: ContainerConfig = {
      cmd: spec.cmd,
      hostname,
      networkMode: networkModeText(resolved),
      publish,
      exposed: spec.exposed,
      rm: spec.rm,
      dns: spec.dns,
      ...(spec.rootfs ? { rootfs: spec.rootfs } : {}),
      ...(spec.mac ? { mac: spec.mac } : {}),
    };
    // who is creating it: if that process dies halfway, repair knows the creation was abandoned
    const creator = spec.creator ?? { pid: process.pid, start: processStartTime(process.pid) ?? '' };
    const creating: ContainerState = { status: 'created', creatorPid: creator.pid, creatorStart: creator.start };
    store.createContainer({ id, name, config, state: creating });
    undo.push(() => void store.deleteContainer(id));

    trace('run: record');
    // 2. the sandbox's network namespace
    let netns: string | undefined = target?.netns;
    if (spec.network.kind === 'bridge' || spec.network.kind === 'none' || spec.network.kind === 'network') {
      netns = createNetns(engine.paths.netnsDir, id);
      undo.push(() => deleteNetns(netns as string));
      await withRtnl(netns, async (nl) => setLinkUp(nl, (await getLink(nl, 'lo')).index));
    }

    trace('run: netns');
    // 3. the endpoint on the default bridge, its address and published ports
    const addresses: string[] = [];
    if (network && netns) {
      const ep = await attachNetworkEndpoint(
        engine,
        network,
        {
          containerId: id,
          netns,
          ifname: 'eth0',
          publish,
          warnings,
          ...(spec.mac ? { mac: spec.mac } : {}),
          ...(spec.ip ? { ip: spec.ip } : {}),
          ...(spec.ip6 ? { ip6: spec.ip6 } : {}),
          aliases: spec.aliases ?? [],
          gwPriority: spec.gwPriority ?? 0,
        },
        undo,
      );
      await syncDefaultRoutes(engine, id, netns);
      addresses.push(...ep.addresses);
    }

    trace('run: endpoint');
    // 4. files and the process
    const dir = engine.containerDir(id);
    // user-defined networks have the daemon's DNS on their gateway (not the default bridge, as in Docker)
    const dnsNet = spec.network.kind === 'network' ? network : undefined;
    const dnsAt = dnsNet ? dnsAddressesOf(dnsNet) : [];
    const embeddedDns = dnsAt.find((a) => !a.includes(':')) ?? dnsAt[0];
    const files = writeSandboxFiles(dir, { hostname, addresses, dns: spec.dns, ...(embeddedDns ? { embeddedDns } : {}) });
    undo.push(() => rmSync(dir, { recursive: true, force: true }));
    // the shim binds the published ports on the host and relays the host's own connections
    const publishFile = join(dir, 'publish');
    const publishing = writePublishFile(publishFile, store.listPorts({ containerId: id }));
    const partial = relayWarning(publishing);
    if (partial) warnings.push(partial);
    const argv = shimArgv({
      id,
      dir,
      ...(netns ? { netns } : {}),
      mountBase,
      hostname,
      files,
      ownNetwork: spec.network.kind !== 'host',
      ...(spec.rootfs ? { rootfs: spec.rootfs } : {}),
      ...(publishing.relayed > 0 ? { publishFile } : {}),
      detach: spec.detach,
      cmd: spec.cmd,
    });
    return { id, name, warnings, detach: spec.detach, shimArgv: argv, pidfile: pidfileOf(dir), ...(netns ? { netns } : {}), creator, undo };
  } catch (err) {
    await undo.run();
    throw err;
  }
}
