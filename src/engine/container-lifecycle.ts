// A container's end: record how its process ended, release its network, remove it (--rm, rm),
// and stop it (SIGTERM, then SIGKILL). Every path is idempotent: another berth process may
// have recorded the end, or removed the container, first.
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ConflictError, SystemError } from '../common/errors.js';
import { deleteNetns } from '../kernel/netns.js';
import type { Engine } from './context.js';
import { asContainer, getContainer, liveStatus, type Container, type ContainerState } from './container-types.js';
import { finishSandboxVeths, releaseEndpoints } from './endpoints.js';
import { joinedContainerId, storedNetworkMode } from './network-mode.js';
import { isSameProcessAlive, processStartTime, signalProcess, sleep } from './process.js';
import { isShimChild, KILLED_WITH_SHIM, killContainerProcess, readPidfile, waitUntilGone } from './shim.js';

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
  const mode = storedNetworkMode(c.config.networkMode).kind;
  if (mode !== 'host' && mode !== 'container') deleteNetns(engine.netnsPath(c.id));
  removeRecord(engine, c);
}

/** Release everything network a container holds: ports, endpoints, addresses, its namespace. Idempotent. */
export async function releaseNetwork(engine: Engine, c: Container): Promise<void> {
  const store = engine.store;
  // only a namespace berth made for this container is deleted; a joined one belongs to its target
  const own = c.state.netns !== undefined && c.state.netns === engine.netnsPath(c.id);
  const others = store.listContainers().map(asContainer);
  const joined = others.filter((o) => joinedContainerId(o.config.networkMode) === c.id);
  const joinedRunning = joined.some((o) => liveStatus(o) === 'running');
  // with nothing else in it, deleting the namespace takes the links with it (see finishSandboxVeths)
  const leftToNetns = await releaseEndpoints(engine, c.id, undefined, { sandboxGoing: own && !joinedRunning });
  if (own && c.state.netns) deleteNetns(c.state.netns);
  await finishSandboxVeths(engine, leftToNetns);
  // containers that joined this one's namespace have lost their network
  for (const other of joined) {
    if (!other.state.networkNote) {
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
