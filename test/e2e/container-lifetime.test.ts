// End to end, a container's lifetime is its own process, not only its shim's (issue 11, items 13
// and 14): kill -9 of a shim takes the container along and berth records Exited (137) and
// releases its port and address (at once with a daemon, at the next command without); an orphan
// recorded as ended is killed by rm -f, stop and repair; a daemon SIGKILLed while thin clients
// run containers leaves none running unrecorded and none "created", and the foreground runs it
// cut off still finish (their own process records the exit).
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { BERTH_CLIENT, type BackgroundProcess, type ExecResult, type Host } from '../lab/index.js';
import {
  containerProcesses, killContainers, leftovers, parentOf, readStore, startDaemon, startTimeOf, stopDaemon, waitFor, type Daemon,
} from './daemon-helpers.js';
import { type BasicLab, basicLab, berthTable, inspect, nextAddress, runDetached } from './helpers.js';

const T = { timeout: 180_000 };

interface PsEntry {
  Names: string[];
  State: string;
  Status: string;
}

async function psAll(h: Host): Promise<PsEntry[]> {
  return h.berthJson<PsEntry[]>(['ps', '-a', '--format', 'json']);
}

async function hasPort(h: Host, port: number): Promise<boolean> {
  return Object.values((await berthTable(h)).elements).flat().some((e) => e.includes(String(port)));
}

/** The shim and the container's PID 1 of a running container, with their start times. */
async function processesOf(h: Host, ctr: string): Promise<{ child: number; childStart: string; shim: number }> {
  const child = (await inspect(h, ctr)).State.Pid;
  assert.ok(child > 0, `${ctr} runs`);
  const shim = await parentOf(child);
  const childStart = await startTimeOf(child);
  assert.ok(shim && shim > 1 && childStart, `${ctr} has a shim`);
  return { child, childStart, shim };
}

/** The process ended (a zombie waiting for its new parent to reap it counts as ended). */
async function gone(pid: number, start: string): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return (await startTimeOf(pid)) !== start || /\) [ZX] /.test(stat);
}

/** What older berth left after a killed shim: a record that says exited while the process runs. */
function recordAsExited(h: Host, id: string): void {
  const db = new Database(join(h.rootDir, 'berth.db'), { timeout: 5000 });
  try {
    db.prepare(`UPDATE containers SET state = json_set(state, '$.status', 'exited', '$.exitCode', 0) WHERE id = ?`).run(id);
  } finally {
    db.close();
  }
}

void describe('container lifetime', () => {
  let L: BasicLab;
  let h: Host;
  let daemon: Daemon | undefined;

  before(async () => {
    L = await basicLab('e2e container lifetime');
    h = L.h;
  });
  after(async () => {
    await stopDaemon(daemon);
    for (const host of L?.lab.hosts ?? []) await killContainers(host);
    await L?.lab.close();
  });

  void test('kill -9 of the shim: the container dies with it, ps shows Exited (137), port and address are released', T, async () => {
    await runDetached(h, ['--name', 'lt-shim', '-p', '8181:80', '--', 'sleep', '600']);
    const ip = (await inspect(h, 'lt-shim')).NetworkSettings.IPAddress;
    const p = await processesOf(h, 'lt-shim');
    assert.ok(await hasPort(h, 8181), 'the published port is in the table');
    process.kill(p.shim, 'SIGKILL'); // the shim this test started through berth
    await waitFor(() => gone(p.child, p.childStart), 2000, () => `the container's process ${p.child} outlived its shim ${p.shim}`);
    const entry = (await psAll(h)).find((c) => c.Names.includes('/lt-shim'));
    assert.equal(entry?.Status, 'Exited (137)', `ps -a: ${JSON.stringify(entry)}`);
    assert.equal(await hasPort(h, 8181), false, 'the port element is gone after one berth command');
    assert.deepEqual(await leftovers(h), []);
    // its address goes to the next container only now that the old process is gone
    assert.equal(await nextAddress(h), ip);
    await h.berthOk(['rm', 'lt-shim']);
  });

  void test('with a daemon, a killed shim is reconciled at once, without any berth command', T, async (t) => {
    daemon = await startDaemon(h);
    t.after(async () => {
      await stopDaemon(daemon);
      daemon = undefined;
    });
    const r = await h.exec([BERTH_CLIENT, 'run', '-d', '--name', 'lt-daemon', '-p', '8182:80', '--', 'sleep', '600'], { check: true });
    const id = r.stdout.trim();
    const p = await processesOf(h, 'lt-daemon');
    assert.ok(await hasPort(h, 8182));
    const t0 = Date.now();
    process.kill(p.shim, 'SIGKILL');
    await waitFor(async () => !(await hasPort(h, 8182)), 3000, () => 'the port element of a container whose shim was killed is still in the table', 10);
    const ms = Date.now() - t0;
    console.log(`# port element gone ${ms} ms after kill -9 of the shim`);
    assert.ok(ms < 1500, `released within ~1 s (${ms} ms)`);
    assert.ok(await gone(p.child, p.childStart), 'the container process is gone');
    // the network is released first, then the end recorded
    const rec = await waitFor(
      async () => readStore(h).containers.find((c) => c.id === id && c.state.status === 'exited'),
      1000,
      () => `the record still says ${JSON.stringify(readStore(h).containers.find((c) => c.id === id)?.state)}`,
      10,
    );
    assert.equal((rec?.state as { exitCode?: number }).exitCode, 137);
    assert.deepEqual(await leftovers(h), []);
    await h.exec([BERTH_CLIENT, 'rm', 'lt-daemon'], { check: true });
  });

  for (const cmd of [['rm', '-f'], ['stop', '-t', '1'], ['system', 'check', '--repair']]) {
    void test(`an orphan recorded as exited while its process runs: \`${cmd.join(' ')}\` kills it`, T, async () => {
      const name = `lt-orphan-${cmd[0]}`;
      const id = await runDetached(h, ['--name', name, '--', 'sleep', '600']);
      const p = await processesOf(h, name);
      recordAsExited(h, id);
      await h.berthOk(cmd[0] === 'system' ? cmd : [...cmd, name]);
      await waitFor(() => gone(p.child, p.childStart), 3000, () => `${cmd.join(' ')}: the orphan ${p.child} still runs`);
      await h.berth(['rm', '-f', name]);
      assert.deepEqual(await leftovers(h), []);
    });
  }

  for (const then of ['any berth command', 'the next daemon start'] as const) {
    void test(`a daemon SIGKILLed during 20 thin-client runs: nothing runs unrecorded; ${then} leaves nothing "created"`, T, async (t) => {
      daemon = await startDaemon(h);
      t.after(async () => {
        await stopDaemon(daemon);
        daemon = undefined;
      });
      // foreground runs, cut off while their containers run: their own processes finish them
      const fg: BackgroundProcess[] = [];
      for (let i = 0; i < 4; i++) fg.push(await h.spawn([BERTH_CLIENT, 'run', '--rm', '--name', `lt-fg${i}`, '--', 'sh', '-c', 'echo ready; sleep 2; exit 7']));
      for (const f of fg) await f.waitForOutput('ready', { timeoutMs: 30_000 });
      // detached runs, some done, some cut off by the kill
      const runs = Array.from({ length: 16 }, (_, i) =>
        h.exec([BERTH_CLIENT, 'run', '-d', '--name', `lt-d${i}`, '-p', `${8200 + i}:80`, '--', 'sleep', '600'], { timeoutMs: 60_000 }),
      );
      const done: ExecResult[] = [];
      runs.forEach((r) => void r.then((x) => done.push(x)));
      await waitFor(async () => done.length >= 1, 60_000, () => "no run finished", 5);
      daemon.proc.signal('SIGKILL');
      const detached = await Promise.all(runs);
      const foreground = await Promise.all(fg.map((f) => f.exited));
      await daemon.proc.exited;
      daemon = undefined;
      const ok = detached.filter((r) => r.code === 0).length;
      console.log(`# daemon SIGKILLed: ${ok} of 16 detached runs succeeded, ${16 - ok} failed; foreground: ${foreground.map((f) => f.code).join(' ')}`);
      assert.ok(ok < 16, 'the daemon was killed in the middle of the runs');
      for (const f of foreground) assert.equal(f.code, 7, `a foreground run cut off from its daemon still reports its container's status: ${f.stderr}`);
      // every container process left runs for a run that said it succeeded
      const names = new Map(readStore(h).containers.map((c) => [c.id, c.name]));
      for (const p of await containerProcesses(h)) {
        const name = names.get(p.containerId) ?? '';
        const i = Number(/^lt-d(\d+)$/.exec(name)?.[1] ?? -1);
        assert.equal(detached[i]?.code, 0, `process ${p.pid} of container ${name || p.containerId} runs, but its run failed: ${detached[i]?.stderr ?? '(no run)'}; ${p.cmdline}`);
      }
      if (then === 'the next daemon start') {
        // before any in-process command: the new daemon's start reconciles, then serves
        daemon = await startDaemon(h);
        assert.deepEqual(readStore(h).containers.filter((c) => c.state.status === 'created').map((c) => c.name), [], 'after the daemon start');
        assert.deepEqual(await leftovers(h), [], 'after the daemon start');
      }
      // one berth command later: nothing "created", nothing unaccounted for
      const ps = await psAll(h);
      assert.deepEqual(ps.filter((c) => c.State === 'created').map((c) => c.Names[0]), []);
      assert.deepEqual(ps.filter((c) => /lt-fg/.test(c.Names[0] ?? '')), [], 'the --rm foreground containers are gone');
      assert.deepEqual(await leftovers(h), []);
      for (let i = 0; i < 16; i++) await h.berth(['rm', '-f', `lt-d${i}`]);
    });
  }
});
