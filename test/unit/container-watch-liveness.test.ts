// The daemon's container watch answers "is this shim alive?" from the pidfds it holds
// (engine/container-watch.ts, engine/process.ts isAliveHinted), so status reads at 1000
// containers need no /proc read per container: known alive while running, not once it ended.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, test } from 'node:test';
import { ContainerWatch } from '../../src/engine/container-watch.js';
import type { Engine } from '../../src/engine/context.js';
import { isAliveHinted, processStartTime } from '../../src/engine/process.js';

void describe('ContainerWatch liveness', () => {
  void test('a watched running shim is known alive (same start time only) until its pidfd reports the end', async () => {
    const c = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = c.pid as number;
    const start = processStartTime(pid) as string;
    assert.ok(start);
    const record = { id: 'x'.repeat(64), name: 'x', created: '', config: { networkMode: 'none' }, state: { status: 'running', pid, pidStart: start } };
    let ended = false;
    const store = { dataVersion: () => 1, changesSeq: () => 0, changesSince: () => undefined, listContainers: () => [record], findContainer: () => ((ended = true), undefined) };
    const w = new ContainerWatch({ store } as unknown as Engine, () => undefined, 0);
    try {
      assert.equal(w.knowsAlive(pid, start), true);
      assert.equal(w.knowsAlive(pid, `${start}1`), false, 'another process with the same pid');
      assert.equal(isAliveHinted(pid, start), true);
      c.kill('SIGKILL');
      for (let i = 0; i < 200 && !ended; i++) await new Promise((r) => setTimeout(r, 10));
      assert.ok(ended, 'the watch saw the end');
      assert.equal(w.knowsAlive(pid, start), false);
      assert.equal(isAliveHinted(pid, start), false, 'gone: the /proc read says so too');
    } finally {
      w.close();
    }
  });
});
