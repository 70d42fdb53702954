// Running commands for the lab harness: argv arrays only (never a shell string), a timeout on
// every call, and errors that name the argv, the exit status and stderr.
import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';

export const DEFAULT_TIMEOUT_MS = 20_000;
const DEFAULT_MAX_OUTPUT = 16 * 1024 * 1024;

export interface ExecOptions {
  /** Kill the command (SIGKILL, by PID) and throw after this long. Default 20 s. */
  timeoutMs?: number;
  /** Extra environment variables, merged over the process environment (undefined removes one). */
  env?: Record<string, string | undefined>;
  /** Written to the command's stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  cwd?: string;
  /** Throw an ExecError when the command exits non-zero or is killed by a signal. Default false. */
  check?: boolean;
  /** Keep at most this many bytes of stdout and of stderr (the tail is dropped). Default 16 MiB. */
  maxOutputBytes?: number;
}

export interface ExecResult {
  readonly argv: readonly string[];
  /** Exit code, or null when the command was ended by a signal. */
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly durationMs: number;
}

/** `a b "c d"`: an argv rendered for messages only (nothing ever runs it through a shell). */
export function formatArgv(argv: readonly string[]): string {
  return argv.map((a) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

function clip(text: string, max = 4000): string {
  const t = text.trimEnd();
  return t.length <= max ? t : `${t.slice(0, max)}… (${t.length - max} more characters)`;
}

export class ExecError extends Error {
  override readonly name = 'ExecError';
  constructor(
    readonly argv: readonly string[],
    reason: string,
    readonly result?: ExecResult,
  ) {
    const parts = [`${reason}: ${formatArgv(argv)}`];
    if (result) {
      if (result.stderr.trim()) parts.push(`stderr: ${clip(result.stderr)}`);
      if (result.stdout.trim()) parts.push(`stdout: ${clip(result.stdout)}`);
    }
    super(parts.join('\n'));
  }
}

/** Environment for a child: the process environment with `extra` merged over it. */
export function mergeEnv(...layers: (Record<string, string | undefined> | undefined)[]): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const layer of layers) {
    if (!layer) continue;
    for (const [k, v] of Object.entries(layer)) {
      if (v === undefined) delete env[k];
      else env[k] = v;
    }
  }
  return env;
}

class OutputBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  private dropped = 0;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    if (this.size >= this.max) {
      this.dropped += chunk.length;
      return;
    }
    const room = this.max - this.size;
    const part = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.chunks.push(part);
    this.size += part.length;
    this.dropped += chunk.length - part.length;
  }
  text(): string {
    const s = Buffer.concat(this.chunks).toString('utf8');
    return this.dropped ? `${s}\n[… ${this.dropped} bytes dropped]` : s;
  }
}

/** Run argv to completion. Throws ExecError on timeout, on spawn failure, and (with check) on failure. */
export function run(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  if (argv.length === 0 || argv[0] === undefined || argv[0] === '') {
    return Promise.reject(new Error('run: empty argv'));
  }
  const [file, ...args] = argv;
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const max = opts.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  const started = Date.now();
  return new Promise<ExecResult>((resolve, reject) => {
    const child = spawn(file, args, {
      env: mergeEnv(opts.env),
      cwd: opts.cwd,
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out = new OutputBuffer(max);
    const err = new OutputBuffer(max);
    let timedOut = false;
    let pipesHeld: string | undefined;
    let settled = false;
    let exitedWith: string | undefined;
    child.on('exit', (code, signal) => {
      exitedWith = code !== null ? `exit status ${code}` : `signal ${signal ?? '?'}`;
    });
    child.stdout?.on('data', (c: Buffer) => out.push(c));
    child.stderr?.on('data', (c: Buffer) => err.push(c));
    const timer = setTimeout(() => {
      timedOut = true;
      pipesHeld = exitedWith;
      // Our own child: node only signals it while unreaped, so the PID cannot have been reused.
      if (exitedWith === undefined) child.kill('SIGKILL');
      // A grandchild may hold the pipes open: stop reading so 'close' can fire.
      child.stdout?.destroy();
      child.stderr?.destroy();
    }, timeoutMs);
    const result = (code: number | null, signal: NodeJS.Signals | null): ExecResult => ({
      argv: [...argv],
      code,
      signal,
      stdout: out.text(),
      stderr: err.text(),
      durationMs: Date.now() - started,
    });
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(new ExecError(argv, `cannot run (${e.code ?? e.message})`, result(null, null)));
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const r = result(code, signal);
      if (timedOut && pipesHeld !== undefined) {
        // 'close' waits for stdout/stderr to end: something the command started kept them open.
        reject(new ExecError(argv, `exited (${pipesHeld}) but its stdout/stderr stayed open for ${timeoutMs} ms: a background child inherited them`, r));
      } else if (timedOut) reject(new ExecError(argv, `timed out after ${timeoutMs} ms (killed)`, r));
      else if (opts.check && code !== 0) {
        reject(new ExecError(argv, code === null ? `killed by ${signal ?? 'a signal'}` : `exit status ${code}`, r));
      } else resolve(r);
    });
    if (opts.input !== undefined && child.stdin) {
      child.stdin.on('error', () => undefined); // EPIPE when the command does not read stdin
      child.stdin.end(opts.input);
    }
  });
}

/** run() with check: true. */
export function runOk(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run(argv, { ...opts, check: true });
}

/**
 * A network namespace to run something in: a netns name under /run/netns, an absolute path to
 * an nsfs file (e.g. a berth bind mount under $BERTH_RUN/netns/), or anything with a netnsPath
 * (a lab Host, External or the switch namespace).
 */
export type NsRef = string | { readonly netnsPath: string };

const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function netnsPathOf(ref: NsRef): string {
  if (typeof ref !== 'string') return ref.netnsPath;
  if (ref.startsWith('/')) return ref;
  if (!NETNS_NAME.test(ref)) throw new Error(`invalid netns name "${ref}": expected a name under /run/netns or an absolute path`);
  return `/run/netns/${ref}`;
}

/**
 * argv that runs `argv` inside the namespace `ref` (network namespace only: the mount namespace
 * stays shared, so netns bind mounts made inside persist). Refuses the harness's own namespace,
 * which is the machine's root namespace: tests must never act there.
 */
export async function nsArgv(ref: NsRef, argv: readonly string[]): Promise<string[]> {
  const path = netnsPathOf(ref);
  const [target, self] = await Promise.all([
    stat(path).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`network namespace ${path} is not available (${e.code ?? e.message})`);
    }),
    stat('/proc/self/ns/net'),
  ]);
  if (target.ino === self.ino && target.dev === self.dev) {
    throw new Error(`refusing to run ${formatArgv(argv)} in ${path}: it is the harness's own (root) network namespace`);
  }
  return ['nsenter', `--net=${path}`, '--', ...argv];
}

/** Run argv inside the network namespace `ref`. */
export async function runIn(ref: NsRef, argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return run(await nsArgv(ref, argv), opts);
}
