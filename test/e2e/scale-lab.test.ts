// The scale lab itself (issue 17), small in the suite (4 hosts, 40 containers; BERTH_SCALE_HOSTS
// and BERTH_SCALE_CONTAINERS for more): every host holds exactly the static FDB and neighbour
// entries of every other host's endpoints, containers on different hosts reach each other over a
// plain and an encrypted network, a host added later gets every entry and is reachable, and
// closing the lab leaves no namespace, process or directory behind.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { type Host, fdb, neighs } from '../lab/index.js';
import { suiteNetnsNames } from '../lab/names.js';
import { type ScaleLab, buildScaleLab, scaleSizeFromEnv } from './scale-lab.js';
import { until } from './overlay-helpers.js';

const SIZE = scaleSizeFromEnv({ hosts: 4, containers: 40 });

/** Endpoint addresses (IPv4) of every container, by container name, from each host's inspect. */
async function addressesByName(s: ScaleLab): Promise<Map<string, { ip: string; mac: string }>> {
  const out = new Map<string, { ip: string; mac: string }>();
  for (const [i] of s.hosts.entries()) {
    const names = s.containers.filter((c) => c.host === i).map((c) => c.name);
    if (!names.length) continue;
    const r = await s.cli(i, ['inspect', ...names], { check: true });
    for (const c of JSON.parse(r.stdout) as { Name: string; NetworkSettings: { Networks: Record<string, { IPAddress: string; MacAddress: string }> } }[]) {
      const ep = Object.values(c.NetworkSettings.Networks)[0];
      if (ep) out.set(c.Name.replace(/^\//, ''), { ip: ep.IPAddress, mac: ep.MacAddress });
    }
  }
  return out;
}

/** berth's static entries on h: "mac dst" of FDB entries on vx-* devices and "ip mac" of permanent neighbours. */
async function entriesOf(h: Host): Promise<{ fdb: Set<string>; neigh: Set<string> }> {
  const f = (await fdb(h)).filter((e) => e.ifname.startsWith('vx-') && e.dst !== undefined).map((e) => e.mac);
  const n = (await neighs(h, 4)).filter((e) => e.dev.startsWith('vx-') && (e.state ?? []).includes('PERMANENT')).map((e) => `${e.dst} ${e.lladdr ?? ''}`);
  return { fdb: new Set(f), neigh: new Set(n) };
}

void describe(`scale lab: ${SIZE.hosts} hosts, ${SIZE.containers} containers, 5 overlay networks (2 encrypted)`, () => {
  let s: ScaleLab;
  let addrs: Map<string, { ip: string; mac: string }>;

  before(async () => {
    s = await buildScaleLab({ ...SIZE, label: 'e2e scale lab', log: (l) => console.log(`# ${l}`) });
    addrs = await addressesByName(s);
  });
  after(async () => {
    await s?.close();
  });

  void test('every host holds exactly the other hosts\' endpoints as static FDB and neighbour entries', { timeout: 120_000 }, async () => {
    assert.equal(addrs.size, s.containers.length, 'every container has an overlay address');
    for (const [i, h] of s.hosts.entries()) {
      const remote = s.containers.filter((c) => c.host !== i).map((c) => addrs.get(c.name) as { ip: string; mac: string });
      const want = { fdb: new Set(remote.map((r) => r.mac)), neigh: new Set(remote.map((r) => `${r.ip} ${r.mac}`)) };
      let gap = '';
      await until(`${h.name} programs ${remote.length} remote endpoints`, async () => {
        const got = await entriesOf(h);
        gap = `missing FDB ${[...want.fdb].filter((m) => !got.fdb.has(m)).join(' ')}; extra FDB ${[...got.fdb].filter((m) => !want.fdb.has(m)).join(' ')}; missing neighbours ${[...want.neigh].filter((n) => !got.neigh.has(n)).join(', ')}`;
        return got.fdb.size === want.fdb.size && [...want.fdb].every((m) => got.fdb.has(m)) && [...want.neigh].every((n) => got.neigh.has(n));
      }, 30_000).catch((err: unknown) => assert.fail(`${String(err)}: ${gap}\n${s.daemons[i]?.proc.stderr().split('\n').filter((l) => !/keepalive/.test(l)).slice(-40).join('\n')}`));
    }
  });

  void test('containers reach each other across hosts on a plain and on an encrypted network', { timeout: 120_000 }, async () => {
    for (const net of [s.networks[0], s.networks.find((n) => n.encrypted)]) {
      assert.ok(net);
      const onNet = s.containers.filter((c) => c.network === net.name);
      const a = onNet.find((c) => c.host === 0);
      const b = onNet.find((c) => c.host === s.hosts.length - 1);
      assert.ok(a && b, `${net.name} has containers on the first and the last host`);
      const r = await s.cli(0, ['exec', a.name, '--', 'ping', '-c', '1', '-W', '2', (addrs.get(b.name) as { ip: string }).ip]);
      assert.equal(r.code, 0, `${a.name} → ${b.name} on ${net.name}: ${r.stdout}${r.stderr}`);
    }
  });

  void test('a host added later gets every entry and its container is reachable from the first host', { timeout: 120_000 }, async () => {
    const { host, index } = await s.addHost();
    await until(`${host.name} programs every endpoint`, async () => (await entriesOf(host)).fdb.size === s.containers.length, 30_000);
    const net = s.networks[0];
    assert.ok(net);
    await s.cli(index, ['run', '-d', '--name', 'late', '--network', net.name, '--', 'sleep', 'infinity'], { check: true });
    const [late] = JSON.parse((await s.cli(index, ['inspect', 'late'], { check: true })).stdout) as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }[];
    const ip = Object.values(late?.NetworkSettings.Networks ?? {})[0]?.IPAddress;
    assert.ok(ip);
    const from = s.containers.find((c) => c.host === 0 && c.network === net.name);
    assert.ok(from);
    await until(`${from.name} reaches late (${ip})`, async () => (await s.cli(0, ['exec', from.name, '--', 'ping', '-c', '1', '-W', '1', ip])).code === 0, 15_000);
  });

  void test('closing the lab leaves nothing behind', { timeout: 120_000 }, async () => {
    const { tag, dir } = s.lab;
    await s.close();
    assert.deepEqual((await suiteNetnsNames()).filter((n) => n.startsWith(`bt${tag}-`)), []);
    assert.equal(existsSync(dir), false, `${dir} removed`);
  });
});
