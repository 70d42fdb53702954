// The daemon's side of the native berth-cni (native/berth-client.c): one CNI plugin call, body
// {env: CNI_* variables, stdin}, run by the daemon's engine and answered in the thin client's frames.
import { NotFoundError } from '../common/errors.js';
import { Frames } from '../common/frames.js';
import type { Engine } from '../engine/context.js';
import { isNetnsPath } from '../engine/host.js';
import { CNI_CODES, CniError } from './errors.js';
import { runCni, type StateLocation } from './plugin.js';
import { trace } from '../common/trace.js';

type Serial = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * The daemon serves its own state only. A conf naming another location (berthRoot, berthRun) is
 * not the daemon's call either: a 404, and the native plugin runs it in-process on that location.
 */
function sameLocation(engine: Engine, stdin: string): void {
  let conf: unknown;
  try {
    conf = JSON.parse(stdin);
  } catch {
    return; // the plugin answers undecodable input itself
  }
  if (typeof conf !== 'object' || conf === null) return;
  const { berthRoot, berthRun } = conf as Record<string, unknown>;
  if ((typeof berthRoot === 'string' && berthRoot !== engine.paths.root) || (typeof berthRun === 'string' && berthRun !== engine.paths.run)) {
    throw new NotFoundError(`the configuration names another berth state location than the daemon's ("${engine.paths.root}", "${engine.paths.run}"): the plugin runs the call in-process`);
  }
}

/** The location check again, inside the call: a conf naming another location is refused, naming both. */
function daemonEngine(engine: Engine, loc: StateLocation): Engine {
  if (loc.berthRoot && loc.berthRoot !== engine.paths.root) {
    throw new CniError(CNI_CODES.invalidConfig, `"berthRoot" "${loc.berthRoot}" is not the daemon's state ("${engine.paths.root}")`, 'run the plugin with BERTH_NO_DAEMON=1 for another location');
  }
  if (loc.berthRun && loc.berthRun !== engine.paths.run) {
    throw new CniError(CNI_CODES.invalidConfig, `"berthRun" "${loc.berthRun}" is not the daemon's ("${engine.paths.run}")`, 'run the plugin with BERTH_NO_DAEMON=1 for another location');
  }
  return engine;
}

/**
 * CNI_NETNS is a path in the caller's mount namespace: a runtime with a private /run/netns
 * (podman) names one the daemon cannot see. The daemon opens the path through /proc/<pid>/root,
 * the plugin's own view, with the pid the kernel gives for the socket's peer (SO_PEERCRED; the
 * plugin waits for the answer, so the pid is its own); the body's "pid" is not trusted. Without a
 * pid (TCP), or not a namespace there either: a 404, on which the native plugin runs the same
 * call in-process, in the caller's namespaces.
 */
export function netnsReach(env: Record<string, string>, pid: number | undefined): (given: string) => string {
  const netns = env.CNI_NETNS;
  // the caller's view when known (a same-named path in the daemon's namespace may be another one)
  const viaCaller = (p: string) => (pid && p.startsWith('/') ? `/proc/${pid}/root${p}` : p);
  // DEL needs no netns (a gone one is the usual case): the daemon serves it, overlay included
  if (!netns || (env.CNI_COMMAND !== 'ADD' && env.CNI_COMMAND !== 'CHECK')) return viaCaller;
  if (!isNetnsPath(viaCaller(netns))) throw new NotFoundError(`network namespace "${netns}" is not visible to the daemon: the plugin runs the call in-process`);
  return viaCaller;
}

export async function serveCni(engine: Engine, serial: Serial, body: unknown, callerPid: number | undefined): Promise<Buffer> {
  trace('cni: request');
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const env = (typeof b.env === 'object' && b.env !== null ? b.env : {}) as Record<string, unknown>;
  const cniEnv = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('CNI_') && typeof v === 'string')) as Record<string, string>;
  const stdin = typeof b.stdin === 'string' ? b.stdin : '';
  const reach = netnsReach(cniEnv, callerPid);
  sameLocation(engine, stdin);
  const { stdout, status } = await serial(() => (trace('cni: serial entered'), runCni((loc) => daemonEngine(engine, loc), cniEnv, stdin, reach, { hostRelay: true })));
  trace('cni: answered');
  const frames = new Frames();
  frames.add('1', stdout);
  frames.add('x', String(status));
  return frames.toBuffer();
}
