// End to end, the topology page (issue 15) in headless Chromium (Debian's, driven by
// playwright-core; started inside the lab host's network namespace, where the daemon listens),
// on the lab of topology-helpers.ts: no console error, exactly the expected nodes and edges, a
// node added within 1 s of `berth run` and gone within 1 s of `berth rm`, a click shows the
// kernel's details, filters, SVG and PNG export, and the token enforced off loopback.
// Screenshots go to a temp dir (printed). Skipped, saying why, without chromium.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { type Daemon, startDaemon, stopDaemon } from './daemon-helpers.js';
import { runDetached, sleep } from './helpers.js';
import { CHROMIUM, type TopologyLab, browserIn, expectedView, topologyLab } from './topology-helpers.js';

const T = { timeout: 120_000 };
const skip = existsSync(CHROMIUM) ? false : `${CHROMIUM} is missing (apt-get install chromium: scripts/install.sh)`;
if (skip) console.log(`# topology-ui: skipped: ${skip}`);

const UI_PORT = 8089;

interface Drawn {
  nodes: string[];
  edges: string[];
}

// The little of the DOM the page-side functions below use (the tests are compiled without the
// DOM's types; these functions run in the page, where document exists).
interface PageElement {
  getAttribute(name: string): string | null;
  readonly textContent: string | null;
}
declare const document: { querySelectorAll(selector: string): Iterable<PageElement>; querySelector(selector: string): PageElement | null };

async function drawn(page: Page): Promise<Drawn> {
  return page.evaluate(() => ({
    nodes: [...document.querySelectorAll('#canvas g.node')].map((g) => g.getAttribute('data-id') ?? '').sort(),
    edges: [...document.querySelectorAll('#canvas g.edge')].map((g) => `${g.getAttribute('data-from') ?? ''} ${(g.getAttribute('class') ?? '').replace('edge e-', '')} ${g.getAttribute('data-to') ?? ''}`).sort(),
  }));
}

/** ms until the page has (or no longer has) a node with this title, polled every 20 ms. */
async function msUntil(page: Page, title: string, present: boolean, limitMs: number): Promise<number> {
  const t0 = Date.now();
  await page.waitForFunction(
    ([t, want]) => [...document.querySelectorAll('#canvas g.node text.title')].some((x) => x.textContent === t) === want,
    [title, present] as const,
    { polling: 20, timeout: limitMs + 4000 },
  );
  return Date.now() - t0;
}

async function detailsInclude(page: Page, s: string): Promise<void> {
  await page.waitForFunction((want) => (document.querySelector('#details')?.textContent ?? '').includes(want), s);
}

void describe('topology page in headless Chromium', { skip }, () => {
  let L: TopologyLab;
  let d: Daemon | undefined;
  let browser: Browser | undefined;
  let page: Page;
  let shots = '';
  const consoleErrors: string[] = [];

  before(async () => {
    shots = await mkdtemp(join(tmpdir(), 'berth-topology-ui-'));
    console.log(`# topology-ui: screenshots in ${shots}`);
    L = await topologyLab('e2e topology ui');
    d = await startDaemon(L.h, { args: ['--ui', `127.0.0.1:${UI_PORT}`] });
    browser = await browserIn(L.h.netnsPath, shots);
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
    page.on('console', (m) => void (m.type() === 'error' && consoleErrors.push(m.text())));
    page.on('pageerror', (e) => void consoleErrors.push(e.message));
  });
  after(async () => {
    await browser?.close();
    await stopDaemon(d);
    await L?.lab.close();
  });

  void test('loads with no console error and draws exactly the expected nodes and edges', T, async () => {
    const r = await page.goto(`http://127.0.0.1:${UI_PORT}/`);
    assert.equal(r?.status(), 200);
    await page.waitForSelector('body[data-drawn]');
    const want = await expectedView(L);
    assert.deepEqual(await drawn(page), want);
    await page.screenshot({ path: join(shots, '1-lab.png'), fullPage: true });
    assert.deepEqual(consoleErrors, []);
  });

  void test('a container appears within 1 s of berth run, and is gone within 1 s of berth rm', T, async () => {
    const waiting = msUntil(page, 'late', true, 1000);
    const t0 = Date.now();
    await runDetached(L.h, ['--name', 'late', '--network', 'front', '--', 'sleep', '600']);
    const ran = Date.now() - t0;
    const ms = (await waiting) - ran;
    console.log(`# topology-ui: berth run took ${ran} ms; the node was drawn ${ms} ms after it returned`);
    assert.ok(ms <= 1000, `drawn ${ms} ms after berth run returned`);
    await page.screenshot({ path: join(shots, '2-after-run.png'), fullPage: true });
    const gone = msUntil(page, 'late', false, 1000);
    const t1 = Date.now();
    await L.h.berthOk(['rm', '-f', 'late']);
    const rm = Date.now() - t1;
    const ms2 = (await gone) - rm;
    console.log(`# topology-ui: berth rm took ${rm} ms; the node was gone ${ms2} ms after it returned`);
    assert.ok(ms2 <= 1000, `removed ${ms2} ms after berth rm returned`);
    assert.deepEqual(consoleErrors, []);
  });

  void test('a click shows the kernel details: addresses, routes, MTU, counters, nft elements', T, async () => {
    await page.click(`#canvas g.node[data-id="ns/${L.ids.web}"] rect`);
    await detailsInclude(page, 'nft elements');
    const text = (await page.textContent('#details')) ?? '';
    for (const want of ['namespace web', 'webhost', '10.71.0.2/24', 'mtu', 'rxBytes', 'txPackets', 'default', 'via 10.71.0.1', 'inet berth pub4any: tcp . 8080 : 10.71.0.2 . 80', 'bridge berth port_mac: veth', 'bridge berth port_ip4: veth']) {
      assert.ok(text.includes(want), `details show ${want}: ${text}`);
    }
    await page.screenshot({ path: join(shots, '3-details.png'), fullPage: true });
    // the nft elements as the kernel has them now: the bridge's subnet in berth's table
    await page.click(`#canvas g.node[data-id="host/${L.bridges.front}"] rect`);
    await page.waitForFunction((id) => {
      const t = document.querySelector('#details')?.textContent ?? '';
      return t.includes(id) && t.includes('nft elements');
    }, `host/${L.bridges.front}`);
    const bridgeText = (await page.textContent('#details')) ?? '';
    assert.match(bridgeText, /inet berth \S+: [^\n]*10\.71\.0\.0\/24/, `the bridge's details: ${bridgeText}`);
    assert.deepEqual(consoleErrors, []);
  });

  void test('filters by network and host', T, async () => {
    await page.selectOption('#filter-network', 'lan0');
    assert.deepEqual((await drawn(page)).nodes, ['host', 'host/eth1', `host/${L.bridges.lan0}`, `ns/${L.ids.lanc}`].sort());
    await page.screenshot({ path: join(shots, '4-filter-lan0.png'), fullPage: true });
    await page.selectOption('#filter-network', '');
    await page.selectOption('#filter-host', 'local');
    assert.deepEqual((await drawn(page)).nodes, (await expectedView(L)).nodes);
    await page.selectOption('#filter-host', '');
  });

  void test('exports the view as SVG and PNG', T, async () => {
    const [svgDl] = await Promise.all([page.waitForEvent('download'), page.click('#export-svg')]);
    const svg = await readFile((await svgDl.path()) ?? '', 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.ok(svg.includes(`data-id="ns/${L.ids.web}"`));
    const [pngDl] = await Promise.all([page.waitForEvent('download'), page.click('#export-png')]);
    const png = await readFile((await pngDl.path()) ?? '');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'a PNG file');
    assert.ok(png.length > 5000, `a real picture (${png.length} bytes)`);
    assert.deepEqual(consoleErrors, []);
  });

  void test('off loopback the token is required; on loopback a foreign Host name is refused', T, async () => {
    const foreign = await L.h.exec(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '-H', 'Host: evil.example', `http://127.0.0.1:${UI_PORT}/topology`]);
    assert.equal(foreign.stdout, '421', 'DNS rebinding: a foreign Host is refused');
    await stopDaemon(d);
    d = await startDaemon(L.h, { args: ['--ui', `10.200.0.1:${UI_PORT}`] });
    // the page is served (and its line printed) just after the API socket listens
    const uiLine = /ui: topology page on http:\/\/10\.200\.0\.1:8089\/\?token=([A-Za-z0-9_-]+)/;
    for (const end = Date.now() + 10_000; !uiLine.test(d.proc.stderr()) && Date.now() < end; ) await sleep(20);
    const line = uiLine.exec(d.proc.stderr());
    assert.ok(line, `the daemon prints the page's URL with its token:\n${d.proc.stderr()}`);
    const token = line[1] as string;
    const file = join(L.h.rootDir, 'ui-token');
    assert.equal((await readFile(file, 'utf8')).trim(), token);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    for (const path of ['/', '/topology', '/events', `/?token=${'x'.repeat(token.length)}`]) {
      const r = await page.goto(`http://10.200.0.1:${UI_PORT}${path}`);
      assert.equal(r?.status(), 401, `${path} without the token`);
    }
    const ok = await page.goto(`http://10.200.0.1:${UI_PORT}/?token=${token}`);
    assert.equal(ok?.status(), 200);
    await page.waitForSelector('body[data-drawn]');
    assert.deepEqual((await drawn(page)).nodes, (await expectedView(L)).nodes, 'with the token (kept in a cookie) the page draws');
    await sleep(100);
    assert.deepEqual(consoleErrors.filter((e) => !/401/.test(e)), []);
  });
});
