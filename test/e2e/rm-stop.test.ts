// End to end, issue 16: `berth stop` and `berth rm -f` of a detached container end it and record
// its end themselves (they claim it; its shim's on-exit hook then has nothing to do), so they do
// not wait for the hook — without a daemon, a whole second Node start. Every command runs
// in-process with BERTH_NO_DAEMON=1 (the hook has no daemon either), and the containers' hooks
// are made HOOK_DELAY_MS slow (a NODE_OPTIONS preload that sleeps in `internal on-exit` only):
// before, stop and rm -f took at least that long; now the CLI's start plus their work. And they
// still record the exit status and leave nothing behind.
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { BERTH_BIN } from '../lab/index.js';
import { type BasicLab, basicLab, hostState, inspect, removeQuietly, sleep } from './helpers.js';

const T = { timeout: 120_000 };
const ROUNDS = 2;
const HOOK_DELAY_MS = 4000;

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

void describe('stop and rm -f do not wait for the on-exit hook', () => {
  let L: BasicLab;
  before(async () => {
    L = await basicLab('e2e rm-stop');
  });
  after(async () => {
    await L?.lab.close();
  });

  /** In-process berth, no daemon for it nor for the hooks of the containers it starts (slow hooks: see the header). */
  const local = (args: string[], slowHook = false) => {
    const env: Record<string, string> = { BERTH_NO_DAEMON: '1' };
    if (slowHook) {
      const preload = join(L.lab.dir, 'slow-hook.cjs');
      writeFileSync(preload, `if (process.argv.includes('on-exit')) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ${HOOK_DELAY_MS});\n`);
      env.NODE_OPTIONS = `--require ${preload}`;
    }
    return L.h.exec([process.execPath, BERTH_BIN, ...args], { env });
  };
  const localOk = async (args: string[], slowHook = false) => {
    const r = await local(args, slowHook);
    assert.equal(r.code, 0, `berth ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
    return r;
  };
  /** A detached container whose process exits 3 on SIGTERM, once its handler is set. */
  async function terminable(): Promise<string> {
    const id = (await localOk(['run', '-d', '-p', '8701:80', '--', 'sh', '-c', 'trap "exit 3" TERM; echo ready; sleep 300 & wait'], true)).stdout.trim();
    for (let t = 0; !(await localOk(['logs', id])).stdout.includes('ready'); t++) {
      assert.ok(t < 500, `container ${id} did not get ready`);
      await sleep(10);
    }
    return id;
  }

  void test('stop records the exit status of a process that exits on SIGTERM, and rm -f leaves nothing, without waiting for a slow hook', T, async (t) => {
    const { h } = L;
    await localOk(['run', '--rm', '--', 'true']); // the default network and the table, made once
    const baseline = await hostState(h);
    const version: number[] = [];
    const stop: number[] = [];
    const rm: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      version.push((await localOk(['version'])).durationMs);
      const a = await terminable();
      t.after(() => removeQuietly(h, a));
      stop.push((await localOk(['stop', a])).durationMs);
      const st = (await inspect(h, a)).State;
      assert.equal(st.Status, 'exited', 'recorded as exited when stop returns');
      assert.equal(st.ExitCode, 3, "the process's own exit status");
      await localOk(['rm', a]);
      const b = (await localOk(['run', '-d', '-p', '8701:80', '--', 'sleep', '300'], true)).stdout.trim();
      t.after(() => removeQuietly(h, b));
      rm.push((await localOk(['rm', '-f', b])).durationMs);
      assert.deepEqual(await hostState(h), baseline, 'rm -f leaves nothing behind when it returns');
    }
    const msg = `medians of ${ROUNDS}: berth version ${median(version)} ms, stop ${median(stop)} ms, rm -f ${median(rm)} ms; hooks slowed by ${HOOK_DELAY_MS} ms`;
    t.diagnostic(msg);
    // waiting for the hook would take at least HOOK_DELAY_MS
    assert.ok(Math.max(...stop) < HOOK_DELAY_MS - 1000, `stop waits for the on-exit hook: ${msg}`);
    assert.ok(Math.max(...rm) < HOOK_DELAY_MS - 1000, `rm -f waits for the on-exit hook: ${msg}`);
  });
});
