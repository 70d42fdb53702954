// The topology page at scale (issue 15, "Done when"): N containers on one host (default 100 in
// the suite; BERTH_E2E_TOPOLOGY_CONTAINERS=500 for the issue's figure), half on the default
// bridge, half on a user network, every fifth publishing a port. In headless Chromium: the first
// draw (navigation to the page drawn), containers created through the API drawn (p50 and max
// over UPDATES, each applied as the daemon's diff, with where the time went), and the daemon's
// RSS growth (<= 10 MB) while the page is open. Prints every figure; asserts the issue's times
// (first draw <= 2 s, a live update <= 1 s) only with BERTH_E2E_TOPOLOGY_ASSERT_TIMES=1 (a shared
// machine's timings vary), and always the work an update does, which does not vary with load and
// is what made an update grow with N: no kernel dump in the daemon (the host's links are watched),
// no layout of the whole picture in the page, and a few SVG elements written, not all of them.
// Skipped, saying why, without chromium.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { type Host, Lab } from '../lab/index.js';
import { type Daemon, api, killContainers, memoryOf, sleep, startDaemon, stopDaemon } from './daemon-helpers.js';
import { CHROMIUM, browserIn } from './topology-helpers.js';

const N = Number(process.env.BERTH_E2E_TOPOLOGY_CONTAINERS ?? '100');
const PARALLEL = 4;
const UPDATES = 6;
const UI_PORT = 8089;
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium: scripts/install.sh)`;
if (skip) console.log(`# topology-scale: skipped: ${skip}`);
const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;

interface PageElement {
  readonly textContent: string | null;
}
declare const document: { querySelectorAll(selector: string): Iterable<PageElement>; body: { dataset: Record<string, string | undefined> } };

void describe(`topology page with ${N} containers`, { skip }, () => {
  let lab: Lab;
  let h: Host;
  let d: Daemon;
  let browser: Browser | undefined;

  before(async () => {
    assert.ok(Number.isInteger(N) && N > 0 && N <= 2000, `BERTH_E2E_TOPOLOGY_CONTAINERS=${N}`);
    lab = await Lab.create({ label: 'e2e topology scale' });
    h = await lab.createHost('h');
    await h.berthOk(['network', 'create', '--subnet', '10.72.0.0/20', 'scale']);
    d = await startDaemon(h, { args: ['--ui', `127.0.0.1:${UI_PORT}`] });
    const t0 = Date.now();
    let next = 0;
    const failures: string[] = [];
    const worker = async () => {
      for (let i = next++; i < N; i = next++) {
        const body = { Cmd: ['sleep', '3600'], HostConfig: { NetworkMode: i % 2 ? 'scale' : 'bridge', ...(i % 5 === 0 ? { PortBindings: { '80/tcp': [{ HostPort: String(20000 + i) }] } } : {}) } };
        const r = await api(d.sock, 'POST', `/containers/create?name=s${i}`, body);
        if (r.status !== 201) failures.push(`s${i}: ${r.status} ${r.text}`);
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    assert.deepEqual(failures, []);
    console.log(`# topology-scale: ${N} containers created in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  });
  after(async () => {
    await browser?.close();
    await stopDaemon(d).catch(() => undefined);
    if (h) await killContainers(h);
    await lab?.close();
  });

  void test('first draw, live updates applied as diffs (p50, max), daemon RSS growth <= 10 MB with the page open', { timeout: 300_000 }, async () => {
    const shots = await mkdtemp(join(tmpdir(), 'berth-topology-scale-'));
    // the API's own /topology once (modules loaded), then the daemon's RSS without a page
    const t = Date.now();
    assert.equal((await api(d.sock, 'GET', '/topology')).status, 200);
    console.log(`# topology-scale: GET /topology (with the drift check) ${Date.now() - t} ms`);
    await sleep(1000);
    const before0 = await memoryOf(d.proc.pid);

    // the page's own GET /topology, twice: the graph, and the graph with the drift check's findings
    for (const what of ['first', 'second']) {
      const r = await h.execOk(['curl', '-s', '-o', '/dev/null', '-w', '%{time_total}', `http://127.0.0.1:${UI_PORT}/topology`]);
      console.log(`# topology-scale: the page's GET /topology (${what}) ${(Number(r.stdout) * 1000).toFixed(0)} ms`);
      await sleep(1500);
    }
    browser = await browserIn(h.netnsPath, shots);
    const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
    const errors: string[] = [];
    page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
    page.on('pageerror', (e) => void errors.push(e.message));
    const t1 = Date.now();
    await page.goto(`http://127.0.0.1:${UI_PORT}/`);
    await page.waitForSelector('body[data-drawn]', { timeout: 30_000 });
    const firstDraw = Date.now() - t1;
    const drawMs = await page.evaluate(() => document.body.dataset.drawMs);
    const sinceNavigation = Number(await page.evaluate(() => document.body.dataset.firstDrawMs));
    const nodes = await page.evaluate(() => [...document.querySelectorAll('#canvas g.node')].length);
    console.log(`# topology-scale: first draw ${sinceNavigation} ms after the navigation started (page.goto to drawn: ${firstDraw} ms; layout+SVG ${drawMs} ms), ${nodes} nodes`);
    assert.ok(nodes >= N, `${nodes} nodes drawn for ${N} containers`);

    // live updates: one container at a time through the API, each timed from the API's answer to
    // the node drawn; the page says where its time went (body[data-last-update])
    const updates: number[] = [];
    const applied: boolean[] = [];
    const work: Record<string, number>[] = [];
    const counted = async () => JSON.parse((await page.evaluate(() => document.body.dataset.work)) ?? '{}') as Record<string, number>;
    for (let i = 0; i < UPDATES; i++) {
      const name = `late${i}`;
      const w0 = await counted();
      const r = await api(d.sock, 'POST', `/containers/create?name=${name}`, { Cmd: ['sleep', '3600'], HostConfig: { NetworkMode: 'scale' } });
      assert.equal(r.status, 201, r.text);
      const t2 = Date.now();
      await page.waitForFunction((n) => [...document.querySelectorAll('#canvas g.node text.title')].some((x) => x.textContent === n), name, { polling: 20, timeout: 10_000 });
      updates.push(Date.now() - t2);
      await sleep(300);
      const w1 = await counted();
      work.push(Object.fromEntries(Object.entries(w1).map(([k, v]) => [k, v - (w0[k] ?? 0)])));
      const phases = JSON.parse((await page.evaluate(() => document.body.dataset.lastUpdate)) ?? '{}') as Record<string, number>;
      const { eventEpoch, ...rest } = phases;
      applied.push(rest.applyMs !== undefined);
      const event = eventEpoch !== undefined ? `event ${eventEpoch - t2} ms after the answer; ` : '';
      console.log(`# topology-scale: update ${i}: drawn ${updates[i] ?? 0} ms after the API's answer (${event}${Object.entries(rest).map(([k, v]) => `${k} ${v}`).join(', ')}); work ${JSON.stringify(work[i])}`);
    }
    // a removal at scale: its box goes, the grid's last member takes its slot (no full redraw)
    const w0 = await counted();
    const rm = await api(d.sock, 'DELETE', '/containers/late0?force=1');
    assert.ok(rm.status === 204 || rm.status === 200, `${rm.status} ${rm.text}`);
    const t3 = Date.now();
    await page.waitForFunction(() => ![...document.querySelectorAll('#canvas g.node text.title')].some((x) => x.textContent === 'late0'), undefined, { polling: 20, timeout: 10_000 });
    const removedMs = Date.now() - t3;
    await sleep(300);
    const w1 = await counted();
    const removal = Object.fromEntries(Object.entries(w1).map(([k, v]) => [k, v - (w0[k] ?? 0)]));
    console.log(`# topology-scale: late0 removed, gone from the page ${removedMs} ms after the API's answer; work ${JSON.stringify(removal)}`);
    const sorted = [...updates].sort((a, b) => a - b);
    console.log(`# topology-scale: live updates over ${updates.length}: p50 ${sorted[Math.floor((sorted.length - 1) / 2)] ?? 0} ms, max ${sorted.at(-1) ?? 0} ms (${updates.join(', ')})`);
    await page.screenshot({ path: join(shots, 'scale.png') });
    console.log(`# topology-scale: screenshot in ${shots}`);
    // the lowest of six samples a second apart: a single reading can land on garbage not yet
    // collected (13 MB once at 100 containers, against 2-7 MB in the runs around it)
    let open = await memoryOf(d.proc.pid);
    for (let i = 0; i < 5; i++) {
      await sleep(1000);
      const m = await memoryOf(d.proc.pid);
      if (m.rssKb < open.rssKb) open = m;
    }
    const growth = open.rssKb - before0.rssKb;
    console.log(`# topology-scale: daemon VmRSS ${mb(before0.rssKb)} before the page, ${mb(open.rssKb)} with it open after ${updates.length} updates (growth ${mb(growth)}; VmHWM ${mb(open.hwmKb)})`);
    assert.deepEqual(errors, []);
    // each update came as a diff applied to the graph drawn, not as a fetch of the whole graph
    assert.deepEqual(applied, updates.map(() => true), 'every update applied as a diff');
    // and cost what one container costs, whatever N: no dump of the host's links or addresses, no
    // layout of the whole picture, its box and its edge written (a few elements, not N)
    const reason = await page.evaluate(() => document.body.dataset.fullReason);
    const uiLog = d.proc.stderr().split('\n').concat(d.proc.stdout().split('\n')).filter((l) => l.includes('ui: topology'));
    if (uiLog.length) console.log(`# topology-scale: the daemon said:\n${uiLog.map((l) => `#   ${l}`).join('\n')}`);
    // (each update's work: the page's counters from before the API call to 300 ms after the node was drawn)
    for (const [i, w] of work.entries()) {
      const what = `update ${i}: ${JSON.stringify(w)} (last full draw: ${reason ?? 'none since the first'})`;
      assert.ok((w.diffs ?? 0) >= 1, `the change came as a diff: ${what}`);
      assert.equal(w.fullDraws, 0, `patched in place, not drawn whole: ${what}`);
      assert.equal(w.laidOut, 0, `no node laid out again: ${what}`);
      // its box, its veth edge (and label, in a small picture), a rewrite or two of its box
      assert.ok((w.elements ?? 0) >= 2 && (w.elements ?? 0) <= 8, `a container's elements written, not the picture's: ${what}`);
      assert.equal(w.linkDumps, 0, `no dump of the host's links: ${what}`);
      assert.equal(w.addressDumps, 0, `no dump of the host's addresses: ${what}`);
    }
    const what = `the removal: ${JSON.stringify(removal)} (last full draw: ${reason ?? 'none since the first'})`;
    assert.equal(removal.fullDraws, 0, `patched in place: ${what}`);
    assert.equal(removal.laidOut, 0, what);
    // its box, edges and labels removed, the grid's last member's box, edges and labels moved: at
    // most 1 + 2 * 2 + 1 + 4 * 2 (two edges each, with labels in a small picture), whatever N
    assert.ok((removal.elements ?? 0) >= 2 && (removal.elements ?? 0) <= 14, what);
    assert.deepEqual([removal.linkDumps, removal.addressDumps], [0, 0], what);
    // the issue's figures are asserted only when asked for (the suite's machine is shared: its
    // timings are printed, not asserted)
    if (process.env.BERTH_E2E_TOPOLOGY_ASSERT_TIMES === '1') {
      assert.ok(sinceNavigation <= 2000, `first draw ${sinceNavigation} ms after the navigation started`);
      assert.ok(Math.max(...updates) <= 1000, `live updates ${updates.join(', ')} ms`);
    }
    assert.ok(growth <= 10 * 1024, `RSS growth ${mb(growth)}`);
  });
});
