// The daemon's glibc malloc settings (src/kernel/malloc.ts, issue 17): after a burst of native
// allocations is freed, the memory goes back to the kernel. The burst in a child node: one 8 MB
// buffer freed first (by default glibc then raises its mmap threshold to 8 MB and its trim
// threshold to 16 MB, as a daemon's large netlink dump or etcd message does), then 12 MB of 64 KB
// buffers, freed with the last one kept (it pins the arena's top: only malloc_trim returns the
// rest) or all of it (free memory at the top: the fixed trim threshold returns it at once).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { test } from 'node:test';

const MALLOC = new URL('../../src/kernel/malloc.js', import.meta.url).href;

/**
 * The main arena's ([heap]) resident kB after the burst was freed: tuned as the daemon is or not,
 * with malloc_trim (the daemon's periodic release) or without, the burst's top pinned or not.
 */
function heapAfterBurstKb(tuned: boolean, o: { release: boolean; pinTop: boolean }): number {
  const script = `
    import { readFileSync } from 'node:fs';
    const m = ${tuned ? `await import(${JSON.stringify(MALLOC)})` : 'undefined'};
    if (m && !m.tuneMallocForDaemon()) throw new Error('mallopt refused');
    const settle = async () => { for (let i = 0; i < 3; i++) { gc(); await new Promise((r) => setTimeout(r, 20)); } };
    let big = Buffer.alloc(8 << 20, 1);
    big = undefined;
    await settle();
    let burst = [];
    for (let i = 0; i < 192; i++) burst.push(Buffer.alloc(64 << 10, 1));
    const keep = ${o.pinTop} ? burst[burst.length - 1] : Buffer.alloc(1);
    burst = undefined;
    await settle();
    if (m && ${o.release}) m.releaseFreeMemory();
    const smaps = readFileSync('/proc/self/smaps', 'utf8');
    const heap = /\\[heap\\]\\n(?:.*\\n)*?Rss:\\s+(\\d+) kB/.exec(smaps);
    process.stdout.write(String(heap ? Number(heap[1]) : 0) + ' ' + keep.length);`;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return Number(out.split(' ')[0]);
}

void test('the daemon gives a freed burst of native memory back to the kernel (malloc_trim: holes below a live block)', () => {
  const plain = heapAfterBurstKb(false, { release: false, pinTop: true });
  const tuned = heapAfterBurstKb(true, { release: true, pinTop: true });
  assert.ok(plain >= 10 * 1024, `by default the freed burst stays resident (${plain} kB in [heap]): the test still means something`);
  assert.ok(tuned <= plain - 8 * 1024, `tuned as the daemon is, the freed burst goes back: [heap] ${tuned} kB against ${plain} kB`);
});

void test('the daemon gives a freed burst at the top of the heap back at once (fixed trim threshold, no malloc_trim)', () => {
  const plain = heapAfterBurstKb(false, { release: false, pinTop: false });
  const tuned = heapAfterBurstKb(true, { release: false, pinTop: false });
  assert.ok(plain >= 10 * 1024, `by default the freed burst stays resident (${plain} kB in [heap]): the test still means something`);
  assert.ok(tuned <= plain - 8 * 1024, `with the thresholds fixed, the freed burst goes back: [heap] ${tuned} kB against ${plain} kB`);
});
