// Starting a prepared container's shim and recording that it runs: from this process (in the
// foreground with signals forwarded, or detached), or adopted from a thin client that started
// the shim itself through the daemon.
import { spawn } from 'node:child_process';
import { BERTH_INIT } from '../common/package.js';
import { trace } from '../common/trace.js';
import { SystemError } from '../common/errors.js';
import type { Engine } from './context.js';
import { containerExited } from './container-lifecycle.js';
import { prepareContainer, type Prepared } from './container-prepare.js';
import type { ContainerState, RunSpec, Started } from './container-types.js';
import { processStartTime, signalProcess, sleep } from './process.js';
import { exitStatus, forwardSignals, readPidfile, StartFailed, waitForPidfile } from './shim.js';

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

/** Foreground run: wait for the command (signals are forwarded), clean up; resolves to the exit status. */
export async function waitForeground(engine: Engine, started: Started): Promise<number> {
  const shim = started.shim;
  if (!shim) throw new Error('waitForeground needs a foreground container');
  const code = await new Promise<number>((resolve) => {
    if (shim.exitCode !== null) resolve(shim.exitCode);
    shim.once('exit', (c, sig) => resolve(exitStatus(c, sig)));
  });
  trace('run: exited');
  const status = await containerExited(engine, started.id, code);
  trace('run: cleaned up');
  return status;
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
  /** record it as running now if its shim has written the pidfile (before a command reads the store) */
  catchUp(): void;
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
    catchUp(): void {
      if (!stopped) tryRecord();
    },
  };
}
