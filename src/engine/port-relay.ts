// The host-side relay of published ports (native/port-relay.c, run by berth-init). berth's nft
// table DNATs what arrives from elsewhere; the host's own connections to 127.0.0.1:PORT (and
// ::1) go through a relay that binds the port in the host's namespace, as docker-proxy does.
// That needs no route_localnet, so a flushed table opens nothing, and a host service cannot
// bind a published port afterwards and then lose its loopback traffic to the container.
//
// berth containers: the shim binds and relays (--publish-file). CNI sandboxes, whose process
// berth does not start: through the daemon, the host's one relay (host-relay.ts) binds them;
// the in-process plugin, whose process ends at once, starts a detached `berth-init
// --proxy-only` per endpoint, ended on DEL. Either way relays/<endpoint id>/publish records
// what is relayed (and relays/<id>/host that the host relay does it).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH_INIT } from '../common/package.js';
import { ConflictError, SystemError } from '../common/errors.js';
import type { PortRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { checkHostPortFree } from './host-ports.js';
import { bindHostRelay, listHostRelay, unbindHostRelay } from './host-relay.js';
import { isSameProcessAlive, processStartTime, signalProcess, sleep } from './process.js';

/** The publish file's text: one relayed port a line (SCTP is not relayed: no SCTP from Node or the relay). */
export function publishFileText(ports: readonly PortRecord[]): string {
  return ports
    .filter((p) => p.proto === 'tcp' || p.proto === 'udp')
    .map((p) => `${p.proto} ${p.hostIp} ${p.hostPort} ${p.targetIp} ${p.targetPort}\n`)
    .join('');
}

/** Descriptors the relay keeps free for its connections and the shim's own files. */
const FD_RESERVE = 512;

/** How many ports one relay can bind: each is a descriptor, under the hard open-files limit. */
export function relayCapacity(limitsText = readFileSync('/proc/self/limits', 'utf8')): number {
  const m = /^Max open files\s+\S+\s+(\S+)/m.exec(limitsText);
  if (m?.[1] === 'unlimited') return Number.MAX_SAFE_INTEGER;
  return Math.max(0, Number(m?.[1] ?? 1024) - FD_RESERVE);
}

export interface PublishFile {
  /** ports the relay binds */
  relayed: number;
  /** TCP and UDP ports asked for */
  total: number;
}

/**
 * Write the publish file for these ports (none relayed: no file). Beyond the open-files limit
 * the rest are left out: they still work from other hosts and containers (DNAT), not on the
 * host's own loopback, and the caller warns.
 */
export function writePublishFile(path: string, ports: readonly PortRecord[], capacity = relayCapacity()): PublishFile {
  const lines = publishFileText(ports);
  const all = lines ? lines.split('\n').slice(0, -1) : [];
  const kept = all.slice(0, capacity);
  if (kept.length) writeFileSync(path, kept.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  return { relayed: kept.length, total: all.length };
}

/** The warning for ports left out of the relay, or undefined. */
export function relayWarning(f: PublishFile): string | undefined {
  if (f.relayed === f.total) return undefined;
  return `WARNING: only ${f.relayed} of ${f.total} published ports answer on the host's own loopback (127.0.0.1, ::1): the open-files limit allows no more; all are reachable through the host's other addresses`;
}

function relayDir(engine: Engine, endpointId: string): string {
  return join(engine.paths.run, 'relays', endpointId);
}

/** The relay's argv, or undefined when none of the ports is relayed (its directory is then gone). */
function prepareEndpointRelay(engine: Engine, endpointId: string, ports: readonly PortRecord[]): { dir: string; argv: string[] } | undefined {
  if (!publishFileText(ports)) return undefined;
  const dir = relayDir(engine, endpointId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'publish');
  if (!writePublishFile(file, ports).relayed) return void rmSync(dir, { recursive: true, force: true });
  return { dir, argv: ['--proxy-only', '--publish-file', file, '--pidfile', join(dir, 'pid'), '--detach', '--log', join(dir, 'log')] };
}

/** berth-init said the relay runs: record its start time, which tells our relay from a later process with its PID. */
function recordRelayStart(dir: string): void {
  const pid = Number(readFileSync(join(dir, 'pid'), 'utf8').split('\n')[0]);
  writeFileSync(join(dir, 'start'), processStartTime(pid) ?? '', { mode: 0o600 });
}

function relayFailure(status: number | null, stderr: string, error: Error | undefined): Error {
  const why = stderr.replace(/^berth-init: /, '').trim() || error?.message || `exit status ${status}`;
  if (status === 125 && /in use/.test(why)) return new ConflictError(why);
  return new SystemError(`cannot start the port relay: ${why}`);
}

/** Start a detached relay for a CNI endpoint's published ports (none: nothing to do). */
export function startEndpointRelay(engine: Engine, endpointId: string, ports: readonly PortRecord[]): void {
  const relay = prepareEndpointRelay(engine, endpointId, ports);
  if (!relay) return;
  const r = spawnSync(BERTH_INIT, relay.argv, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status === 0) return recordRelayStart(relay.dir);
  rmSync(relay.dir, { recursive: true, force: true });
  throw relayFailure(r.status, r.stderr ?? '', r.error);
}

/** The marker of an endpoint whose ports the host relay binds (no process of its own). */
const HOST_MARK = 'host';

/** Bindings sent to the host relay by this process and not yet answered, by endpoint. */
const binding = new Map<string, Promise<void>>();

/**
 * The same through the host's one relay, for the daemon: no process start, and ADD does not wait
 * for the relay's answer either (under load, waking another process costs milliseconds), as the
 * ports were checked free just before (checkHostPortFree). The answer comes on the same
 * connection before any later DEL's or CHECK's; a refusal is written to relays/<id>/error, where
 * CHECK and `system check` find it.
 */
export function startEndpointRelayOnHost(engine: Engine, endpointId: string, ports: readonly PortRecord[]): void {
  const lines = publishFileText(ports).split('\n').filter(Boolean);
  if (!lines.length) return;
  const dir = relayDir(engine, endpointId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, HOST_MARK), '', { mode: 0o600 });
  writeFileSync(join(dir, 'publish'), lines.map((l) => `${l}\n`).join(''), { mode: 0o600 });
  const answered = bindHostRelay(engine, endpointId, lines).catch((err: Error) => {
    try {
      writeFileSync(join(dir, 'error'), `${err.message}\n`, { mode: 0o600 });
    } catch {
      // the endpoint was released meanwhile: nothing to report to
    }
  });
  binding.set(endpointId, answered.finally(() => binding.delete(endpointId)));
}

function servedByHostRelay(dir: string): boolean {
  return existsSync(join(dir, HOST_MARK));
}

function wantedLines(dir: string): string[] {
  return readFileSync(join(dir, 'publish'), 'utf8').split('\n').filter(Boolean);
}

/** Release a CNI endpoint's relayed ports, whichever relay holds them (idempotent). */
export async function releaseEndpointRelay(engine: Engine, endpointId: string): Promise<void> {
  await binding.get(endpointId);
  const dir = relayDir(engine, endpointId);
  if (!servedByHostRelay(dir)) return stopEndpointRelay(engine, endpointId);
  await unbindHostRelay(engine, endpointId);
  rmSync(dir, { recursive: true, force: true });
}

const NOT_RUNNING = "the loopback relay of its published ports is not running: the host's own 127.0.0.1 does not reach them";

/** What the host relay lacks of an endpoint's ports (undefined: all bound). */
function hostRelayGap(dir: string, bound: Map<string, string[]> | undefined, endpointId: string): string | undefined {
  try {
    return `the loopback relay of its published ports refused them: ${readFileSync(join(dir, 'error'), 'utf8').trim()}`;
  } catch {
    // no refusal recorded
  }
  if (!bound) return NOT_RUNNING;
  const have = new Set(bound.get(endpointId) ?? []);
  const missing = wantedLines(dir).filter((l) => !have.has(l));
  if (!missing.length) return undefined;
  return `the loopback relay does not hold ${missing.map((l) => l.split(' ').slice(0, 3).join(' ')).join(', ')}: the host's own 127.0.0.1 does not reach ${missing.length > 1 ? 'them' : 'it'}`;
}

/** What is wrong with a CNI endpoint's relay: it is gone, or lacks a port (undefined: runs, or none was wanted). */
export async function endpointRelayProblem(engine: Engine, endpointId: string): Promise<string | undefined> {
  const dir = relayDir(engine, endpointId);
  if (!existsSync(join(dir, 'publish'))) return undefined;
  await binding.get(endpointId);
  if (servedByHostRelay(dir)) return hostRelayGap(dir, await listHostRelay(engine), endpointId);
  try {
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8').split('\n')[0]);
    if (isSameProcessAlive(pid, relayStartOf(dir, pid))) return undefined;
  } catch {
    // no pid or start recorded
  }
  return NOT_RUNNING;
}

/** A finding of hostRelayDrift: what is wrong, and the step that mends it. */
export interface HostRelayFinding {
  /** the endpoint whose ports these are */
  endpointId: string;
  object: string;
  problem: string;
  action: string;
  repair: () => Promise<void>;
}

/**
 * The host relay against what the endpoints want (system check): ports it binds for no live
 * endpoint, and endpoints whose ports it lacks (or it is not running at all). The endpoints
 * whose record is gone are orphanedEndpointRelays' business.
 */
export async function hostRelayDrift(engine: Engine): Promise<HostRelayFinding[]> {
  let ids: string[] = [];
  try {
    ids = readdirSync(join(engine.paths.run, 'relays'));
  } catch {
    // no CNI endpoint relays anything
  }
  const wanted = ids.filter((id) => servedByHostRelay(relayDir(engine, id)) && engine.store.getEndpoint(id) !== undefined);
  await Promise.all(binding.values());
  const bound = await listHostRelay(engine);
  const findings: HostRelayFinding[] = [];
  for (const owner of bound?.keys() ?? []) {
    if (wanted.includes(owner)) continue;
    findings.push({ endpointId: owner, object: `host port relay ${owner.slice(0, 12)}`, problem: `it binds ${bound?.get(owner)?.length ?? 0} port(s) for an endpoint that is gone`, action: 'released them', repair: () => unbindHostRelay(engine, owner) });
  }
  for (const id of wanted) {
    const dir = relayDir(engine, id);
    const gap = hostRelayGap(dir, bound, id);
    if (!gap) continue;
    const rebind = async () => {
      await unbindHostRelay(engine, id);
      await bindHostRelay(engine, id, wantedLines(dir));
      rmSync(join(dir, 'error'), { force: true });
    };
    findings.push({ endpointId: id, object: `port relay ${id.slice(0, 12)}`, problem: gap, action: bound ? 'bound them again' : 'started the host relay and bound them', repair: rebind });
  }
  return findings;
}

/** CNI relays whose endpoint the store no longer has (its sandbox went away without a DEL). */
export function orphanedEndpointRelays(engine: Engine): string[] {
  let ids: string[];
  try {
    ids = readdirSync(join(engine.paths.run, 'relays'));
  } catch {
    return [];
  }
  return ids.filter((id) => engine.store.getEndpoint(id) === undefined);
}

/**
 * The relay's recorded start time; unrecorded (its starter, a daemon, ended before berth-init
 * answered): the process with its pid if that is the relay of this directory's publish file.
 */
function relayStartOf(dir: string, pid: number): string | undefined {
  try {
    return readFileSync(join(dir, 'start'), 'utf8').trim();
  } catch {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('--proxy-only') && argv.includes(join(dir, 'publish')) ? processStartTime(pid) : undefined;
  }
}

/** End a CNI endpoint's relay, if it runs (idempotent). */
export function stopEndpointRelay(engine: Engine, endpointId: string): void {
  const dir = relayDir(engine, endpointId);
  try {
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8').split('\n')[0]);
    const start = relayStartOf(dir, pid);
    if (isSameProcessAlive(pid, start)) signalProcess(pid, 'SIGKILL');
    // its ports are free only once it is gone: a next ADD may publish them again at once
    for (let i = 0; i < 100 && isSameProcessAlive(pid, start); i++) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
  } catch {
    // no relay was started, or it is gone already
  }
  rmSync(dir, { recursive: true, force: true });
}

/** A running container's shim and PID 1, as its record has them. */
export interface ShimProcess {
  id: string;
  pid?: number;
  pidStart?: string;
  childPid?: number;
}

/** The shim's relay: its child that is not the container (the relay runs berth-init's own image). */
function relayPidOf(c: ShimProcess): number | undefined {
  if (!c.pid || !isSameProcessAlive(c.pid, c.pidStart)) return undefined;
  try {
    const kids = readFileSync(`/proc/${c.pid}/task/${c.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
    const shimExe = readFileSync(`/proc/${c.pid}/cmdline`, 'utf8').split('\0')[0];
    return kids.find((k) => k !== c.childPid && readFileSync(`/proc/${k}/cmdline`, 'utf8').split('\0')[0] === shimExe);
  } catch {
    return undefined;
  }
}

/**
 * Ports a running container no longer publishes (a network disconnect released them): rewrite its
 * publish file and have the relay let go of them (SIGHUP), then wait until the host can bind them,
 * so a next publish of the same port is not refused.
 */
export async function releaseRelayedPorts(engine: Engine, c: ShimProcess): Promise<void> {
  const file = join(engine.containerDir(c.id), 'publish');
  if (!existsSync(file)) return;
  const still = new Set(publishFileText(engine.store.listPorts({ containerId: c.id })).split('\n'));
  const lines = readFileSync(file, 'utf8').split('\n').filter(Boolean);
  const gone = lines.filter((l) => !still.has(l));
  if (!gone.length) return;
  writeFileSync(file, lines.filter((l) => still.has(l)).map((l) => `${l}\n`).join(''), { mode: 0o600 });
  const relay = relayPidOf(c);
  if (!relay || !signalProcess(relay, 'SIGHUP')) return;
  for (const line of gone) {
    const [proto, hostIp, port] = line.split(' ') as ['tcp' | 'udp', string, string];
    for (let i = 0; i < 50; i++) {
      const free = await checkHostPortFree(proto, hostIp, Number(port)).then(() => true, () => false);
      if (free) break;
      await sleep(10);
    }
  }
}
