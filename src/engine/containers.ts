// Containers: run (plan -> apply -> commit, undoing on failure), stop, remove, list, inspect,
// exec. A container is a berth-init shim and its child in their own namespaces; its record,
// endpoints and published ports are in the store; its files are under $BERTH_RUN/containers/<id>.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { BERTH_BIN, BERTH_CLIENT, BERTH_INIT } from '../common/package.js';
import { trace } from '../common/trace.js';
import { ConflictError, NotFoundError, SystemError, UserError, quote } from '../common/errors.js';
import { checkUnicastMac } from '../common/mac.js';
import { createNetns, deleteNetns } from '../kernel/netns.js';
import { withRtnl } from '../kernel/rtnl.js';
import { getLink, setLinkUp } from '../kernel/links.js';
import type { ExposedPort, PortBinding } from '../portmap/index.js';
import type { ContainerRecord, NetworkRecord, PortRecord } from '../store/store.js';
import { newId } from '../store/store.js';
import type { Engine } from './context.js';
import { attachNetworkEndpoint, finishSandboxVeths, nextInterfaceName, releaseEndpoints, syncDefaultRoutes, Undo } from './endpoints.js';
import { generateName, validateContainerName, validateHostname } from './names.js';
import { dnsAddressesOf, ensureDefaultNetwork, ensureNetworkKernel, getNetwork } from './networks.js';
import { isSameProcessAlive, parentPid, processStartTime, signalProcess, sleep } from './process.js';
import { writeSandboxFiles } from './sandbox-files.js';
import { relayWarning, releaseRelayedPorts, writePublishFile } from './port-relay.js';

export type NetworkMode =
  | { kind: 'bridge' }
  | { kind: 'host' }
  | { kind: 'none' }
  | { kind: 'container'; ref: string }
  /** a user-defined network, by name or id */
  | { kind: 'network'; ref: string };

export interface RunSpec {
  name?: string;
  cmd: string[];
  detach: boolean;
  rm: boolean;
  network: NetworkMode;
  hostname?: string;
  publish: PortBinding[];
  exposed: ExposedPort[];
  dns: string[];
  rootfs?: string;
  mac?: string;
  ip?: string;
  ip6?: string;
  aliases?: string[];
  gwPriority?: number;
  /** who creates it, when not this process (a thin client through the daemon) */
  creator?: { pid: number; start: string };
  /** PATH to find the command in (the client's, through the daemon); default: this process's */
  path?: string;
}

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerConfig {
  cmd: string[];
  hostname: string;
  networkMode: string;
  publish: PortBinding[];
  exposed: ExposedPort[];
  rm: boolean;
  dns: string[];
  rootfs?: string;
  mac?: string;
}

export interface ContainerState {
  status: ContainerStatus;
  /** the berth-init shim, in the host PID namespace */
  pid?: number;
  pidStart?: string;
  /** the container's PID 1, as the host sees it */
  childPid?: number;
  /** its start time (pidfile line 3): tells it from a later process with the same PID */
  childStart?: string;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  /** the sandbox's network namespace (own bind mount, or the target's in container mode) */
  netns?: string;
  /** set when the network this container joined (container:X) went away */
  networkNote?: string;
  /** while created: the berth process creating it */
  creatorPid?: number;
  creatorStart?: string;
  /** a foreground run: the berth process (CLI or thin client) that waits for it and records its end */
  waiterPid?: number;
  waiterStart?: string;
}

export interface Container {
  id: string;
  name: string;
  created: string;
  config: ContainerConfig;
  state: ContainerState;
}


function asContainer(r: ContainerRecord): Container {
  return { id: r.id, name: r.name, created: r.created, config: r.config as ContainerConfig, state: r.state as ContainerState };
}

/** Where a command would be found, as execvp will look: inside the rootfs when there is one. */
function commandExists(cmd: string, rootfs: string | undefined, searchPath: string | undefined): boolean {
  const inRoot = (p: string) => (rootfs ? join(rootfs, p) : p);
  const isFile = (p: string) => {
    try {
      return statSync(inRoot(p)).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return isFile(isAbsolute(cmd) ? cmd : join('/', cmd));
  const path = searchPath || process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return path.split(delimiter).some((dir) => dir && isFile(join(dir, cmd)));
}

/** The status of a container SIGKILLed with its shim (PR_SET_PDEATHSIG), as a shell reports it. */
export const KILLED_WITH_SHIM = 128 + 9;

/** A container left in `created` by a berth process that died while creating it. */
export function creationAbandoned(c: Container): boolean {
  return c.state.status === 'created' && !isSameProcessAlive(c.state.creatorPid, c.state.creatorStart);
}

/** Kill the process of an abandoned creation (if it got that far), release everything, forget it. */
export async function discardAbandoned(engine: Engine, c: Container): Promise<void> {
  // its process, if it got that far (pidfile written) and is still the one that was started
  const pids = readPidfile(join(engine.containerDir(c.id), 'pid'));
  // a pidfile of an older shim has no start time: then it must be PID 1 of a namespace, child of a berth-init shim
  const start = pids?.childStart ?? (pids && isShimChild(pids.childPid) ? processStartTime(pids.childPid) : undefined);
  if (pids && start) await killContainerProcess(pids.childPid, start);
  await releaseNetwork(engine, c);
  // its own namespace, if it got one (the record says so only once it runs)
  if (c.config.networkMode !== 'host' && !c.config.networkMode.startsWith('container:')) deleteNetns(engine.netnsPath(c.id));
  removeRecord(engine, c);
}

function isShimChild(pid: number): boolean {
  try {
    return readFileSync(`/proc/${parentPid(pid) ?? 0}/cmdline`, 'utf8').includes('berth-init');
  } catch {
    return false;
  }
}

/** Live status: a container recorded as running whose shim is gone has exited. */
export function liveStatus(c: Container): ContainerStatus {
  if (c.state.status === 'running' && !isSameProcessAlive(c.state.pid, c.state.pidStart)) return 'exited';
  return c.state.status;
}

export function getContainer(engine: Engine, ref: string): Container {
  const rec = engine.store.findContainer(ref);
  if (!rec) throw new NotFoundError(`no such container: "${ref}" (give a name, a full id or a unique id prefix)`);
  return asContainer(rec);
}

export function listContainers(engine: Engine, all: boolean): Container[] {
  return engine.store
    .listContainers()
    .map(asContainer)
    .map((c) => ({ ...c, state: { ...c.state, status: liveStatus(c) } }))
    .filter((c) => all || c.state.status === 'running');
}

export interface Started {
  id: string;
  name: string;
  /** foreground only: the shim, stdio inherited */
  shim?: ChildProcess;
  warnings: string[];
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

async function waitForPidfile(path: string, shim: ChildProcess, timeoutMs = 10_000): Promise<{ childPid: number; childStart?: string }> {
  const deadline = Date.now() + timeoutMs;
  let exited: number | null | undefined;
  const onExit = (code: number | null) => {
    exited = code;
  };
  shim.once('exit', onExit);
  try {
    for (let delay = 1; ; delay = Math.min(delay * 2, 20)) {
      const pids = existsSync(path) ? readPidfile(path) : undefined;
      if (pids) return pids;
      if (exited !== undefined) throw new StartFailed(exited ?? 125);
      if (Date.now() > deadline) throw new SystemError(`the container did not start within ${timeoutMs / 1000} s`);
      await sleep(delay);
    }
  } finally {
    shim.off('exit', onExit);
  }
}

/** berth-init exited before exec'ing the command; it already said why on stderr. */
export class StartFailed extends UserError {
  constructor(readonly status: number) {
    super(`the container's command could not be started (berth-init exit status ${status})`);
  }
}

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

export async function prepareContainer(engine: Engine, spec: RunSpec): Promise<Prepared> {
  const store = engine.store;
  const warnings: string[] = [];
  if (spec.cmd.length === 0) throw new UserError('no command given: berth run [OPTIONS] -- CMD [ARG...]');
  if (spec.name !== undefined) validateContainerName(spec.name);
  if (spec.hostname !== undefined) validateHostname(spec.hostname);
  if (spec.mac !== undefined) checkUnicastMac(spec.mac);
  if (spec.rootfs !== undefined && !existsSync(spec.rootfs)) {
    throw new UserError(`--rootfs ${quote(spec.rootfs)} does not exist: give a directory holding the container's root file system`);
  }
  const cmd0 = spec.cmd[0] ?? '';
  if (!commandExists(cmd0, spec.rootfs, spec.path)) {
    throw new UserError(`command not found: ${quote(cmd0)} (looked in ${spec.rootfs ? `${quote(spec.rootfs)} along ` : ''}PATH); give a program that exists`);
  }
  // each becomes a `nameserver` line of resolv.conf: anything but an address could add lines
  for (const d of spec.dns) if (!isIP(d)) throw new UserError(`invalid --dns ${JSON.stringify(d)}: expected an IP address`);
  const v6 = spec.publish.find((b) => b.hostIp?.includes(':'));
  if (v6 && spec.network.kind === 'bridge') {
    throw new UserError(`cannot publish on IPv6 address "${v6.hostIp}": the default bridge network is IPv4 only; publish on an IPv4 address or on every address`);
  }
  if (spec.network.kind !== 'network' && (spec.ip || spec.ip6 || spec.aliases?.length)) {
    throw new UserError('--ip, --ip6 and --network-alias are supported on user-defined networks only');
  }
  let publish = spec.publish;
  if (spec.network.kind !== 'bridge' && spec.network.kind !== 'network' && publish.length) {
    // Docker: published ports need a network of their own
    warnings.push(`WARNING: Published ports are discarded when using ${spec.network.kind} network mode`);
    publish = [];
  }
  trace('run: validated');
  const join = spec.network.kind === 'container' ? resolveJoinTarget(engine, spec.network.ref, spec.name) : undefined;
  const network =
    spec.network.kind === 'bridge'
      ? await ensureDefaultNetwork(engine)
      : spec.network.kind === 'network'
        ? await readyNetwork(engine, spec.network.ref)
        : undefined;
  trace('run: network ready');
  engine.ensureRunDirs();

  const id = newId();
  const undo = new Undo();
  try {
    // 1. the record: reserves the name
    const name = spec.name ?? generateName((n) => store.findContainer(n) !== undefined);
    const hostname = spec.hostname ?? (spec.network.kind === 'host' ? (await import('node:os')).hostname() : id.slice(0, 12));
    const config: ContainerConfig = {
      cmd: spec.cmd,
      hostname,
      networkMode: join ? `container:${join.id}` : network && spec.network.kind === 'network' ? network.name : spec.network.kind,
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
    let netns: string | undefined = join?.netns;
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
    const pidfile = join_(dir, 'pid');
    // the shim binds the published ports on the host and relays the host's own connections
    const publishFile = join_(dir, 'publish');
    const publishing = writePublishFile(publishFile, store.listPorts({ containerId: id }));
    const relayed = publishing.relayed > 0;
    const partial = relayWarning(publishing);
    if (partial) warnings.push(partial);
    const argv = [
      ...(netns ? ['--netns', netns] : []),
      '--hostname', hostname,
      ...(spec.network.kind === 'host' ? [] : ['--bind', `${files.hosts}:/etc/hosts`, '--bind', `${files.resolvConf}:/etc/resolv.conf`]),
      '--bind', `${files.hostname}:/etc/hostname`,
      ...(spec.rootfs ? ['--rootfs', spec.rootfs] : []),
      '--pidfile', pidfile,
      '--exit-file', join_(dir, 'exit'),
      ...(relayed ? ['--publish-file', publishFile] : []),
      ...(spec.detach
        ? ['--detach', '--log', join_(dir, 'log'), '--on-exit', ...onExitHook(id), '--end']
        : []),
      '--', ...spec.cmd,
    ];
    return { id, name, warnings, detach: spec.detach, shimArgv: [BERTH_INIT, ...argv], pidfile, ...(netns ? { netns } : {}), creator, undo };
  } catch (err) {
    await undo.run();
    throw err;
  }
}

/** The detached shim's hook once the command ended: the native client (daemon, else in-process), or node. */
function onExitHook(id: string): string[] {
  const via = existsSync(BERTH_CLIENT) ? [BERTH_CLIENT] : [process.execPath, BERTH_BIN];
  return [...via, 'internal', 'on-exit', id];
}

/**
 * The container's process runs (childPid: its PID 1, shimPid: the berth-init watching it):
 * record it. False when a quick command already ended and its exit was recorded (or, with
 * --rm, the container removed) by the shim's on-exit hook: that is never overwritten.
 */
export function recordStarted(engine: Engine, p: Prepared, shimPid: number, childPid: number, childStart?: string): boolean {
  const store = engine.store;
  const state: ContainerState = {
    status: 'running',
    pid: shimPid,
    pidStart: processStartTime(shimPid) ?? '',
    childPid,
    ...(childStart ? { childStart } : {}),
    ...(p.detach ? {} : { waiterPid: p.creator.pid, waiterStart: p.creator.start }),
    startedAt: new Date().toISOString(),
    ...(p.netns ? { netns: p.netns } : {}),
  };
  return store.transaction(() => {
    const now = store.findContainer(p.id);
    if (!now || (now.state as ContainerState).status !== 'created') return false;
    store.updateContainerState(p.id, state);
    return true;
  });
}

/** A shim's pidfile: line 1 the container's PID 1, line 2 the shim, line 3 the container's start time. */
export function readPidfile(path: string): { childPid: number; shimPid: number; childStart?: string } | undefined {
  try {
    const [child, shim, start] = readFileSync(path, 'utf8').trim().split('\n');
    const childPid = Number(child);
    if (!childPid) return undefined;
    return { childPid, shimPid: Number(shim) || parentPid(childPid) || 0, ...(start ? { childStart: start } : {}) };
  } catch {
    return undefined;
  }
}

/**
 * SIGKILL a container's PID 1 (its PID namespace goes with it) if it is still the process that
 * was started, and wait until it is gone: its address must not be handed out while it lives.
 */
export async function killContainerProcess(pid: number | undefined, start: string | undefined, timeoutMs = 5000): Promise<void> {
  if (!isSameProcessAlive(pid, start)) return;
  signalProcess(pid as number, 'SIGKILL');
  if (!(await waitUntilGone(pid, start, timeoutMs))) throw new SystemError(`the container's process ${pid} did not end within ${timeoutMs / 1000} s of SIGKILL`);
}

/** Prepare the container and start its shim from this process (stdio inherited in the foreground). */
export async function runContainer(engine: Engine, spec: RunSpec): Promise<Started> {
  const p = await prepareContainer(engine, spec);
  const { id, name, warnings, undo, pidfile } = p;
  try {
    const [shimBin = BERTH_INIT, ...argv] = p.shimArgv;
    const shim = spawn(shimBin, argv, { stdio: spec.detach ? ['ignore', 'ignore', 'inherit'] : 'inherit', env: process.env });
    if (!shim.pid) throw new SystemError(`cannot start ${BERTH_INIT}`);
    // from here on a signal to berth is meant for the container: forward it, do not die of it
    if (!spec.detach) forwardSignals(shim);
    let shimPid = shim.pid;
    let childPid: number;
    let childStart: string | undefined;
    if (spec.detach) {
      // the detached shim forks itself off; the process we started reports how the start went
      const status = await new Promise<number>((resolve, reject) => {
        shim.once('error', reject);
        shim.once('exit', (code) => resolve(code ?? 125));
      });
      if (status !== 0) throw new StartFailed(status);
      const pids = readPidfile(pidfile);
      if (!pids) throw new SystemError(`the detached container started but its pidfile ${pidfile} is unreadable`);
      ({ childPid, shimPid, childStart } = pids);
    } else {
      ({ childPid, childStart } = await waitForPidfile(pidfile, shim));
    }
    undo.push(() => void signalProcess(childPid, 'SIGKILL'));
    trace('run: started');
    if (!recordStarted(engine, p, shimPid, childPid, childStart)) return { id, name, warnings };
    return { id, name, ...(spec.detach ? {} : { shim }), warnings };
  } catch (err) {
    await undo.run();
    throw err;
  }
}

/** A detached shim started by a thin client ended with status (0: the container runs). */
export async function adoptDetachedStart(engine: Engine, p: Prepared, status: number): Promise<void> {
  try {
    if (status !== 0) throw new StartFailed(status);
    const pids = readPidfile(p.pidfile);
    if (!pids) throw new SystemError(`the detached container started but its pidfile ${p.pidfile} is unreadable`);
    recordStarted(engine, p, pids.shimPid, pids.childPid, pids.childStart);
  } catch (err) {
    await p.undo.run();
    throw err;
  }
}

export interface ClientForeground {
  /** the client's shim ended with status: clean up as waitForeground does; resolves to the exit status */
  finish(status: number): Promise<number>;
  /** the client is gone without a report: release the container if it never started */
  abandon(): Promise<void>;
}

/** A foreground shim started by a thin client: recorded as running once its pidfile appears. */
export function watchClientForeground(engine: Engine, p: Prepared, timeoutMs = 10_000): ClientForeground {
  let recorded = false;
  let stopped = false;
  const tryRecord = (): boolean => {
    const pids = readPidfile(p.pidfile);
    if (pids && !recorded) {
      recordStarted(engine, p, pids.shimPid, pids.childPid, pids.childStart);
      recorded = true;
    }
    return pids !== undefined;
  };
  const deadline = Date.now() + timeoutMs;
  const polling = (async () => {
    for (let delay = 1; !stopped && Date.now() < deadline; delay = Math.min(delay * 2, 50)) {
      if (tryRecord()) return;
      await sleep(delay);
    }
  })();
  return {
    async finish(status: number): Promise<number> {
      stopped = true;
      await polling;
      if (!tryRecord()) {
        // the shim failed before exec'ing the command (it said why on the client's stderr)
        await p.undo.run();
        throw new StartFailed(status);
      }
      trace('run: exited');
      const code = await containerExited(engine, p.id, status);
      trace('run: cleaned up');
      return code;
    },
    async abandon(): Promise<void> {
      stopped = true;
      await polling;
      // one that runs stays: its exit shows in ps, as when an in-process foreground CLI is killed
      if (!tryRecord()) await p.undo.run();
    },
  };
}

const join_ = join;

/** Release everything network a container holds: ports, endpoints, addresses, its namespace. Idempotent. */
export async function releaseNetwork(engine: Engine, c: Container): Promise<void> {
  const store = engine.store;
  // only a namespace berth made for this container is deleted; a joined one belongs to its target
  const own = c.state.netns !== undefined && c.state.netns === engine.netnsPath(c.id);
  const others = store.listContainers().map(asContainer);
  const joinedRunning = others.some((o) => o.config.networkMode === `container:${c.id}` && liveStatus(o) === 'running');
  // with nothing else in it, deleting the namespace takes the links with it (see finishSandboxVeths)
  const leftToNetns = await releaseEndpoints(engine, c.id, undefined, { sandboxGoing: own && !joinedRunning });
  if (own && c.state.netns) deleteNetns(c.state.netns);
  await finishSandboxVeths(engine, leftToNetns);
  // containers that joined this one's namespace have lost their network
  for (const other of others) {
    if (other.config.networkMode === `container:${c.id}` && !other.state.networkNote) {
      store.updateContainerState(other.id, { ...other.state, networkNote: `network namespace of container "${c.name}" was removed; only lo is left` });
    }
  }
}

interface ExitRecord {
  exitCode: number;
  signal: string | null;
  finishedAt: string;
}

function readExitFile(engine: Engine, id: string): ExitRecord | undefined {
  try {
    return JSON.parse(readFileSync(join(engine.containerDir(id), 'exit'), 'utf8')) as ExitRecord;
  } catch {
    return undefined;
  }
}

/** After the process ended: record how, release the network, and remove it if --rm. */
export async function containerExited(engine: Engine, id: string, fallbackCode?: number): Promise<number> {
  const rec = engine.store.findContainer(id);
  const exit = readExitFile(engine, id);
  const exitCode = exit?.exitCode ?? fallbackCode ?? 255;
  // another berth process recorded the end first (and removed it, --rm): nothing left to do
  if (!rec) return exitCode;
  const c = asContainer(rec);
  // a process that outlived its shim must not keep running on an address handed out again
  await killContainerProcess(c.state.childPid, c.state.childStart);
  await releaseNetwork(engine, c);
  if (c.config.rm) {
    removeRecord(engine, c);
  } else {
    const { netns: _gone, ...rest } = c.state;
    engine.store.updateContainerState(id, {
      ...rest,
      status: 'exited',
      exitCode,
      finishedAt: exit?.finishedAt ?? new Date().toISOString(),
    } satisfies ContainerState);
  }
  return exitCode;
}

function removeRecord(engine: Engine, c: Container): void {
  rmSync(engine.containerDir(c.id), { recursive: true, force: true });
  engine.store.deleteContainer(c.id);
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Pass these signals to the shim (which passes them to the command) until it exits. */
function forwardSignals(shim: ChildProcess): void {
  const handlers = FORWARDED.map((sig) => [sig, () => void (shim.pid && signalProcess(shim.pid, sig))] as const);
  for (const [s, h] of handlers) process.on(s, h);
  shim.once('exit', () => {
    for (const [s, h] of handlers) process.off(s, h);
  });
}

/** Foreground run: wait for the command (signals are forwarded), clean up; resolves to the exit status. */
export async function waitForeground(engine: Engine, started: Started): Promise<number> {
  const shim = started.shim;
  if (!shim) throw new Error('waitForeground needs a foreground container');
  const code = await new Promise<number>((resolve) => {
    if (shim.exitCode !== null) resolve(shim.exitCode);
    shim.once('exit', (c, sig) => resolve(c ?? 128 + (sig ? (osSignals[sig] ?? 0) : 0)));
  });
  trace('run: exited');
  const status = await containerExited(engine, started.id, code);
  trace('run: cleaned up');
  return status;
}

const osSignals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

async function waitUntilGone(pid: number | undefined, start: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isSameProcessAlive(pid, start)) {
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/** Wait for a detached container's on-exit hook to record the exit (it runs in the shim's place). */
async function waitForExitRecorded(engine: Engine, id: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const rec = engine.store.findContainer(id);
    if (!rec || (rec.state as ContainerState).status !== 'running') return;
    const c = asContainer(rec);
    if (!isSameProcessAlive(c.state.pid, c.state.pidStart)) {
      // the shim (or its on-exit hook) is gone without recording: do it here
      await containerExited(engine, id, KILLED_WITH_SHIM);
      return;
    }
    if (Date.now() > deadline) throw new SystemError(`container "${c.name}" did not finish its exit within ${timeoutMs / 1000} s`);
    await sleep(10);
  }
}

/** SIGTERM, then SIGKILL after timeoutSec, as `docker stop -t`. */
export async function stopContainer(engine: Engine, ref: string, timeoutSec = 10): Promise<Container> {
  const c = getContainer(engine, ref);
  if (liveStatus(c) !== 'running') {
    if (c.state.status === 'running') await waitForExitRecorded(engine, c.id, 30_000);
    // an orphan that outlived its shim is stopped too
    else await killContainerProcess(c.state.childPid, c.state.childStart);
    return c;
  }
  if (c.state.pid) signalProcess(c.state.pid, 'SIGTERM');
  if (!(await waitUntilGone(c.state.pid, c.state.pidStart, timeoutSec * 1000))) {
    // PID 1 of a namespace ignores signals it has no handler for: only SIGKILL ends it
    if (c.state.childPid) signalProcess(c.state.childPid, 'SIGKILL');
    await waitUntilGone(c.state.pid, c.state.pidStart, 10_000);
  }
  await waitForExitRecorded(engine, c.id, 30_000);
  return c;
}

export async function removeContainer(engine: Engine, ref: string, force: boolean): Promise<Container> {
  let c = getContainer(engine, ref);
  if (liveStatus(c) === 'running') {
    if (!force) {
      throw new ConflictError(`cannot remove running container "${c.name}": stop it first, or use rm -f`);
    }
    if (c.state.childPid) signalProcess(c.state.childPid, 'SIGKILL');
    await waitUntilGone(c.state.pid, c.state.pidStart, 10_000);
    await waitForExitRecorded(engine, c.id, 30_000);
  }
  const rec = engine.store.findContainer(c.id);
  if (!rec) return c; // --rm already removed it
  c = asContainer(rec);
  // an orphan: recorded as ended, yet its process outlived its shim
  await killContainerProcess(c.state.childPid, c.state.childStart);
  await releaseNetwork(engine, c);
  removeRecord(engine, c);
  return c;
}

/** The nsenter command line that runs cmd inside all of a running container's namespaces. */
export function execArgv(engine: Engine, ref: string, cmd: string[]): string[] {
  const c = getContainer(engine, ref);
  if (liveStatus(c) !== 'running' || !c.state.childPid) throw new ConflictError(`container "${c.name}" is not running`);
  if (cmd.length === 0) throw new UserError('no command given: berth exec CONTAINER -- CMD [ARG...]');
  return ['nsenter', '--target', String(c.state.childPid), '--net', '--uts', '--mount', '--pid', '--root', '--wd', '--', ...cmd];
}

/** Run a command inside all of a running container's namespaces; resolves to its exit status. */
export async function execInContainer(engine: Engine, ref: string, cmd: string[]): Promise<number> {
  const [bin = 'nsenter', ...argv] = execArgv(engine, ref, cmd);
  const child = spawn(bin, argv, { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, sig) => resolve(code ?? 128 + (sig ? (osSignals[sig] ?? 0) : 0)));
  });
}

export function containerPorts(engine: Engine, ref: string): PortRecord[] {
  const c = getContainer(engine, ref);
  return engine.store.listPorts({ containerId: c.id });
}

export function logPath(engine: Engine, ref: string): string {
  const c = getContainer(engine, ref);
  return join(engine.containerDir(c.id), 'log');
}

/** A user-defined network, its kernel objects made sure of (someone may have deleted the bridge). */
async function readyNetwork(engine: Engine, ref: string): Promise<NetworkRecord> {
  const net = getNetwork(engine, ref);
  await ensureNetworkKernel(engine, net);
  return net;
}

function ownNetns(engine: Engine, c: Container, action: string): string {
  if (liveStatus(c) !== 'running') throw new ConflictError(`container "${c.name}" is not running: cannot ${action}`);
  const mode = c.config.networkMode;
  if (mode === 'host' || mode.startsWith('container:') || !c.state.netns) {
    throw new ConflictError(`container "${c.name}" uses network mode "${mode}": it has no network namespace of its own to ${action}`);
  }
  return c.state.netns;
}

export interface ConnectOptions {
  ip?: string;
  ip6?: string;
  aliases?: string[];
  mac?: string;
  gwPriority?: number;
}

/** `network connect`: a new ethN in a running container; undone if any step fails. */
export async function connectContainer(engine: Engine, ref: string, networkRef: string, opts: ConnectOptions): Promise<void> {
  if (opts.mac !== undefined) checkUnicastMac(opts.mac);
  const c = getContainer(engine, ref);
  const netns = ownNetns(engine, c, 'connect it to a network');
  const network = networkRef === 'bridge' ? await ensureDefaultNetwork(engine) : await readyNetwork(engine, networkRef);
  if (network.name === 'bridge' && (opts.ip || opts.ip6 || opts.aliases?.length)) {
    throw new UserError('--ip, --ip6 and --alias are supported on user-defined networks only');
  }
  if (engine.store.listEndpoints({ containerId: c.id }).some((e) => e.networkId === network.id)) {
    throw new ConflictError(`container "${c.name}" is already connected to network "${network.name}"`);
  }
  const undo = new Undo();
  try {
    await attachNetworkEndpoint(
      engine,
      network,
      {
        containerId: c.id,
        netns,
        ifname: nextInterfaceName(engine, c.id),
        publish: [],
        ...(opts.mac ? { mac: opts.mac } : {}),
        ...(opts.ip ? { ip: opts.ip } : {}),
        ...(opts.ip6 ? { ip6: opts.ip6 } : {}),
        aliases: opts.aliases ?? [],
        gwPriority: opts.gwPriority ?? 0,
      },
      undo,
    );
    await syncDefaultRoutes(engine, c.id, netns);
  } catch (err) {
    await undo.run();
    throw err;
  }
}

/** `network disconnect`: remove the container's ethN on that network; its other legs stay up. */
export async function disconnectContainer(engine: Engine, ref: string, networkRef: string): Promise<void> {
  const c = getContainer(engine, ref);
  const network = getNetwork(engine, networkRef);
  const ep = engine.store.listEndpoints({ containerId: c.id }).find((e) => e.networkId === network.id);
  if (!ep) throw new NotFoundError(`container "${c.name}" is not connected to network "${network.name}"`);
  const netns = ownNetns(engine, c, 'disconnect it');
  await releaseEndpoints(engine, c.id, ep.interfaceName);
  await releaseRelayedPorts(engine, { id: c.id, ...c.state });
  await syncDefaultRoutes(engine, c.id, netns);
}
