// Which container records are untrue (issue 11, items 13 and 14): the classifier behind every
// command's reconciliation and the daemon's container watch. Live processes are this test's own;
// a dead one is a child that has exited and been reaped.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { containerCache } from '../../src/engine/container-cache.js';
import type { Engine } from '../../src/engine/context.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { Container, ContainerState } from '../../src/engine/containers.js';
import { processStartTime } from '../../src/engine/process.js';
import { reconcileContainers, unrecordedEnd } from '../../src/engine/reconcile.js';

const me = { pid: process.pid, start: processStartTime(process.pid) ?? '' };
const dead = { pid: spawnSync('true').pid ?? 0, start: '1' }; // reaped: no such process (or a later one)

function container(state: ContainerState): Container {
  return { id: 'a'.repeat(64), name: 'c', created: '', config: { cmd: ['true'], hostname: 'c', networkMode: 'bridge', publish: [], exposed: [], rm: false, dns: [] }, state };
}

void describe('unrecordedEnd', () => {
  void test('a running container with a live shim, or an exited one whose process is gone, is fine', () => {
    assert.equal(unrecordedEnd(container({ status: 'running', pid: me.pid, pidStart: me.start, childPid: dead.pid })), undefined);
    assert.equal(unrecordedEnd(container({ status: 'exited', childPid: dead.pid, childStart: dead.start })), undefined);
  });
  void test('a shim gone without recording the end: ended, unless a live foreground berth process waits for it', () => {
    assert.equal(unrecordedEnd(container({ status: 'running', pid: dead.pid, pidStart: dead.start })), 'ended');
    assert.equal(unrecordedEnd(container({ status: 'running', pid: dead.pid, pidStart: dead.start, waiterPid: me.pid, waiterStart: me.start })), undefined);
    assert.equal(unrecordedEnd(container({ status: 'running', pid: dead.pid, pidStart: dead.start, waiterPid: dead.pid, waiterStart: dead.start })), 'ended');
  });
  void test('a creation whose berth process died is abandoned; one in progress is not', () => {
    assert.equal(unrecordedEnd(container({ status: 'created', creatorPid: dead.pid, creatorStart: dead.start })), 'abandoned');
    assert.equal(unrecordedEnd(container({ status: 'created', creatorPid: me.pid, creatorStart: me.start })), undefined);
  });
  void test('recorded as exited while its process (same start time) lives: an orphan; a reused PID is not', () => {
    assert.equal(unrecordedEnd(container({ status: 'exited', childPid: me.pid, childStart: me.start })), 'orphan');
    assert.equal(unrecordedEnd(container({ status: 'exited', childPid: me.pid, childStart: `${me.start}0` })), undefined);
    assert.equal(unrecordedEnd(container({ status: 'exited', childPid: me.pid })), undefined, 'no start time (older records): never guessed');
  });
});

void describe('reconcileContainers reads only what changed', () => {
  for (const n of [10, 300]) {
    void test(`with ${n} exited containers: the first sweep decodes every record, the next ones only those written since`, async () => {
      const root = mkdtempSync(join(tmpdir(), 'berth-reconcile-'));
      const store = new SqliteStore(root);
      try {
        const engine = { store } as unknown as Engine;
        const exited = (name: string) => store.createContainer({ name, config: container({ status: 'exited' }).config, state: { status: 'exited', childPid: dead.pid, childStart: dead.start } });
        for (let i = 0; i < n; i++) exited(`c${i}`);
        const cache = containerCache(store);
        assert.deepEqual(await reconcileContainers(engine), []);
        assert.equal(cache.decoded, n);
        assert.deepEqual(await reconcileContainers(engine), []);
        assert.equal(cache.decoded, n, 'nothing written: nothing decoded');
        const late = exited('late');
        store.updateContainerState(late.id, { status: 'exited', childPid: dead.pid, childStart: dead.start, exitCode: 0 });
        assert.deepEqual(await reconcileContainers(engine), []);
        assert.equal(cache.decoded, n + 1, 'one container written (twice): one record decoded');
        store.deleteContainer(late.id);
        assert.deepEqual(await reconcileContainers(engine), []);
        assert.equal(cache.decoded, n + 1, 'a removed one needs no decoding');
        assert.equal([...cache.values()].length, n);
      } finally {
        store.close();
        rmSync(root, { recursive: true, force: true });
      }
    });
  }
});
