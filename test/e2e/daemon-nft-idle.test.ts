// Issue 11 item 15 (nft part): the daemon's watch on berth's nft table must cost the same idle
// with 0 and with thousands of published ports. It used to list berth's table every 250 ms, which
// costs in proportion to the table's elements (10 % of a core with 5,000 ports); now it reads the
// ruleset generation and looks at the table only after a change. Measured from /proc/PID/stat
// (utime + stime) of a real daemon in a lab host, with 0 ports and with 5,000 published ports.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Host, type Lab } from '../lab/index.js';
import { idleCpuPercent, startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { basicLab, runDetached, sleep } from './helpers.js';

const T = { timeout: 300_000 };
const PORTS = 5000;
const FIRST = 20000;
/** idle CPU allowed with no ports, in % of one core (0.7-3 % measured, depending on the VM) */
const MAX_IDLE_PCT = 5;
/** what 5,000 ports may add to that (the old watch added ~10 %) */
const MAX_PORTS_PCT = 2;

void describe('daemon: idle cost of the nft watch', () => {
  let lab: Lab;
  let h: Host;
  let d: Daemon | undefined;

  before(async () => {
    ({ lab, h } = await basicLab('e2e daemon nft idle'));
    d = await startDaemon(h);
  });
  after(async () => {
    await stopDaemon(d);
    await lab?.close();
  });

  void test(`idle daemon CPU: under ${MAX_IDLE_PCT} % of a core with 0 ports, and ${PORTS} published ports add under ${MAX_PORTS_PCT} %`, T, async () => {
    assert.ok(d);
    await h.berthOk(['network', 'create', '--subnet', '10.44.0.0/24', 'idle']);
    const empty = await idleCpuPercent(d.proc.pid, MAX_IDLE_PCT);
    const last = FIRST + PORTS - 1;
    await runDetached(h, ['--network', 'idle', '-p', `${FIRST}-${last}:${FIRST}-${last}/udp`, '--', 'sleep', '600']);
    const table = await h.execOk(['nft', 'list', 'map', 'inet', 'berth', 'pub4any']);
    assert.ok(table.stdout.includes(`${last}`), 'the published ports are map elements');
    const loaded = await idleCpuPercent(d.proc.pid, MAX_IDLE_PCT);
    console.log(`# idle daemon CPU: ${empty.toFixed(2)} % with 0 ports, ${loaded.toFixed(2)} % with ${PORTS} published ports`);
    assert.ok(empty < MAX_IDLE_PCT, `idle with 0 ports: ${empty.toFixed(2)} % of a core`);
    assert.ok(loaded < empty + MAX_PORTS_PCT, `idle with ${PORTS} ports: ${loaded.toFixed(2)} % of a core, ${empty.toFixed(2)} % without`);

    // the watch still sees a deleted table and puts it back
    await h.execOk(['nft', 'delete', 'table', 'inet', 'berth']);
    const end = Date.now() + 5000;
    while (!(await h.exec(['nft', 'list', 'map', 'inet', 'berth', 'pub4any'])).stdout.includes(`${last}`)) {
      assert.ok(Date.now() < end, 'the daemon restores the deleted table, with every published port, within 5 s');
      await sleep(50);
    }
  });
});
