// End to end, self-repair (issue 5): `berth system check` compares the store with the kernel,
// lists every difference and changes nothing; `--repair` makes the kernel match the store again
// (a deleted bridge, a flushed ruleset, a container whose processes were SIGKILLed); the daemon
// repairs at start and restores berth's nft table within a second of `nft flush ruleset` or
// `nft delete table inet berth`; and a daemon SIGKILLed in the middle of 50 concurrent
// container creations leaves, once a new daemon has started, a host where the check is clean,
// no address is held by a dead container and nothing berth-named is left over.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Host, addressesOf, addrs, link, links, nftRuleset, nftTables } from '../lab/index.js';
import {
  type BasicLab,
  EXT_ADDR,
  H_ADDR,
  basicLab,
  berthTable,
  inspect,
  nextAddress,
  probeFrom,
  runDetached,
  runServer,
} from './helpers.js';
import {
  type Daemon,
  type Reply,
  api,
  berthLinks,
  containerProcesses,
  killContainers,
  leftovers,
  parentOf,
  parseJson,
  readStore,
  sleep,
  startDaemon,
  startTimeOf,
  stopDaemon,
  waitFor,
} from './daemon-helpers.js';

const T = { timeout: 120_000 };

interface Finding {
  object: string;
  problem: string;
  action?: string;
}

/** Everything `system check` (without --repair) must leave exactly as it was. */
async function snapshot(h: Host): Promise<unknown> {
  const [ls, as, nft, procs] = await Promise.all([links(h), addrs(h), nftRuleset(h), containerProcesses(h)]);
  const dir = async (p: string) => (await readdir(p).catch(() => [] as string[])).sort();
  return {
    links: ls.map((l) => ({ ifname: l.ifname, master: l.master, flags: l.flags, ifalias: l.ifalias, mtu: l.mtu })).sort((a, b) => a.ifname.localeCompare(b.ifname)),
    addrs: as.map((a) => ({ ifname: a.ifname, addrs: a.addr_info.map((x) => `${x.local}/${x.prefixlen}`).sort() })).sort((a, b) => a.ifname.localeCompare(b.ifname)),
    nft,
    netns: await dir(join(h.runDir, 'netns')),
    containerDirs: await dir(join(h.runDir, 'containers')),
    store: readStore(h),
    procs: procs.map((p) => p.pid).sort(),
  };
}

async function bridgeOf(h: Host, net: string): Promise<string> {
  const [n] = await h.berthJson<{ Options: Record<string, string> }[]>(['network', 'inspect', net]);
  const br = n?.Options['com.docker.network.bridge.name'];
  assert.ok(br, `network ${net} names its bridge`);
  return br;
}

/** SIGKILL a detached container's shim and its PID 1 (shim first, so no exit hook runs), and wait until both are gone. */
async function killContainer(ctr: string, child: number): Promise<void> {
  assert.ok(child > 0, `${ctr} runs`);
  const shim = await parentOf(child);
  assert.ok(shim && shim > 1, `${ctr}'s shim`);
  const starts = [await startTimeOf(shim), await startTimeOf(child)];
  process.kill(shim, 'SIGKILL');
  process.kill(child, 'SIGKILL');
  await waitFor(
    async () => (await startTimeOf(shim)) !== starts[0] && (await startTimeOf(child)) !== starts[1],
    5000,
    () => `${ctr}'s processes ${shim} and ${child} are still there after SIGKILL`,
  );
}

/** Elements of berth's table without those that mention `needle`. */
function without(table: Awaited<ReturnType<typeof berthTable>>, needle: string): Record<string, string[]> {
  return Object.fromEntries(Object.entries(table.elements).map(([k, v]) => [k, v.filter((e) => !e.includes(needle))]));
}

void describe('self-repair', () => {
  let L: BasicLab;
  let h: Host;
  let br = '';

  before(async () => {
    L = await basicLab('e2e daemon repair');
    h = L.h;
    await h.berthOk(['network', 'create', '--subnet', '10.31.0.0/24', 'rn1']);
    br = await bridgeOf(h, 'rn1');
    await runServer(h, 'web', ['--network', 'rn1', '-p', '8080:80'], 'tcp', 80);
    await runDetached(h, ['--name', 'victim', '-p', '8081:81', '--', 'sleep', '600']);
  });
  after(async () => {
    for (const host of L?.lab.hosts ?? []) await killContainers(host);
    await L?.lab.close();
  });

  void test('system check lists a deleted bridge, a flushed ruleset and a dead container, changes nothing; --repair fixes all three', T, async () => {
    const clean = await h.berth(['system', 'check']);
    assert.equal(clean.code, 0, `check on a clean host: ${clean.stdout}${clean.stderr}`);
    assert.equal(clean.stdout, 'the kernel matches the store\n');
    assert.deepEqual(await h.berthJson(['system', 'check', '--format', 'json']), []);
    assert.equal((await probeFrom(L.ext, 'tcp', H_ADDR, 8080)).ok, true, 'the published port works before');

    const table = await berthTable(h);
    assert.ok(Object.values(table.elements).flat().some((e) => e.includes('8081')), `victim's port is in the table: ${JSON.stringify(table.elements)}`);
    const victim = await inspect(h, 'victim');
    const victimIp = victim.NetworkSettings.IPAddress;
    const victimId = victim.Id;

    // break it: the bridge, the ruleset, the container's processes
    await h.execOk(['ip', 'link', 'del', br]);
    await h.execOk(['nft', 'flush', 'ruleset']);
    await killContainer('victim', victim.State.Pid);

    const s1 = await snapshot(h);
    const check = await h.berth(['system', 'check']);
    assert.equal(check.code, 1, `check with differences exits 1: ${check.stdout}${check.stderr}`);
    assert.match(check.stdout, /^container victim: its process is gone/m);
    assert.match(check.stdout, new RegExp(`^network rn1: bridge ${br} is missing`, 'm'));
    assert.match(check.stdout, /^nft table inet berth: /m);
    assert.doesNotMatch(check.stdout, /->/, 'check without --repair reports no action');
    // with differences found, check exits 1 in JSON too (see the next test)
    const json = await h.berth(['system', 'check', '--format', 'json']);
    assert.equal(json.code, 1, json.stderr);
    const findings = JSON.parse(json.stdout) as Finding[];
    for (const o of ['container victim', 'network rn1', 'nft table inet berth']) {
      assert.ok(findings.some((f) => f.object === o), `--format json lists ${o}: ${JSON.stringify(findings)}`);
    }
    assert.ok(findings.every((f) => f.action === undefined), 'no finding has an action');
    assert.deepEqual(await snapshot(h), s1, 'system check changed nothing: links, addresses, nft ruleset, netns mounts, container dirs, store, processes');

    const repair = await h.berth(['system', 'check', '--repair']);
    assert.equal(repair.code, 0, `check --repair: ${repair.stdout}${repair.stderr}`);
    for (const o of ['container victim', 'network rn1', 'nft table inet berth']) {
      assert.match(repair.stdout, new RegExp(`^${o}: .* -> `, 'm'), `--repair acted on ${o}:\n${repair.stdout}`);
    }

    // the bridge is back, up, with its gateway, and web's veth is on it again
    const l = await link(h, br);
    assert.ok(l?.flags.includes('UP'), `bridge ${br} is back and up`);
    assert.ok((await addressesOf(h, br, 4)).includes('10.31.0.1/24'), `${br} has its gateway 10.31.0.1/24 again`);
    assert.equal((await links(h)).filter((x) => x.master === br).length, 1, `web's veth is a port of ${br} again`);
    // the table and its elements are back, without the dead container's port
    const now = await berthTable(h);
    assert.equal(now.rules, table.rules, 'the same number of rules');
    assert.deepEqual(now.elements, without(table, '8081'), 'every element is back, except the dead container\'s port');
    // the dead container released its address, port and namespace
    const store = readStore(h);
    assert.equal(store.endpoints.filter((e) => e.containerId === victimId).length, 0, 'victim has no endpoint');
    assert.equal(store.ports.filter((p) => p.containerId === victimId).length, 0, 'victim holds no port');
    assert.equal((await inspect(h, 'victim')).State.Running, false);
    assert.deepEqual(await leftovers(h), [], 'nothing is held by a container that is not running');
    assert.equal(await nextAddress(h), victimIp, `victim's address ${victimIp} is handed out again`);
    await h.berthOk(['run', '--rm', '-p', '8081:81', '--', 'true']);
    // published ports work again
    const p = await probeFrom(L.ext, 'tcp', H_ADDR, 8080);
    assert.ok(p.ok, `ext -> ${H_ADDR}:8080 after the repair: ${p.output}`);
    assert.equal(p.peer, EXT_ADDR);

    const again = await h.berth(['system', 'check']);
    assert.equal(again.code, 0, `a second check is clean: ${again.stdout}`);
    assert.equal(again.stdout, 'the kernel matches the store\n');
  });

  void test('system check --format json also exits 1 when it finds differences', T, async () => {
    await h.execOk(['nft', 'flush', 'ruleset']);
    try {
      const r = await h.berth(['system', 'check', '--format', 'json']);
      const findings = JSON.parse(r.stdout) as Finding[];
      assert.ok(findings.length > 0, 'it finds the flushed table');
      assert.equal(r.code, 1, `berth system check --format json with ${findings.length} difference(s): exit ${r.code} (text output exits 1)`);
    } finally {
      await h.berthOk(['system', 'check', '--repair']);
    }
  });

  void test('the daemon restores berth\'s nft table within one second of `nft flush ruleset` and `nft delete table inet berth`, and leaves other tables alone', T, async () => {
    const d = await startDaemon(h);
    try {
      assert.doesNotMatch(d.proc.stderr(), /repair:/, `a clean host: nothing to repair at start:\n${d.proc.stderr()}`);
      const want = await berthTable(h);
      assert.ok(want.rules > 0);
      const breaks = [
        ['nft', 'flush', 'ruleset'],
        ['nft', 'delete', 'table', 'inet', 'berth'],
      ];
      for (const argv of breaks) {
        await h.execOk(argv);
        const t0 = Date.now();
        // someone else's table, made right after: the restore must not touch it
        await h.execOk(['nft', 'add', 'table', 'ip', 'sometool']);
        await waitFor(
          async () => {
            const now = await berthTable(h);
            return now.rules === want.rules && JSON.stringify(now.elements) === JSON.stringify(want.elements);
          },
          3000,
          () => `after ${argv.join(' ')}, berth's table did not come back as it was`,
          10,
        );
        const ms = Date.now() - t0;
        assert.ok(ms <= 1000, `${argv.join(' ')}: table restored after ${ms} ms, want <= 1000`);
        assert.ok((await nftTables(h)).some((t) => t.family === 'ip' && t.name === 'sometool'), 'the other table is still there');
        await h.execOk(['nft', 'delete', 'table', 'ip', 'sometool']);
        const p = await probeFrom(L.ext, 'tcp', H_ADDR, 8080);
        assert.ok(p.ok, `after ${argv.join(' ')}: ext -> ${H_ADDR}:8080: ${p.output}`);
        assert.equal(p.peer, EXT_ADDR);
      }
      assert.equal((d.proc.stderr().match(/nft table was gone; restored it/g) ?? []).length, 2, `the daemon logged both restores:\n${d.proc.stderr()}`);
      assert.equal((await h.berth(['system', 'check'])).code, 0, 'and the check is clean');
    } finally {
      await stopDaemon(d);
    }
  });

  void test('the daemon repairs at start: a missing bridge, a berth-marked link and netns mount the store does not know, a stale file', T, async () => {
    await h.execOk(['ip', 'link', 'del', br]);
    const strayNet = randomBytes(32).toString('hex');
    await h.execOk(['ip', 'link', 'add', 'brstray', 'type', 'bridge']);
    await h.execOk(['ip', 'link', 'set', 'brstray', 'alias', `berth:network:${strayNet}`]);
    const strayNs = join(h.runDir, 'netns', randomBytes(32).toString('hex'));
    await writeFile(strayNs, '');
    await h.execOk(['unshare', `--net=${strayNs}`, 'true']);
    const staleFile = join(h.runDir, 'netns', randomBytes(32).toString('hex'));
    await writeFile(staleFile, '');
    assert.equal((await h.berth(['system', 'check'])).code, 1);

    const d = await startDaemon(h);
    try {
      const log = d.proc.stderr();
      assert.match(log, new RegExp(`repair: network rn1: bridge ${br} is missing -> re-created it`));
      assert.match(log, /repair: link brstray: berth made it .* -> deleted it/);
      assert.match(log, new RegExp(`repair: netns ${strayNs.slice(-64)}: no running container owns it -> deleted it`));
      assert.match(log, new RegExp(`repair: netns ${staleFile.slice(-64)}: a stale file, not a namespace -> deleted it`));
      assert.equal(await link(h, 'brstray'), undefined, 'the stray link is gone');
      assert.deepEqual((await berthLinks(h)).filter((l) => l.ifalias.includes(strayNet)), []);
      const ns = await readdir(join(h.runDir, 'netns'));
      assert.ok(!ns.includes(strayNs.slice(-64)) && !ns.includes(staleFile.slice(-64)), `netns dir: ${ns.join(' ')}`);
      assert.ok((await addressesOf(h, br, 4)).includes('10.31.0.1/24'), `${br} is back with its gateway`);
      const p = await probeFrom(L.ext, 'tcp', H_ADDR, 8080);
      assert.ok(p.ok, `ext -> ${H_ADDR}:8080: ${p.output}`);
      const c = await h.berth(['system', 'check']);
      assert.equal(c.code, 0, `clean after the daemon's start: ${c.stdout}`);
    } finally {
      await stopDaemon(d);
    }
  });

  /**
   * 50 container creations in flight through the API (half on the default bridge, half on a
   * user network, each publishing a port); SIGKILL the daemon when its trace (BERTH_TRACE=1)
   * shows the nth creation reach `point` — or, with `within`, a fraction of the way from `point`
   * to the trace point after it, as long as that step took in the creations before; start a new
   * daemon; judge the host.
   */
  async function killMidAttach(hostName: string, subnet: string, point: string, nth: number, within?: { next: string; fraction: number }): Promise<void> {
    const k = await L.lab.createHost(hostName);
    await k.berthOk(['network', 'create', '--subnet', subnet, 'kn']);
    const d = await startDaemon(k, { env: { BERTH_TRACE: '1' } });
    let d2: Daemon | undefined;
    try {
      const answers: (Reply | Error)[] = [];
      const inflight = Array.from({ length: 50 }, (_, i) =>
        api(d.sock, 'POST', `/v1.41/containers/create?name=k${i}`, {
          Cmd: ['sleep', '600'],
          HostConfig: { NetworkMode: i % 2 ? 'kn' : 'bridge', PortBindings: { '80/tcp': [{ HostPort: String(9000 + i) }] } },
        }).then(
          (r) => void (answers[i] = r),
          (e: Error) => void (answers[i] = e),
        ),
      );
      const re = new RegExp(`(?:[\\s\\S]*?\\] ${point}\\n){${nth}}`);
      await d.proc.waitForOutput(re, { stream: 'stderr', timeoutMs: 90_000 });
      let delay = 0;
      if (within) {
        // how long point -> next took in the creations that completed
        const marks = [...d.proc.stderr().matchAll(/\[trace ([\d.]+) ms\] (run: [a-z ]+)\n/g)].map((m) => ({ t: Number(m[1]), what: m[2] }));
        const steps: number[] = [];
        marks.forEach((m, i) => {
          const to = m.what === point ? marks.slice(i + 1).find((x) => x.what === within.next) : undefined;
          if (to) steps.push(to.t - m.t);
        });
        steps.sort((a, b) => a - b);
        delay = (steps[Math.floor(steps.length / 2)] ?? 0) * within.fraction;
        await sleep(delay);
      }
      d.proc.signal('SIGKILL');
      await Promise.all(inflight);
      const r = await d.proc.exited;
      assert.equal(r.signal, 'SIGKILL', 'the daemon died of SIGKILL');
      const created = answers.filter((a): a is Reply => !(a instanceof Error) && a.status === 201).map((a) => parseJson<{ Id: string }>(a).Id);
      const failed = answers.filter((a) => a instanceof Error || a.status !== 201).length;
      assert.ok(created.length >= nth - 1 && created.length < 50 && failed > 0, `killed in the middle: ${created.length} created, ${failed} cut off`);
      console.log(`# ${hostName}: SIGKILL at "${point}" #${nth}${within ? ` + ${delay.toFixed(0)} ms` : ''}: ${created.length} created, ${failed} cut off; before the restart: ${JSON.stringify(await leftovers(k))}`);

      d2 = await startDaemon(k);
      const repairLog = d2.proc.stderr().split('\n').filter((l) => l.includes('repair:'));
      console.log(`# ${hostName}: the new daemon's repair at start: ${JSON.stringify(repairLog)}`);

      const c = await k.berth(['system', 'check']);
      assert.equal(c.code, 0, `berth system check after the restart: exit ${c.code}\n${c.stdout}${c.stderr}`);
      assert.equal(c.stdout, 'the kernel matches the store\n');
      assert.deepEqual(await leftovers(k), [], 'no address, endpoint, port, berth-marked link, netns mount or process without a running container');

      // what the API said it created runs, and no address is handed out twice
      const running = parseJson<{ Id: string }[]>(await api(d2.sock, 'GET', '/containers/json')).map((x) => x.Id);
      for (const id of created) assert.ok(running.includes(id), `container ${id.slice(0, 12)} (201 Created before the kill) is running`);
      const more = await api(d2.sock, 'POST', '/containers/create?name=kafter', { Cmd: ['sleep', '600'], HostConfig: { NetworkMode: 'kn' } });
      assert.equal(more.status, 201, `the new daemon creates containers: ${more.text}`);
      const addresses = readStore(k).endpoints.flatMap((e) => e.addresses);
      assert.equal(new Set(addresses).size, addresses.length, `no address is held twice: ${addresses.join(' ')}`);
    } finally {
      if (d.proc.running) d.proc.signal('SIGKILL');
      await stopDaemon(d2);
    }
  }

  void test('SIGKILL the daemon while it attaches an endpoint (50 creations in flight), start a new one: clean, nothing held by the dead, nothing left over', T, async () => {
    // "run: netns" -> "run: endpoint" is the endpoint's attach: reserve the address and port, veth, nft elements
    await killMidAttach('k1', '10.33.0.0/24', 'run: netns', 9, { next: 'run: endpoint', fraction: 0.5 });
  });

  void test('SIGKILL the daemon between an attach and the process start (50 creations in flight), start a new one: clean, nothing held by the dead, nothing left over', T, async () => {
    await killMidAttach('k2', '10.34.0.0/24', 'run: endpoint', 9);
  });

  void test('after all that, the first host holds nothing that no running container or known network accounts for', T, async () => {
    assert.deepEqual(await leftovers(h), []);
  });
});
