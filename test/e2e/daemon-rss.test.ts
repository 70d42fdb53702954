// The daemon's memory with many containers attached through its API (issue 5: "daemon RSS with
// 500 containers attached", target <= 100 MB). Prints VmRSS/VmHWM of the daemon process idle
// and after N containers (default 100; BERTH_E2E_RSS_CONTAINERS=500 for the full figure). The
// only assertions are sanity: every container is created and attached, and the figures are
// plausible. Half the containers are on the default bridge, half on a user network, every
// fifth publishes a port.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Host, Lab } from '../lab/index.js';
import { type Daemon, api, killContainers, memoryOf, parseJson, readStore, sleep, startDaemon, stopDaemon } from './daemon-helpers.js';

const N = Number(process.env.BERTH_E2E_RSS_CONTAINERS ?? '100');
/** requests in flight at once (the daemon serialises engine calls; this keeps it busy) */
const PARALLEL = 4;

const mb = (kb: number) => `${(kb / 1024).toFixed(1)} MB`;

void describe(`daemon RSS with ${N} containers attached through the API`, () => {
  let lab: Lab;
  let h: Host;
  let d: Daemon;

  before(async () => {
    lab = await Lab.create({ label: 'e2e daemon rss' });
    h = await lab.createHost('h');
    await h.berthOk(['network', 'create', '--subnet', '10.70.0.0/20', 'rss']);
    d = await startDaemon(h);
  });
  after(async () => {
    await stopDaemon(d).catch(() => undefined);
    if (h) await killContainers(h);
    await lab?.close();
  });

  void test(`VmRSS of the daemon, idle and with ${N} containers`, { timeout: Math.max(120_000, N * 2_000) }, async () => {
    assert.ok(Number.isInteger(N) && N > 0 && N <= 2000, `BERTH_E2E_RSS_CONTAINERS=${N}`);
    // warm up the code paths (first create loads modules), then measure idle
    const warm = await api(d.sock, 'POST', '/containers/create?name=warm', { Cmd: ['sleep', '3600'] });
    assert.equal(warm.status, 201, warm.text);
    assert.equal((await api(d.sock, 'DELETE', '/containers/warm?force=1')).status, 204);
    await sleep(500);
    const idle = await memoryOf(d.proc.pid);

    const t0 = Date.now();
    let next = 0;
    const failures: string[] = [];
    const worker = async () => {
      for (let i = next++; i < N; i = next++) {
        const body = {
          Cmd: ['sleep', '3600'],
          HostConfig: { NetworkMode: i % 2 ? 'rss' : 'bridge', ...(i % 5 === 0 ? { PortBindings: { '80/tcp': [{ HostPort: String(20000 + i) }] } } : {}) },
        };
        try {
          const r = await api(d.sock, 'POST', `/containers/create?name=r${i}`, body);
          if (r.status !== 201) failures.push(`r${i}: ${r.status} ${r.text}`);
        } catch (e) {
          failures.push(`r${i}: ${(e as Error).message} (daemon ${d.proc.running ? 'running' : 'gone'})`);
        }
      }
    };
    await Promise.all(Array.from({ length: PARALLEL }, worker));
    const secs = (Date.now() - t0) / 1000;
    assert.deepEqual(failures, [], `every create succeeded; the daemon's log ends with:\n${d.proc.stderr().slice(-4000)}`);

    const running = parseJson<unknown[]>(await api(d.sock, 'GET', '/containers/json'));
    assert.equal(running.length, N, `${N} containers run`);
    assert.equal(readStore(h).endpoints.length, N, `${N} endpoints`);
    // a few list/inspect calls, as a client polling the daemon would make
    for (let i = 0; i < 5; i++) {
      assert.equal((await api(d.sock, 'GET', '/topology')).status, 200);
      assert.equal((await api(d.sock, 'GET', '/networks')).status, 200);
    }
    await sleep(500);
    const loaded = await memoryOf(d.proc.pid);

    console.log(
      `# daemon RSS: idle ${mb(idle.rssKb)}; with ${N} containers attached through the API: VmRSS ${mb(loaded.rssKb)}, VmHWM ${mb(loaded.hwmKb)} ` +
        `(${N} creates in ${secs.toFixed(1)} s, ${((secs * 1000) / N).toFixed(0)} ms each, ${PARALLEL} in flight)`,
    );
    assert.ok(idle.rssKb > 10 * 1024 && idle.rssKb < 1024 * 1024, `idle RSS ${mb(idle.rssKb)} is plausible`);
    assert.ok(loaded.rssKb > 10 * 1024 && loaded.rssKb < 2048 * 1024, `loaded RSS ${mb(loaded.rssKb)} is plausible`);
  });
});
