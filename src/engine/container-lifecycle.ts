// A container's end: record how its process ended, release its network, remove it (--rm, rm),
// and stop it (SIGTERM, then SIGKILL). Every path is idempotent: another berth process may
// have recorded the end, or removed the container, first.
import { existsSync, readFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConflictError, SystemError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import { deleteNetns, deleteNetnsAsync } from '../kernel/netns.js';
import { batchedRelease, batchJoinedIds } from './batch-release.js';
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
  await removeRecord(engine, c);
}

/** Release everything network a container holds: ports, endpoints, addresses, its namespace. Idempotent. */
export async function releaseNetwork(engine: Engine, c: Container): Promise<void> {
  const store = engine.store;
  // only a namespace berth made for this container is deleted; a joined one belongs to its target
  const own = c.state.netns !== undefined && c.state.netns === engine.netnsPath(c.id);
  // many released at once (rm -f of many ids): one index of who joined whom, not a read of every record each
  const batchIds = batchJoinedIds(c.id);
  const joined = batchIds
    ? batchIds.flatMap((id) => {
        const r = store.findContainer(id);
        return r ? [asContainer(r)] : [];
      })
    : store.listContainers().map(asContainer).filter((o) => joinedContainerId(o.config.networkMode) === c.id);
  const joinedRunning = joined.some((o) => liveStatus(o) === 'running');
  // with nothing else in it, deleting the namespace takes the links with it (see finishSandboxVeths),
  // in the kernel's background: deleted first, that overlaps the nft commits of the release
  const going = own && !joinedRunning;
  // off the event loop (deleteNetnsAsync): many removals at once wait for the kernel side by side
  const deleting = going && c.state.netns ? deleteNetnsAsync(c.state.netns) : undefined;
  deleting?.catch(() => undefined); // awaited below; not an unhandled rejection if the release throws first
  const leftToNetns = await releaseEndpoints(engine, c.id, undefined, { sandboxGoing: going });
  trace('release: endpoints released');
  await deleting;
  if (own && !going && c.state.netns) await deleteNetnsAsync(c.state.netns);
  await finishSandboxVeths(engine, leftToNetns);
  trace('release: veths gone');
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
  trace('exited: start');
  // a process that outlived its shim must not keep running on an address handed out again
  await killContainerProcess(c.state.childPid, c.state.childStart);
  await releaseNetwork(engine, c);
  trace('exited: network released');
  if (c.config.rm) {
    await removeRecord(engine, c);
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

/**
 * Its files, then its record. The files are removed off the event loop: each unlink of a file the
 * container's mount namespace had bind-mounted (hosts, resolv.conf, hostname) waits for the
 * kernel (~5 ms; 4.8 s of the daemon's time for 300 at once, issue 16), and side by side those
 * waits overlap.
 */
async function removeRecord(engine: Engine, c: Container): Promise<void> {
  await rm(engine.containerDir(c.id), { recursive: true, force: true });
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

/** A foreground run's berth process, or one stopping or removing the container, records its end. */
function hasLiveWaiter(c: Container): boolean {
  return isSameProcessAlive(c.state.waiterPid, c.state.waiterStart);
}

/**
 * Claim the recording of a running detached container's end for this process, before ending it:
 * its on-exit hook then leaves the end to us (detachedExited), so a stop or removal does not wait
 * for the hook (a whole Node start when no daemon answers). If this process dies first, the claim
 * dies with it and the end is reconciled as any unrecorded one. False if it is not running.
 */
function claimEnd(engine: Engine, id: string): boolean {
  const me = processStartTime(process.pid);
  if (!me) return false;
  return engine.store.transaction(() => {
    const state = engine.store.findContainer(id)?.state as ContainerState | undefined;
    if (state?.status !== 'running') return false;
    engine.store.updateContainerState(id, { ...state, waiterPid: process.pid, waiterStart: me } satisfies ContainerState);
    return true;
  });
}

/** A detached shim's on-exit hook: records the end, unless a stop or rm that claimed it does. */
export async function detachedExited(engine: Engine, id: string): Promise<number> {
  const rec = engine.store.findContainer(id);
  if (rec && hasLiveWaiter(asContainer(rec))) return readExitFile(engine, id)?.exitCode ?? KILLED_WITH_SHIM;
  return containerExited(engine, id);
}

/**
 * The shim writes the exit file once it reaped the container and stopped its port relay (the
 * ports are free then); it runs the on-exit hook right after. Takes a millisecond or so.
 */
async function waitForExitFile(engine: Engine, c: Container, timeoutMs: number): Promise<void> {
  const file = join(engine.containerDir(c.id), 'exit');
  const deadline = Date.now() + timeoutMs;
  while (!existsSync(file) && isSameProcessAlive(c.state.pid, c.state.pidStart) && Date.now() < deadline) await sleep(1);
}

/**
 * End a running container's process, SIGTERM first with graceMs to exit (undefined: SIGKILL at
 * once, as `rm -f`), and record its end. A detached one is ended and recorded here, woken by
 * pidfds; a foreground one by the berth process that waits for it (old protocol, polled).
 */
async function endRunning(engine: Engine, c: Container, graceMs?: number): Promise<void> {
  const { pid, pidStart, childPid, childStart } = c.state;
  // a pidfile of an older shim has no start time: the container cannot be told from a reused PID
  if (!childStart || hasLiveWaiter(c) || !claimEnd(engine, c.id)) {
    if (graceMs !== undefined) {
      if (pid) signalProcess(pid, 'SIGTERM');
      if (!(await waitUntilGone(pid, pidStart, graceMs)) && childPid) signalProcess(childPid, 'SIGKILL');
    } else if (childPid) {
      signalProcess(childPid, 'SIGKILL');
    }
    await waitUntilGone(pid, pidStart, 10_000);
    await waitForExitRecorded(engine, c.id, 30_000);
    return;
  }
  trace('end: claimed');
  if (graceMs !== undefined) {
    // the shim passes SIGTERM on; PID 1 of a namespace ignores signals it has no handler for
    if (pid && isSameProcessAlive(pid, pidStart)) signalProcess(pid, 'SIGTERM');
    await waitUntilGone(childPid, childStart, graceMs);
  }
  await killContainerProcess(childPid, childStart, 10_000);
  trace('end: process gone');
  await waitForExitFile(engine, c, 5000);
  trace('end: exit file');
  // the shim now only runs the on-exit hook, which has nothing to do (the end is ours): spare the
  // host a Node start when no daemon answers
  if (pid && isSameProcessAlive(pid, pidStart)) signalProcess(pid, 'SIGKILL');
  await containerExited(engine, c.id, KILLED_WITH_SHIM);
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
  await endRunning(engine, c, timeoutSec * 1000);
  return c;
}

export async function removeContainer(engine: Engine, ref: string, force: boolean): Promise<Container> {
  let c = getContainer(engine, ref);
  if (liveStatus(c) === 'running') {
    if (!force) {
      throw new ConflictError(`cannot remove running container "${c.name}": stop it first, or use rm -f`);
    }
    trace('rm: ending it');
    await endRunning(engine, c);
    trace('rm: exit recorded');
  }
  const rec = engine.store.findContainer(c.id);
  if (!rec) return c; // --rm already removed it
  c = asContainer(rec);
  // an orphan: recorded as ended, yet its process outlived its shim
  await killContainerProcess(c.state.childPid, c.state.childStart);
  await releaseNetwork(engine, c);
  await removeRecord(engine, c);
  trace('rm: removed');
  return c;
}

/** Containers removed at once by removeContainers: ends of processes awaited side by side. */
const REMOVE_CONCURRENCY = 32;

/**
 * Remove many containers (`rm [-f] ID...`): every ref resolved and, without force, none running,
 * before anything changes; then removed side by side (their processes' ends overlap) with their
 * releases batched (batch-release.ts: one nft commit, the veths awaited together). Every
 * container is tried; the ones removed are returned in the order asked, with the first error.
 */
export async function removeContainers(engine: Engine, refs: readonly string[], force: boolean): Promise<{ removed: string[]; error?: Error }> {
  const targets = refs.map((ref) => ({ ref, c: getContainer(engine, ref) }));
  const running = targets.find((t) => liveStatus(t.c) === 'running');
  if (running && !force) throw new ConflictError(`cannot remove running container "${running.c.name}": stop it first, or use rm -f`);
  const seen = new Set<string>();
  const unique = targets.filter((t) => !seen.has(t.c.id) && seen.add(t.c.id));
  const done = new Set<string>();
  let error: Error | undefined;
  const asError = (e: unknown) => (e instanceof Error ? e : new Error(String(e)));
  let next = 0;
  const worker = async () => {
    for (let t = unique[next++]; t; t = unique[next++]) {
      try {
        await removeContainer(engine, t.c.id, force);
        done.add(t.c.id);
      } catch (err) {
        error ??= asError(err);
      }
    }
  };
  try {
    await batchedRelease(engine, () => Promise.all(Array.from({ length: Math.min(REMOVE_CONCURRENCY, unique.length) }, worker)));
  } catch (err) {
    error ??= asError(err);
  }
  return { removed: targets.filter((t) => done.has(t.c.id)).map((t) => t.ref), ...(error ? { error } : {}) };
}
