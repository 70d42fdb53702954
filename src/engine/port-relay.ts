// The host-side relay of published ports (native/port-relay.c, run by berth-init). berth's nft
// table DNATs what arrives from elsewhere; the host's own connections to 127.0.0.1:PORT (and
// ::1) go through a relay that binds the port in the host's namespace, as docker-proxy does.
// That needs no route_localnet, so a flushed table opens nothing, and a host service cannot
// bind a published port afterwards and then lose its loopback traffic to the container.
//
// berth containers: the shim binds and relays (--publish-file). CNI sandboxes, whose process
// berth does not start: a detached `berth-init --proxy-only` per endpoint, ended on DEL.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH_INIT } from '../common/package.js';
import { ConflictError, SystemError } from '../common/errors.js';
import type { PortRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { checkHostPortFree } from './host-ports.js';
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

/** Start a detached relay for a CNI endpoint's published ports (none: nothing to do). */
export function startEndpointRelay(engine: Engine, endpointId: string, ports: readonly PortRecord[]): void {
  const dir = relayDir(engine, endpointId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, 'publish');
  if (!writePublishFile(file, ports).relayed) return void rmSync(dir, { recursive: true, force: true });
  const pidfile = join(dir, 'pid');
  const r = spawnSync(BERTH_INIT, ['--proxy-only', '--publish-file', file, '--pidfile', pidfile, '--detach', '--log', join(dir, 'log')], {
    encoding: 'utf8',
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (r.status === 0) {
    // the start time tells our relay from a later process with its PID
    const pid = Number(readFileSync(pidfile, 'utf8').split('\n')[0]);
    writeFileSync(join(dir, 'start'), processStartTime(pid) ?? '', { mode: 0o600 });
    return;
  }
  rmSync(dir, { recursive: true, force: true });
  const why = (r.stderr ?? '').replace(/^berth-init: /, '').trim() || r.error?.message || `exit status ${r.status}`;
  if (r.status === 125 && /in use/.test(why)) throw new ConflictError(why);
  throw new SystemError(`cannot start the port relay: ${why}`);
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

/** End a CNI endpoint's relay, if it runs (idempotent). */
export function stopEndpointRelay(engine: Engine, endpointId: string): void {
  const dir = relayDir(engine, endpointId);
  try {
    const pid = Number(readFileSync(join(dir, 'pid'), 'utf8').split('\n')[0]);
    const start = readFileSync(join(dir, 'start'), 'utf8').trim();
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
