// Containers whose end nobody recorded (DESIGN.md, "Containers": a container's lifetime is its
// own process, not only its shim's). Every berth command runs this first, and the daemon runs it
// the moment a watched shim ends (src/engine/container-watch.ts), so a dead shim's container
// never shows as running, nor keeps its address, ports or namespace:
// - abandoned: left in `created` by a berth process that died while creating it (a daemon
//   SIGKILLed mid-run): its process, if it started, is killed and everything released;
// - ended: recorded as running, but its shim is gone without recording the end (kill -9 of the
//   shim; the container died with it, PR_SET_PDEATHSIG): Exited (137), network released;
// - orphan: recorded as ended, yet its process lives on (it outlived a shim older than
//   PDEATHSIG): killed.
import type { Engine } from './context.js';
import { containerExited, creationAbandoned, discardAbandoned } from './container-lifecycle.js';
import { containerCache } from './container-cache.js';
import type { Container } from './container-types.js';
import { KILLED_WITH_SHIM, killContainerProcess } from './shim.js';
import { isAliveHinted, isSameProcessAlive } from './process.js';

export type UnrecordedEnd = 'abandoned' | 'ended' | 'orphan';

/** What about c's record is untrue, if anything. */
export function unrecordedEnd(c: Container): UnrecordedEnd | undefined {
  if (creationAbandoned(c)) return 'abandoned';
  if (c.state.status === 'running' && !isAliveHinted(c.state.pid, c.state.pidStart)) {
    // a foreground run's own berth process waits for it and records the end itself
    return isSameProcessAlive(c.state.waiterPid, c.state.waiterStart) ? undefined : 'ended';
  }
  if (c.state.status === 'exited' && isSameProcessAlive(c.state.childPid, c.state.childStart)) return 'orphan';
  return undefined;
}

/** Make c's record true again; returns what was wrong. */
export async function reconcileContainer(engine: Engine, c: Container): Promise<UnrecordedEnd | undefined> {
  const what = unrecordedEnd(c);
  if (what === 'abandoned') await discardAbandoned(engine, c);
  else if (what === 'ended') await containerExited(engine, c.id, KILLED_WITH_SHIM);
  else if (what === 'orphan') await killContainerProcess(c.state.childPid, c.state.childStart);
  return what;
}

/**
 * Containers whose record was found true and cannot turn untrue by itself: exited, with their
 * process gone (a PID and start time never come back). Keyed by the decoded record, which the
 * cache replaces when the record is written.
 */
const settled = new WeakSet<Container>();

/**
 * Reconcile every container. Best effort: another berth process may be doing the same at the
 * same moment (every step is idempotent), and one container's failure does not stop the rest
 * nor the command that asked; `berth system check` reports what is still wrong. skip: containers
 * someone else is finishing right now (the daemon's pending thin-client runs). The records come
 * from the store's change log (container-cache.ts), and a running container's liveness from the
 * daemon's pidfds when it has them: in the daemon a sweep reads no record nor /proc file per
 * container that did not change.
 */
export async function reconcileContainers(engine: Engine, skip: (id: string) => boolean = () => false): Promise<{ container: Container; what: UnrecordedEnd }[]> {
  const cache = containerCache(engine.store);
  cache.refresh();
  const todo: { c: Container; what: UnrecordedEnd }[] = [];
  for (const c of cache.values()) {
    if (settled.has(c) || skip(c.id)) continue;
    const what = unrecordedEnd(c);
    if (what) todo.push({ c, what });
    else if (c.state.status === 'exited') settled.add(c);
  }
  const done: { container: Container; what: UnrecordedEnd }[] = [];
  for (const { c } of todo) {
    try {
      const what = await reconcileContainer(engine, c);
      if (what) done.push({ container: c, what });
    } catch {
      // left for the next command, the daemon or `system check --repair` (which reports it)
    }
  }
  return done;
}
