// The host relay (native/relay-host.c): one long-lived `berth-init --relay-host` per host that
// binds the published ports of every CNI sandbox the daemon plugs in and relays the host's own
// loopback connections to them, instead of a relay process per endpoint. It is steered over a
// unix socket under $BERTH_RUN/relay (0600): request and answer on one ordered connection, so a
// DEL or CHECK sees the answer to the ADD before it (bound, or which port was refused), a DEL
// knows the port is free again, and `system check` can ask what is bound.
//
// It keeps no state: what it should bind is each endpoint's relays/<id>/publish (port-relay.ts),
// and `system check --repair` (the daemon's start too) re-makes it from there. It outlives the
// daemon, so loopback connections survive a daemon restart.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { BERTH_INIT } from '../common/package.js';
import { ConflictError, SystemError } from '../common/errors.js';
import type { Engine } from './context.js';
import { isSameProcessAlive, processStartTime, signalProcess, sleep } from './process.js';

export interface HostRelayPaths {
  dir: string;
  socket: string;
  pid: string;
  log: string;
}

export function hostRelayPaths(engine: Engine): HostRelayPaths {
  const dir = join(engine.paths.run, 'relay');
  return { dir, socket: join(dir, 'control.sock'), pid: join(dir, 'pid'), log: join(dir, 'log') };
}

/** One connection to the relay; requests are answered in order. */
class RelayConnection {
  private buffered = '';
  private readonly pending: { take: (line: string) => boolean; resolve: (lines: string[]) => void; reject: (err: Error) => void; lines: string[] }[] = [];
  closed = false;

  constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.unref(); // an idle connection keeps no process alive (the CLI's repair)
    socket.on('data', (d: string) => this.onData(d));
    const gone = (err?: Error) => {
      this.closed = true;
      for (const p of this.pending.splice(0)) p.reject(new SystemError(`the host port relay closed its socket${err ? `: ${err.message}` : ''}`));
    };
    socket.on('error', gone);
    socket.on('close', () => gone());
  }

  private onData(d: string): void {
    this.buffered += d;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl);
      this.buffered = this.buffered.slice(nl + 1);
      const head = this.pending[0];
      if (!head) continue;
      if (head.take(line)) {
        this.pending.shift();
        head.resolve(head.lines);
      }
    }
    if (!this.pending.length) this.socket.unref();
  }

  /** Send text; the answer is one line, or (list) lines up to ".". */
  request(text: string, multiLine = false): Promise<string[]> {
    if (this.closed) return Promise.reject(new SystemError('the host port relay closed its socket'));
    return new Promise((resolve, reject) => {
      const entry = {
        lines: [] as string[],
        resolve,
        reject,
        take: (line: string) => (multiLine && line !== '.' ? (entry.lines.push(line), false) : (multiLine || entry.lines.push(line), true)),
      };
      this.pending.push(entry);
      this.socket.ref();
      this.socket.write(text);
    });
  }

  close(): void {
    this.socket.destroy();
  }
}

const connections = new Map<string, RelayConnection>();

function connectTo(path: string): Promise<RelayConnection | undefined> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => resolve(new RelayConnection(socket)));
    socket.once('error', () => resolve(undefined));
  });
}

/** The relay's recorded pid if that process is the relay of this socket. */
function relayPid(paths: HostRelayPaths): number | undefined {
  try {
    const pid = Number(readFileSync(paths.pid, 'utf8').split('\n')[0]);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.includes('--relay-host') && argv.includes(paths.socket) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** A connection to the running relay, or undefined when none answers. */
async function runningRelay(paths: HostRelayPaths): Promise<RelayConnection | undefined> {
  const known = connections.get(paths.socket);
  if (known && !known.closed) return known;
  connections.delete(paths.socket);
  const conn = existsSync(paths.socket) ? await connectTo(paths.socket) : undefined;
  if (conn) connections.set(paths.socket, conn);
  return conn;
}

/** The running relay, started when none answers (a hung one, recorded in the pid file, is ended first). */
async function ensureRelay(engine: Engine): Promise<RelayConnection> {
  const paths = hostRelayPaths(engine);
  const running = await runningRelay(paths);
  if (running) return running;
  const hung = relayPid(paths);
  if (hung !== undefined) {
    const start = processStartTime(hung);
    signalProcess(hung, 'SIGKILL');
    for (let i = 0; i < 100 && isSameProcessAlive(hung, start); i++) await sleep(10);
  }
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
  const r = spawnSync(BERTH_INIT, ['--relay-host', paths.socket, '--pidfile', paths.pid, '--detach', '--log', paths.log], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const why = (r.stderr ?? '').replace(/^berth-init: /, '').trim();
  // another berth process started it a moment ago: use that one
  if (r.status !== 0 && !/already runs/.test(why)) throw new SystemError(`cannot start the host port relay: ${why || r.error?.message || `exit status ${r.status}`}`);
  for (let i = 0; i < 50; i++) {
    const conn = await runningRelay(paths);
    if (conn) return conn;
    await sleep(10);
  }
  throw new SystemError(`the host port relay does not answer on ${paths.socket}`);
}

/** Bind an endpoint's publish lines in the host relay (started if need be); a taken port fails, naming it, with nothing bound. */
export async function bindHostRelay(engine: Engine, owner: string, publishLines: readonly string[]): Promise<void> {
  if (!publishLines.length) return;
  const conn = await ensureRelay(engine);
  const [answer = ''] = await conn.request(`add ${owner} ${publishLines.length}\n${publishLines.map((l) => `${l}\n`).join('')}`);
  if (answer === 'ok') return;
  const why = answer.replace(/^err /, '');
  if (/in use/.test(why)) throw new ConflictError(why);
  throw new SystemError(`the host port relay refused the ports: ${why}`);
}

/** Let go of an endpoint's ports (idempotent; no relay running: nothing is bound). */
export async function unbindHostRelay(engine: Engine, owner: string): Promise<void> {
  const conn = await runningRelay(hostRelayPaths(engine));
  if (!conn) return;
  const [answer = ''] = await conn.request(`del ${owner}\n`);
  if (!answer.startsWith('ok')) throw new SystemError(`the host port relay did not release the ports of ${owner}: ${answer}`);
}

/** What the relay binds, by owner; undefined when no relay runs. */
export async function listHostRelay(engine: Engine): Promise<Map<string, string[]> | undefined> {
  const conn = await runningRelay(hostRelayPaths(engine));
  if (!conn) return undefined;
  const bound = new Map<string, string[]>();
  for (const line of await conn.request('list\n', true)) {
    const sp = line.indexOf(' ');
    const owner = line.slice(0, sp);
    bound.set(owner, [...(bound.get(owner) ?? []), line.slice(sp + 1)]);
  }
  return bound;
}

/** End the relay if it binds nothing (a daemon stopping); one still binding ports stays. */
export async function stopIdleHostRelay(engine: Engine): Promise<void> {
  const paths = hostRelayPaths(engine);
  const conn = await runningRelay(paths);
  if (!conn) return;
  const [answer] = await conn.request('quit-if-empty\n').catch(() => ['ok']);
  conn.close();
  connections.delete(paths.socket);
  if (answer === 'ok') rmSync(paths.pid, { force: true });
}
