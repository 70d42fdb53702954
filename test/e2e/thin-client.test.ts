// End to end, the thin client dist/berth (issue 5: "the CLI uses the daemon when its socket
// answers, and runs the engine in-process otherwise"). What the rest of the suite cannot show
// (it runs once in-process and once via the daemon): which path served a command, the fallback
// when no daemon answers, the caller's stdin, directory and PATH reaching the container, `berth
// daemon` never running inside the daemon, and a client killed while its container runs.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BERTH_CLIENT, type ExecOptions, type ExecResult, type Host } from '../lab/index.js';
import { startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { type BasicLab, basicLab, sleep } from './helpers.js';

const T = { timeout: 90_000 };

function client(h: Host, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
  return h.exec([BERTH_CLIENT, ...args], opts);
}

async function servedBy(h: Host): Promise<string> {
  const r = await client(h, ['system', 'info', '--format', 'json'], { check: true });
  return (JSON.parse(r.stdout) as { ServedBy: string }).ServedBy;
}

void describe('the thin client', () => {
  let L: BasicLab;
  let daemon: Daemon | undefined;

  before(async () => {
    L = await basicLab('e2e thin client');
  });
  after(async () => {
    await stopDaemon(daemon);
    await L?.lab.close();
  });

  test('without a daemon it is the in-process CLI', T, async () => {
    assert.equal(await servedBy(L.h), 'in-process');
    const r = await client(L.h, ['run', '--rm', '--', 'sh', '-c', 'exit 5']);
    assert.equal(r.code, 5, r.stderr);
  });

  test('with a daemon it sends the command there; status, output and stdin are the same', T, async () => {
    daemon ??= await startDaemon(L.h);
    assert.match(await servedBy(L.h), /^daemon \(pid \d+\)$/);
    const r = await client(L.h, ['run', '--rm', '--', 'sh', '-c', 'cat; echo to-stderr >&2; exit 7'], { input: 'from stdin\n' });
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'from stdin\n');
    assert.match(r.stderr, /to-stderr/);
    const bad = await client(L.h, ['run', '--network', 'nosuch', '--', 'true']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /network "nosuch" not found/);
    const usage = await client(L.h, ['run', '--bogus']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /unknown option '--bogus'/);
  });

  test("relative --rootfs and the caller's PATH are the caller's, not the daemon's", T, async () => {
    daemon ??= await startDaemon(L.h);
    const dir = join(L.lab.dir, 'client-cwd');
    await mkdir(join(dir, 'tools'), { recursive: true });
    await writeFile(join(dir, 'tools', 'only-here'), '#!/bin/sh\necho only-here ran\n', { mode: 0o755 });
    const r = await client(L.h, ['run', '--rm', '--network', 'none', '--', 'only-here'], { env: { PATH: `${join(dir, 'tools')}:/usr/bin:/bin` } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'only-here ran\n');
    const rel = await client(L.h, ['run', '--rm', '--rootfs', 'no-such-dir', '--', 'true'], { cwd: dir });
    assert.equal(rel.code, 1);
    assert.ok(rel.stderr.includes(`--rootfs "${join(dir, 'no-such-dir')}" does not exist`), rel.stderr);
  });

  test('exec runs in the container; `berth daemon` is never run inside the daemon', T, async () => {
    daemon ??= await startDaemon(L.h);
    const id = (await client(L.h, ['run', '-d', '--name', 'tc-exec', '--', 'sleep', '300'], { check: true })).stdout.trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    const e = await client(L.h, ['exec', 'tc-exec', '--', 'sh', '-c', 'hostname; exit 3']);
    assert.equal(e.code, 3);
    assert.equal(e.stdout.trim(), id.slice(0, 12));
    await client(L.h, ['rm', '-f', 'tc-exec'], { check: true });
    // a second daemon on the same socket: the in-process CLI runs it and it fails on its own
    const second = await client(L.h, ['daemon'], { timeoutMs: 20_000 });
    assert.notEqual(second.code, 0);
    assert.match(second.stderr, /EADDRINUSE|in use|already/i);
    assert.ok(daemon.proc.running, 'the first daemon still runs');
  });

  test('a client killed while its container runs leaves it running; its end shows in ps', T, async () => {
    daemon ??= await startDaemon(L.h);
    const fg = await L.h.spawn([BERTH_CLIENT, 'run', '--name', 'tc-orphan', '--', 'sh', '-c', 'echo ready; sleep 4']);
    await fg.waitForOutput('ready', { timeoutMs: 15_000 });
    fg.signal('SIGKILL');
    // not fg.exited: the container still holds the client's stdout pipe until it ends
    while (existsSync(`/proc/${fg.pid}/cmdline`) && !readFileSync(`/proc/${fg.pid}/stat`, 'utf8').includes(') Z')) await sleep(20);
    // the shim writes its pidfile just after the exec, so 'ready' can come a moment before the
    // record says running: ask again for up to 2 s (the container sleeps 4 s; an abandoned one
    // would be gone or exited, never running)
    const state = async () => {
      const ps = JSON.parse((await client(L.h, ['ps', '-a', '--format', 'json'], { check: true })).stdout) as { Names: string[]; State: string }[];
      return ps.find((c) => c.Names.includes('/tc-orphan'))?.State;
    };
    let now = await state();
    for (const end = Date.now() + 2000; now === 'created' && Date.now() < end; now = await state()) await sleep(50);
    assert.equal(now, 'running', `daemon: ${daemon.proc.stderr()}`);
    await fg.exited; // the container's end
    const all = JSON.parse((await client(L.h, ['ps', '-a', '--format', 'json'], { check: true })).stdout) as { Names: string[]; State: string }[];
    assert.equal(all.find((c) => c.Names.includes('/tc-orphan'))?.State, 'exited');
    await client(L.h, ['rm', 'tc-orphan'], { check: true });
  });
});
