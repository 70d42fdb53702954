// kernel/pidfd.ts: exit notifications through pidfds, with no timer (issue 11, item 13: the
// daemon learns at once that a shim died). Unprivileged: the watched processes are this test's.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readdirSync, readlinkSync } from 'node:fs';
import { describe, test } from 'node:test';
import { HIGH_FD_FLOOR, ProcessExitWatcher } from '../../src/kernel/pidfd.js';

function child(seconds: string): number {
  const c = spawn('sleep', [seconds], { stdio: 'ignore' });
  assert.ok(c.pid);
  return c.pid;
}

void describe('ProcessExitWatcher', () => {
  void test('calls back once per process when it ends, including one added while polling; unwatched ones never', async () => {
    const w = new ProcessExitWatcher((e) => assert.fail(e));
    try {
      const t0 = Date.now();
      const ended: string[] = [];
      const a = child('0.2');
      const b = child('0.4');
      const c = child('0.3');
      const all = new Promise<void>((resolve) => {
        const seen = (name: string) => () => {
          ended.push(`${name}@${Math.round((Date.now() - t0) / 100)}`);
          if (ended.length === 2) resolve();
        };
        assert.ok(w.watch(a, seen('a')));
        assert.ok(w.watch(c, seen('c')));
        setTimeout(() => assert.ok(w.watch(b, seen('b'))), 50);
      });
      w.unwatch(c);
      assert.equal(w.watch(a, () => undefined), false, 'a pid is watched once');
      await all;
      assert.deepEqual(ended.map((e) => e.split('@')[0]), ['a', 'b']);
      await new Promise((r) => setTimeout(r, 200)); // c has ended too by now: no call
      assert.equal(ended.length, 2);
      assert.equal(w.size, 0);
    } finally {
      w.close();
    }
  });

  void test('a process that is already gone is refused', () => {
    const w = new ProcessExitWatcher();
    try {
      assert.equal(w.watch(2 ** 22 + 1, () => undefined), false);
    } finally {
      w.close();
    }
  });
});

/** This process's pidfds and eventfds, by descriptor number. */
function anonFds(): { fd: number; what: string }[] {
  return readdirSync('/proc/self/fd').flatMap((n) => {
    try {
      const what = readlinkSync(`/proc/self/fd/${n}`);
      return /anon_inode:\[(pidfd|eventfd)\]/.test(what) ? [{ fd: Number(n), what }] : [];
    } catch {
      return [];
    }
  });
}

void describe('ProcessExitWatcher descriptors', () => {
  void test(`holds its pidfds and eventfd at or above ${HIGH_FD_FLOOR}: select(2) in libnftables aborts on higher ones, and the low numbers stay free for it`, async () => {
    const before = new Set(anonFds().map((f) => f.fd));
    const w = new ProcessExitWatcher((e) => assert.fail(e));
    try {
      const pids = [child('5'), child('5'), child('5')];
      for (const p of pids) assert.ok(w.watch(p, () => undefined));
      const mine = anonFds().filter((f) => !before.has(f.fd));
      assert.equal(mine.filter((f) => f.what.includes('pidfd')).length, 3, `three pidfds held: ${JSON.stringify(mine)}`);
      for (const f of mine) assert.ok(f.fd >= HIGH_FD_FLOOR, `${f.what} at fd ${f.fd}`);
      for (const p of pids) process.kill(p);
    } finally {
      w.close();
    }
  });
});
