// The daemon's side of the thin client (native/berth-client.c). The client sends its command
// line; the daemon runs it with the same command code as the in-process CLI (src/cli/program.ts)
// and answers with frames (src/common/frames.ts): output, exit status, or a hand-over of what only
// the client can do — start a container's shim with the client's own stdio, terminal and signals
// (then report back how it went), exec a program in its place (berth exec), or run the in-process
// CLI (berth daemon). The composition root (src/daemon-root.ts) hands it to the API server.
import { randomBytes } from 'node:crypto';
import { UserError } from '../common/errors.js';
import { Frames } from '../common/frames.js';
import { adoptDetachedStart, readPidfile, watchClientForeground, type ClientForeground, type Prepared } from '../engine/containers.js';
import type { Engine } from '../engine/context.js';
import { isSameProcessAlive, processStartTime } from '../engine/process.js';
import { reconcileContainers } from '../engine/reconcile.js';
import type { CliContext, RemoteCaller } from './context.js';
import { reportError, runCli } from './program.js';

export interface CliRequest {
  argv: string[];
  cwd: string;
  pid: number;
  path: string;
}

interface PendingRun {
  prepared: Prepared;
  caller: RemoteCaller;
  foreground?: ClientForeground;
}

type Serial = <T>(fn: () => Promise<T>) => Promise<T>;

/** A command's context whose output goes into frames. */
function framesContext(frames: Frames, engine: Engine, cwd: string, remote?: RemoteCaller): CliContext {
  return { out: (d) => frames.add('1', d), err: (d) => frames.add('2', d), cwd, engine: () => engine, ...(remote ? { remote } : {}) };
}

const isStringArray = (x: unknown): x is string[] => Array.isArray(x) && x.every((v) => typeof v === 'string');

export function parseCliRequest(body: unknown): CliRequest {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  if (!isStringArray(b.argv)) throw new UserError('"argv" must be an array of strings');
  if (typeof b.cwd !== 'string' || !b.cwd.startsWith('/')) throw new UserError('"cwd" must be an absolute path');
  if (!Number.isInteger(b.pid) || (b.pid as number) <= 0) throw new UserError('"pid" must be the client\'s process id');
  return { argv: b.argv, cwd: b.cwd, pid: b.pid as number, path: typeof b.path === 'string' ? b.path : '' };
}

export class CliGateway {
  private pending = new Map<string, PendingRun>();
  private reaper: NodeJS.Timeout;

  constructor(
    private readonly engine: Engine,
    private readonly serial: Serial,
  ) {
    // a client that died between the hand-over and its report: release what it left half made
    this.reaper = setInterval(() => void this.reap(), 10_000);
    this.reaper.unref();
  }

  /** A thin client's command line: body {argv, cwd, pid, path} (see parseCliRequest). */
  async run(body: unknown): Promise<Buffer> {
    const req = parseCliRequest(body);
    const frames = new Frames();
    const caller: RemoteCaller = { pid: req.pid, start: processStartTime(req.pid) ?? '', path: req.path };
    const ctx = framesContext(frames, this.engine, req.cwd, caller);
    // the on-exit hook of a detached container runs while `berth stop` may be waiting for it in
    // the queue: it goes straight through (the engine is safe to run concurrently, as separate
    // CLI processes do)
    const hook = req.argv[0] === 'internal';
    const status = hook ? await runCli(req.argv, ctx) : await this.serial(async () => {
      // as the in-process CLI does before every command (src/cli/program.ts); runs handed to a
      // live client are its to finish
      const [cmd, sub] = req.argv;
      // a foreground run whose command already runs (and may have printed) shows as running,
      // not as created until the next pidfile poll
      for (const run of this.pending.values()) run.foreground?.catchUp();
      if (cmd !== 'version' && cmd !== 'daemon' && !(cmd === 'system' && sub === 'check')) await reconcileContainers(this.engine, (id) => this.isPending(id));
      return runCli(req.argv, ctx);
    });
    const handoff = caller.handoff;
    if (!handoff) {
      frames.add('x', String(status));
    } else if (handoff.kind === 'local') {
      const local = new Frames();
      local.add('l');
      return local.toBuffer();
    } else if (handoff.kind === 'exec') {
      frames.add('e', handoff.argv.join('\0'));
    } else {
      const token = randomBytes(16).toString('hex');
      const p = handoff.prepared;
      this.pending.set(token, { prepared: p, caller, ...(p.detach ? {} : { foreground: watchClientForeground(this.engine, p) }) });
      frames.add('r', [token, p.detach ? '1' : '0', p.id, ...p.shimArgv].join('\0'));
    }
    return frames.toBuffer();
  }

  /** The client's report after a run hand-over: the shim's exit status. */
  async continue(body: unknown): Promise<Buffer> {
    const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
    const token = typeof b.token === 'string' ? b.token : '';
    const status = Number.isInteger(b.status) ? (b.status as number) : 255;
    const run = this.pending.get(token);
    if (!run) throw new UserError(`unknown or finished run "${token}"`);
    this.pending.delete(token);
    const frames = new Frames();
    const ctx = framesContext(frames, this.engine, '/');
    try {
      if (run.foreground) {
        const foreground = run.foreground;
        frames.add('x', String(await this.serial(() => foreground.finish(status))));
      } else {
        await this.serial(() => adoptDetachedStart(this.engine, run.prepared, status));
        frames.add('1', `${run.prepared.id}\n`);
        frames.add('x', '0');
      }
    } catch (err) {
      frames.add('x', String(reportError(err, ctx)));
    }
    return frames.toBuffer();
  }

  private isPending(id: string): boolean {
    for (const run of this.pending.values()) if (run.prepared.id === id) return true;
    return false;
  }

  private async reap(): Promise<void> {
    for (const [token, run] of this.pending) {
      if (isSameProcessAlive(run.caller.pid, run.caller.start)) continue;
      this.pending.delete(token);
      await this.serial(async () => {
        if (run.foreground) await run.foreground.abandon().catch(() => undefined);
        // a detached shim that was started has written its pidfile: adopt it; else release
        else await adoptDetachedStart(this.engine, run.prepared, readPidfile(run.prepared.pidfile) ? 0 : 255).catch(() => undefined);
      });
    }
  }

  close(): void {
    clearInterval(this.reaper);
  }
}
