// The daemon's V8 heap flags (src/daemon/heap.ts) are set from inside the process: check that
// this Node still honours them there, with a workload that grows the young generation by default.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

const HEAP = new URL('../../src/daemon/heap.js', import.meta.url).href;

/** The largest new space (MB) seen by a child node that keeps ~2 MB alive across scavenges. */
function maxNewSpaceMb(tuned: boolean): number {
  const script = `
    import v8 from 'node:v8';
    ${tuned ? `(await import(${JSON.stringify(HEAP)})).tuneHeapForDaemon();` : ''}
    let max = 0;
    for (let round = 0; round < 40; round++) {
      const batch = [];
      for (let i = 0; i < 20000; i++) batch.push({ i, s: 'x' + i + round });
      const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
      max = Math.max(max, s.space_size);
    }
    process.stdout.write(String(max / 1048576));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' }));
}

void test('the daemon keeps V8 young generation small (flags set at run time take effect)', () => {
  const plain = maxNewSpaceMb(false);
  const tuned = maxNewSpaceMb(true);
  assert.ok(plain >= 16, `without the flags the workload grows the new space (${plain} MB): the test still means something`);
  assert.ok(tuned <= 4, `with the flags the new space stays small: ${tuned} MB`);
});
