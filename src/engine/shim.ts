// The berth-init shim's protocol: the argv that starts it, the pidfile it writes once the
// command runs (line 1 the container's PID 1, line 2 the shim, line 3 the PID 1's start time),
// the wait for that file, and ending a container's process for good.
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { BERTH_BIN, BERTH_CLIENT, BERTH_INIT } from '../common/package.js';
import { SystemError, UserError } from '../common/errors.js';
import { pidfdOpen, waitPidfd } from '../kernel/pidfd.js';
import { isSameProcessAlive, parentPid, signalProcess, sleep } from './process.js';
import type { SandboxFiles } from './sandbox-files.js';

/** The status of a container SIGKILLed with its shim (PR_SET_PDEATHSIG), as a shell reports it. */
export const KILLED_WITH_SHIM = 128 + 9;

/** berth-init exited before exec'ing the command; it already said why on stderr. */
export class StartFailed extends UserError {
  constructor(readonly status: number) {
    super(`the container's command could not be started (berth-init exit status ${status})`);
  }
}

/** What the shim is told: where the container's files are and how it runs. */
export interface ShimLaunch {
  id: string;
  /** the container's directory: pidfile, exit file, log */
  dir: string;
  /** the namespace to enter; none in host mode */
  netns?: string;
  hostname: string;
  files: SandboxFiles;
  /** the base mount namespace (engine/mount-base.ts) the container's own is made from */
  mountBase?: string;
  /** host mode keeps the host's /etc/hosts and resolv.conf */
  ownNetwork: boolean;
  rootfs?: string;
  /** the publish file, when the shim binds ports on the host and relays its own connections */
  publishFile?: string;
  detach: boolean;
  cmd: string[];
}

/** The shim and its arguments, argv[0] first. */
export function shimArgv(l: ShimLaunch): string[] {
  return [
    BERTH_INIT,
    ...(l.netns ? ['--netns', l.netns] : []),
    ...(l.mountBase ? ['--mount-base', l.mountBase] : []),
    '--hostname', l.hostname,
    ...(l.ownNetwork ? ['--bind', `${l.files.hosts}:/etc/hosts`, '--bind', `${l.files.resolvConf}:/etc/resolv.conf`] : []),
    '--bind', `${l.files.hostname}:/etc/hostname`,
    ...(l.rootfs ? ['--rootfs', l.rootfs] : []),
    '--pidfile', pidfileOf(l.dir),
    '--exit-file', join(l.dir, 'exit'),
    ...(l.publishFile ? ['--publish-file', l.publishFile] : []),
    ...(l.detach
      ? ['--detach', '--log', join(l.dir, 'log'), '--on-exit', ...onExitHook(l.id), '--end']
      : []),
    '--', ...l.cmd,
  ];
}

export function pidfileOf(dir: string): string {
  return join(dir, 'pid');
}

/** The detached shim's hook once the command ended: the native client (daemon, else in-process), or node. */
function onExitHook(id: string): string[] {
  const via = existsSync(BERTH_CLIENT) ? [BERTH_CLIENT] : [process.execPath, BERTH_BIN];
  return [...via, 'internal', 'on-exit', id];
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

/** Wait for the foreground shim's pidfile; StartFailed if the shim exits first. */
export async function waitForPidfile(path: string, shim: ChildProcess, timeoutMs = 10_000): Promise<{ childPid: number; childStart?: string }> {
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

/** Whether pid's parent is a berth-init shim (a pidfile of an older shim has no start time). */
export function isShimChild(pid: number): boolean {
  try {
    return readFileSync(`/proc/${parentPid(pid) ?? 0}/cmdline`, 'utf8').includes('berth-init');
  } catch {
    return false;
  }
}

const osSignals: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };

/** A child's exit as a shell reports it: its code, or 128 + the number of the signal that ended it. */
export function exitStatus(code: number | null, sig: NodeJS.Signals | null): number {
  return code ?? 128 + (sig ? (osSignals[sig] ?? 0) : 0);
}

const FORWARDED: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'];

/** Pass these signals to the shim (which passes them to the command) until it exits. */
export function forwardSignals(shim: ChildProcess): void {
  const handlers = FORWARDED.map((sig) => [sig, () => void (shim.pid && signalProcess(shim.pid, sig))] as const);
  for (const [s, h] of handlers) process.on(s, h);
  shim.once('exit', () => {
    for (const [s, h] of handlers) process.off(s, h);
  });
}

/**
 * Wait until the process (pid and start time) is gone, at most timeoutMs; true if it is. Waits on
 * a pidfd: it wakes the moment the process ends, where a poll of /proc would add its interval.
 */
export async function waitUntilGone(pid: number | undefined, start: string | undefined, timeoutMs: number): Promise<boolean> {
  if (!pid) return true;
  let fd: number;
  try {
    fd = pidfdOpen(pid);
  } catch {
    return !isSameProcessAlive(pid, start); // ESRCH: gone (reaped)
  }
  try {
    // checked after opening: the pidfd then refers to exactly the process the caller means
    if (!isSameProcessAlive(pid, start)) return true;
    return await waitPidfd(fd, timeoutMs);
  } finally {
    closeSync(fd);
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
