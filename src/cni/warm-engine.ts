// The warm CNI engine (issues 13 and 16): without a daemon, each berth-cni call costs a Node start
// (~60 ms here), more than netavark's whole ADD. So the in-process plugin, once its answer is
// written, starts this engine (detached, its own session, stdio on /dev/null), which listens on
// $BERTH_RUN/cni-engine.sock (0600, in a root-owned directory) and serves the native client's
// later calls (native/berth-client.c) with the very same in-process code (runCni), one call at a
// time, until it has been idle for the conf's "engine": {"idleSeconds": N} (default 30). It runs
// no service of its own (no DNS, no host relay: the relays it starts are the in-process path's
// detached ones), so its exit changes nothing for running containers.
//
// Protocol (one call per connection): the client sends its JSON body {env: CNI_* variables,
// stdin, berth: {BERTH_ROOT, BERTH_RUN}} and shuts its side; the engine answers "+" as soon as it
// accepts the connection (a call it will finish or die in), then the thin client's frames: "1"
// stdout and "x" status, or "l" alone (run the call in-process: the caller is in another network
// namespace, or its netns path is not visible from here). No "+": the engine had gone (idle exit,
// replaced), nothing was done, and the client runs the call in-process. "+" and no "x": the engine
// died during the call, which the client reports as CNI error 11 (try again later).
import { spawn } from 'node:child_process';
import { chmodSync, lstatSync, renameSync, rmSync, statSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { dirname, join } from 'node:path';
import { Frames } from '../common/frames.js';
import { NotFoundError } from '../common/errors.js';
import { socketAnswers } from '../common/unix-socket.js';
import type { Engine } from '../engine/context.js';
import { peerCredentials } from '../engine/host.js';
import { netnsReach } from './gateway.js';
import { runCni, type NetnsReach, type StateLocation } from './plugin.js';

export const ENGINE_SOCKET = 'cni-engine.sock';
/** argv[2] of the engine process (after the bundle), then the socket path and the idle seconds */
export const SERVE_FLAG = '--serve-engine';
/** argv the native client gives the in-process plugin when it found no engine: start one after the call */
export const START_FLAG = '--start-engine';
/** a conf with a long prevResult is a few kB; anything near this is not a CNI call */
const MAX_REQUEST = 4 << 20;
/** how often the engine checks that its socket is still its own (a newer engine replaced it: exit) */
const OWNED_CHECK_MS = 2000;
/** state locations one engine keeps open; a call for yet another one runs in-process */
const MAX_LOCATIONS = 16;

export const engineSocketPath = (run: string): string => join(run, ENGINE_SOCKET);

/** Root's directory, writable by root only: else another user could plant a socket there. */
export function safeEngineDir(dir: string): boolean {
  try {
    const st = statSync(dir);
    return st.isDirectory() && st.uid === 0 && (st.mode & 0o022) === 0;
  } catch {
    return false;
  }
}

/** A socket the native client would use: root's, mode 0600 (else it refuses it, and an engine replaces it). */
function acceptableSocket(path: string): boolean {
  try {
    const st = lstatSync(path);
    return st.isSocket() && st.uid === 0 && (st.mode & 0o777) === 0o600;
  } catch {
    return false;
  }
}

/** BERTH_CNI_ENGINE: unset, "on" or "off" (the environment's switch; the conf has its own). */
export function engineEnvOff(env: NodeJS.ProcessEnv): boolean {
  return env.BERTH_CNI_ENGINE === 'off';
}

/**
 * In the in-process plugin, after its answer is written: start an engine for run's socket. A
 * detached process in its own session with stdio on /dev/null, so the runtime, which waits for
 * this process to exit and its stdout to close, is not held up by it. Root only, like the socket.
 */
export function startWarmEngine(run: string, idleSeconds: number): void {
  if (process.getuid?.() !== 0 || !safeEngineDir(run)) return;
  // the same node, flags (the snapshot's) and bundle as this process
  const script = process.argv[1];
  if (!script) return;
  const child = spawn(process.execPath, [...process.execArgv, script, SERVE_FLAG, engineSocketPath(run), String(idleSeconds)], { detached: true, stdio: 'ignore' });
  child.on('error', () => undefined); // no engine: the next call runs in-process, as this one did
  child.unref();
}

/** The caller's state location, as its environment says (the conf may say otherwise, per call). */
interface EngineRequest {
  env: Record<string, string>;
  stdin: string;
  berth: { BERTH_ROOT?: string; BERTH_RUN?: string };
}

function decodeRequest(raw: Buffer): EngineRequest | undefined {
  let b: unknown;
  try {
    b = JSON.parse(raw.toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof b !== 'object' || b === null) return undefined;
  const { env, stdin, berth } = b as Record<string, unknown>;
  if (typeof env !== 'object' || env === null || typeof stdin !== 'string') return undefined;
  const cniEnv = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('CNI_') && typeof v === 'string')) as Record<string, string>;
  const loc = (typeof berth === 'object' && berth !== null ? berth : {}) as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const root = str(loc.BERTH_ROOT);
  const run = str(loc.BERTH_RUN);
  return { env: cniEnv, stdin, berth: { ...(root ? { BERTH_ROOT: root } : {}), ...(run ? { BERTH_RUN: run } : {}) } };
}

/** The same namespace (of kind ns) as this process: a caller in another netns is another "host". */
function sameNamespace(pid: number, ns: 'net'): boolean {
  try {
    const theirs = statSync(`/proc/${pid}/ns/${ns}`);
    const ours = statSync(`/proc/self/ns/${ns}`);
    return theirs.ino === ours.ino && theirs.dev === ours.dev;
  } catch {
    return false;
  }
}

export interface WarmEngineOptions {
  socketPath: string;
  idleSeconds: number;
  /** an engine on the caller's state location (its environment's, then the conf's) */
  engineFor: (env: NodeJS.ProcessEnv) => Engine;
  /** where an environment puts berth's state (the key of the engines kept open) */
  locationOf: (env: NodeJS.ProcessEnv) => string;
}

/** Listen and serve until idle, replaced or signalled; resolves when the process may exit. */
export async function serveWarmEngine(opts: WarmEngineOptions): Promise<void> {
  const { socketPath } = opts;
  let idleMs = opts.idleSeconds * 1000;
  if (!safeEngineDir(dirname(socketPath))) return;
  // another engine answers on a socket clients use: it serves, this one leaves
  if (acceptableSocket(socketPath) && (await socketAnswers(socketPath))) return;

  let ownedTimer: NodeJS.Timeout | undefined = undefined;
  let busy = 0;
  let stopping = false;
  let idleTimer: NodeJS.Timeout | undefined;
  let ino: number | undefined;
  let queue: Promise<void> = Promise.resolve();
  // one Engine per state location for the engine's life, as the daemon keeps its one: its store
  // stays open and its caches, which check the kernel's and the store's generations, stay warm
  // (an Engine per call would also leave a ruleset-generation socket and commit observer behind)
  const kept = new Map<string, Engine>();
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));

  const ours = (): boolean => {
    try {
      return lstatSync(socketPath).ino === ino;
    } catch {
      return false;
    }
  };
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    clearTimeout(idleTimer);
    if (ownedTimer) clearInterval(ownedTimer);
    // no new connection from now on: one still queued by the kernel is refused, and its client,
    // which got no "+", runs the call in-process
    server.close();
    if (ours()) rmSync(socketPath, { force: true });
    if (busy === 0) done();
  };
  const closeEngines = (): void => {
    for (const e of kept.values()) e.close();
    kept.clear();
  };
  const armIdle = (): void => {
    clearTimeout(idleTimer);
    if (busy === 0 && !stopping) idleTimer = setTimeout(stop, idleMs);
  };

  const serveOne = async (sock: Socket, raw: Buffer): Promise<void> => {
    const frames = new Frames();
    const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
    const peer = typeof fd === 'number' && fd >= 0 ? peerCredentials(fd) : undefined;
    const req = decodeRequest(raw);
    // only the engine's own user (root: the socket is 0600), in this network namespace
    if (!peer || peer.uid !== process.getuid?.() || !req || !sameNamespace(peer.pid, 'net')) {
      frames.add('l');
      sock.end(frames.toBuffer());
      return;
    }
    let reach: NetnsReach;
    try {
      // CNI_NETNS as the caller sees it (its mount namespace), as the daemon does
      reach = netnsReach(req.env, peer.pid);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      frames.add('l');
      sock.end(frames.toBuffer());
      return;
    }
    const callerEnv: NodeJS.ProcessEnv = { ...process.env, BERTH_ROOT: req.berth.BERTH_ROOT ?? '', BERTH_RUN: req.berth.BERTH_RUN ?? '' };
    let tooMany = false;
    const engineFor = (loc: StateLocation): Engine => {
      const env = { ...callerEnv, ...(loc.berthRoot ? { BERTH_ROOT: loc.berthRoot } : {}), ...(loc.berthRun ? { BERTH_RUN: loc.berthRun } : {}) };
      const key = opts.locationOf(env);
      let e = kept.get(key);
      if (!e) {
        if (kept.size >= MAX_LOCATIONS) {
          tooMany = true;
          throw new Error('the warm engine serves enough state locations already');
        }
        kept.set(key, (e = opts.engineFor(env)));
      }
      return e;
    };
    const answer = await runCni(engineFor, req.env, req.stdin, reach);
    if (tooMany) frames.add('l');
    else {
      // the idle period after a call is the one its conf asks for
      if (answer.engine && !answer.engine.off) idleMs = answer.engine.idleSeconds * 1000;
      frames.add('1', answer.stdout);
      frames.add('x', String(answer.status));
    }
    sock.end(frames.toBuffer());
  };

  const server = createServer({ allowHalfOpen: true }, (sock) => {
    busy++;
    clearTimeout(idleTimer);
    let settled = false;
    const settle = (): void => {
      if (settled) return;
      settled = true;
      busy--;
      if (stopping && busy === 0) done();
      else armIdle();
    };
    sock.on('error', () => undefined);
    sock.on('close', () => {
      if (!queued) settle();
    });
    let queued = false;
    const chunks: Buffer[] = [];
    let size = 0;
    sock.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_REQUEST) sock.destroy();
      else chunks.push(c);
    });
    sock.on('end', () => {
      queued = true;
      // one call at a time, as separate plugin processes would each hold the same locks in turn
      queue = queue.then(() => serveOne(sock, Buffer.concat(chunks)).catch(() => void sock.destroy())).finally(settle);
    });
    // accepted: this call is served, or the client learns that the engine died during it
    sock.write('+');
  });

  await new Promise<void>((resolve, reject) => {
    const tmp = `${socketPath}.${process.pid}`;
    rmSync(tmp, { force: true });
    server.once('error', reject);
    // born 0600: no window in which another user may connect
    const umask = process.umask(0o177);
    server.listen(tmp, () => {
      process.umask(umask);
      try {
        chmodSync(tmp, 0o600);
        // atomically in place: an older engine finds its socket gone and leaves (ownedTimer)
        renameSync(tmp, socketPath);
        ino = lstatSync(socketPath).ino;
        resolve();
      } catch (err) {
        reject(err instanceof Error ? err : new Error(String(err)));
      }
    });
  }).catch((err: unknown) => {
    server.close();
    throw err;
  });
  // (declared here, read by stop, which runs only once this is set: idle, signals and checks start below)
  ownedTimer = setInterval(() => void (ours() || stop()), OWNED_CHECK_MS);
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(sig, stop);
  armIdle();
  await finished;
  closeEngines();
}
