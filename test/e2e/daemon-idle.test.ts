// End to end, what an idle daemon and its store cost (issue 11, item 15, store part): a label
// over the caps is refused (400 / exit 1 naming it), an idle daemon with many networks carrying labels at the
// caps stays near 0 % CPU (its 250 ms polls no longer decode every network), and berth.db
// shrinks again once a container publishing thousands of ports is removed.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Host } from '../lab/index.js';
import { api, assertApiError, idleCpuPercent, startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { type BasicLab, basicLab } from './helpers.js';

const T = { timeout: 300_000 };
const NETWORKS = 24;

async function dbSize(h: Host): Promise<number> {
  return (await stat(join(h.rootDir, 'berth.db'))).size;
}

void describe('an idle daemon and its store', () => {
  let L: BasicLab;
  let h: Host;
  let daemon: Daemon;

  before(async () => {
    L = await basicLab('e2e daemon idle');
    h = L.h;
    daemon = await startDaemon(h);
  });
  after(async () => {
    await stopDaemon(daemon);
    await L?.lab.close();
  });

  void test('a label over the caps is refused (400 / exit 1) naming it, and nothing is created', T, async () => {
    // 100 KB, not 10 MB: the body stays under any request-size cap, the label is what is refused
    const big = await api(daemon.sock, 'POST', '/networks/create', { Name: 'idle-big', Labels: { huge: 'x'.repeat(100_000) } });
    assertApiError(big, 400, /label "huge": its value is 100000 bytes; accepted are values of up to 65536 bytes/, 'a 100 KB label');
    const cli = await h.berth(['network', 'create', '--label', `k=${'x'.repeat(70_000)}`, 'idle-cli']);
    assert.equal(cli.code, 1, cli.stderr);
    assert.match(cli.stderr, /label "k": its value is 70000 bytes/);
    const names = (await api(daemon.sock, 'GET', '/networks')).text;
    assert.doesNotMatch(names, /idle-big|idle-cli/, 'nothing was created');
  });

  void test(`idle CPU with ${NETWORKS} networks carrying 256 KB of labels each stays low`, T, async () => {
    // against the same daemon's idle cost without them (0.7-3 % of a core, depending on the VM):
    // the labels used to add ~17 % (decoded on every store poll)
    const baseline = await idleCpuPercent(daemon.proc.pid, 5);
    const labels: Record<string, string> = {};
    for (let i = 0; i < 4; i++) labels[`l${i}`] = 'v'.repeat(65_000);
    try {
      for (let n = 0; n < NETWORKS; n++) {
        const r = await api(daemon.sock, 'POST', '/networks/create', { Name: `idle-${n}`, Labels: labels });
        assert.equal(r.status, 201, r.text);
      }
      const pct = await idleCpuPercent(daemon.proc.pid, baseline + 2);
      console.log(`# idle daemon CPU with ${NETWORKS} networks x 256 KB labels: ${pct.toFixed(2)} % of a core (${baseline.toFixed(2)} % without)`);
      assert.ok(baseline < 5, `idle CPU without labels ${baseline.toFixed(2)} % of a core`);
      assert.ok(pct < baseline + 2, `idle CPU ${pct.toFixed(2)} % of a core, ${baseline.toFixed(2)} % without the labels`);
    } finally {
      // the next test measures the store's size from here
      for (let n = 0; n < NETWORKS; n++) await api(daemon.sock, 'DELETE', `/networks/idle-${n}`);
    }
  });

  void test('berth.db shrinks after a container publishing 20,000 ports is removed', T, async () => {
    const before = await dbSize(h);
    await h.berthOk(['run', '-d', '--name', 'idle-ports', '-p', '20000-39999:20000-39999', '--', 'sleep', '600'], { timeoutMs: 240_000 });
    const full = await dbSize(h);
    await h.berthOk(['rm', '-f', 'idle-ports'], { timeoutMs: 240_000 });
    const after = await dbSize(h);
    console.log(`# berth.db: ${before} bytes, ${full} with 20,000 ports, ${after} after rm`);
    assert.ok(full > before + 1_000_000, `20,000 ports take room: ${before} -> ${full}`);
    assert.ok(after < before + 500_000, `berth.db back near its size before: ${before} -> ${full} -> ${after}`);
  });
});
