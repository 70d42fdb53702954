// End to end, dual-stack user-defined networks (issue 4): `--ipv6 --subnet fd00:41::/64` (with an
// IPv4 subnet picked from the pools) and `--ipv6` alone (a ULA /64 picked); containers get both
// addresses (berth's inspect and the kernel agree), ping6 and TCP over IPv6 between containers,
// an IPv6 default route through the gateway, IPv6 egress, an IPv6 published port reached from
// another host at h's IPv6 address with the client's real address seen, and isolation between
// networks over IPv6 as over IPv4. One lab for the file: h (10.200.0.1, fd99::1) and ext
// (10.200.0.2, fd99::2) on one switch.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess } from '../lab/index.js';
import {
  BLOCKED_MS,
  EXT4,
  EXT6,
  H4,
  H6,
  type NetInspect,
  type NetLab,
  ctrInspect,
  defaultRoutes,
  netInspect,
  netLab,
  nodeServer,
  pingFromCtr,
  sandboxView,
  startServer,
  tcpFrom,
  tcpFromCtr,
} from './networks-helpers.js';

const T = { timeout: 120_000 };

/** Does IPv6 address a fall in prefix p/64 (both as berth and the kernel print them)? */
function inV6Subnet(a: string, subnet: string): boolean {
  const expand = (x: string): number[] => {
    const [head = '', tail = ''] = x.split('::');
    const h = head ? head.split(':') : [];
    const t = tail ? tail.split(':') : [];
    const mid = x.includes('::') ? Array<string>(8 - h.length - t.length).fill('0') : [];
    return [...h, ...mid, ...t].map((g) => parseInt(g, 16));
  };
  const [net = '', len = '128'] = subnet.split('/');
  const bits = Number(len);
  const aa = expand(a.split('/')[0] ?? '');
  const nn = expand(net);
  for (let i = 0; i < 8; i++) {
    const keep = Math.max(0, Math.min(16, bits - i * 16));
    const mask = keep === 0 ? 0 : (0xffff << (16 - keep)) & 0xffff;
    if (((aa[i] ?? 0) & mask) !== ((nn[i] ?? 0) & mask)) return false;
  }
  return true;
}

function inV4Subnet(a: string, subnet: string): boolean {
  const n = (x: string) => x.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
  const [net = '', len = '32'] = subnet.split('/');
  const size = 2 ** (32 - Number(len));
  return Math.floor(n(a.split('/')[0] ?? '') / size) === Math.floor(n(net) / size);
}

void describe('dual-stack networks', () => {
  let L: NetLab;
  let extSrv: BackgroundProcess;
  let v6a: NetInspect;
  let v6auto: NetInspect;
  /** container -> { 4: IPv4, 6: IPv6 } as inspect reports them */
  const ip: Record<string, { 4: string; 6: string }> = {};

  before(async () => {
    L = await netLab('e2e networks dualstack');
    const { h, ext } = L;
    await h.berthOk(['network', 'create', '--ipv6', '--subnet', 'fd00:41::/64', 'v6a']);
    await h.berthOk(['network', 'create', '--ipv6', 'v6auto']);
    await Promise.all([
      startServer(h, 's6', ['--network', 'v6a', '-p', '8080:80'], [80]),
      startServer(h, 'c6', ['--network', 'v6a'], [80]),
      startServer(h, 'sv6only', ['--network', 'v6a', '-p', `[${H6}]:8082:80`], [80]),
      startServer(h, 'd1', ['--network', 'v6auto'], [80]),
      startServer(h, 'd2', ['--network', 'v6auto'], [80]),
    ]);
    v6a = await netInspect(h, 'v6a');
    v6auto = await netInspect(h, 'v6auto');
    for (const n of [v6a, v6auto]) {
      for (const c of Object.values(n.Containers)) ip[c.Name] = { 4: c.IPv4Address.split('/')[0] ?? '', 6: c.IPv6Address.split('/')[0] ?? '' };
    }
    extSrv = await nodeServer(ext, [7000]);
  });
  after(async () => {
    await L?.lab.close();
  });

  const A = (n: string, f: 4 | 6): string => {
    const a = ip[n]?.[f];
    assert.ok(a, `IPv${f} address of ${n}`);
    return a;
  };

  void test('--ipv6 --subnet fd00:41::/64: inspect shows both subnets and both addresses of every container, as the kernel has them', T, async () => {
    const { h } = L;
    assert.equal(v6a.EnableIPv6, true);
    const cfg = v6a.IPAM.Config;
    assert.equal(cfg.length, 2, JSON.stringify(cfg));
    const c4 = cfg.find((c) => !c.Subnet.includes(':'));
    const c6 = cfg.find((c) => c.Subnet.includes(':'));
    assert.ok(c4 && c6, JSON.stringify(cfg));
    assert.match(c4.Subnet, /^\d+\.\d+\.\d+\.\d+\/\d+$/, 'an IPv4 subnet is picked from the pools');
    assert.equal(c6.Subnet, 'fd00:41::/64');
    assert.equal(c6.Gateway, 'fd00:41::1');
    assert.deepEqual(Object.values(v6a.Containers).map((c) => c.Name).sort(), ['c6', 's6', 'sv6only']);
    for (const c of Object.values(v6a.Containers)) {
      assert.ok(inV4Subnet(c.IPv4Address, c4.Subnet), `${c.Name}: ${c.IPv4Address} in ${c4.Subnet}`);
      assert.match(c.IPv4Address, new RegExp(`/${c4.Subnet.split('/')[1]}$`));
      assert.ok(inV6Subnet(c.IPv6Address, 'fd00:41::/64'), `${c.Name}: ${c.IPv6Address} in fd00:41::/64`);
      assert.match(c.IPv6Address, /\/64$/);
      assert.notEqual(c.IPv6Address, 'fd00:41::1/64', 'not the gateway');
    }
    for (const name of ['s6', 'c6']) {
      const i = await ctrInspect(h, name);
      const ep = i.NetworkSettings.Networks.v6a;
      assert.ok(ep);
      assert.equal(ep.IPAddress, A(name, 4));
      assert.equal(ep.GlobalIPv6Address, A(name, 6));
      assert.equal(ep.GlobalIPv6PrefixLen, 64);
      const view = await sandboxView(h, name);
      assert.deepEqual(view.addrs.eth0, [`${A(name, 4)}/${c4.Subnet.split('/')[1]}`, `${A(name, 6)}/64`].sort(), `${name}'s eth0 in its namespace`);
    }
    // the bridge holds both gateways
    const br = v6a.Options['com.docker.network.bridge.name'];
    assert.ok(br);
    const onBridge = (await h.exec(['ip', '-o', 'addr', 'show', 'dev', br])).stdout;
    assert.match(onBridge, new RegExp(`inet ${(c4.Gateway ?? '').replace(/\./g, '\\.')}/`));
    assert.match(onBridge, /inet6 fd00:41::1\/64/);
  });

  void test('--ipv6 alone: a ULA /64 is picked, and containers get addresses in it', T, async () => {
    assert.equal(v6auto.EnableIPv6, true);
    const c6 = v6auto.IPAM.Config.find((c) => c.Subnet.includes(':'));
    const c4 = v6auto.IPAM.Config.find((c) => !c.Subnet.includes(':'));
    assert.ok(c6 && c4, JSON.stringify(v6auto.IPAM.Config));
    assert.match(c6.Subnet, /^fd[0-9a-f]{2}:[0-9a-f:]+\/64$/, `a unique-local /64 (fd00::/8): ${c6.Subnet}`);
    assert.ok(!inV6Subnet(c6.Subnet.split('/')[0] ?? '', 'fd00:41::/64'), 'not the other network’s');
    assert.ok(c6.Gateway && inV6Subnet(c6.Gateway, c6.Subnet), `gateway ${c6.Gateway} in ${c6.Subnet}`);
    assert.notEqual(c4.Subnet, v6a.IPAM.Config.find((c) => !c.Subnet.includes(':'))?.Subnet, 'each network its own IPv4 pool');
    for (const n of ['d1', 'd2']) assert.ok(inV6Subnet(A(n, 6), c6.Subnet), `${n}: ${A(n, 6)} in ${c6.Subnet}`);
  });

  void test('ping6 and TCP over IPv6 between containers of one network', T, async () => {
    const { h } = L;
    assert.equal(await pingFromCtr(h, 'c6', A('s6', 6), { count: 2 }), true, 'c6 pings s6 over IPv6');
    assert.equal(await pingFromCtr(h, 's6', A('c6', 6)), true, 's6 pings c6 over IPv6');
    assert.equal(await pingFromCtr(h, 'd2', A('d1', 6), { count: 2 }), true, 'd2 pings d1 over IPv6 (auto ULA)');
    const t = await tcpFromCtr(h, 'c6', A('s6', 6), 80);
    assert.ok(t.ok, `c6 -> [s6]:80: ${t.output}`);
    assert.equal(t.peer, A('c6', 6), 's6 sees c6’s own IPv6 address');
    assert.equal(t.local, A('s6', 6));
    const t4 = await tcpFromCtr(h, 'c6', A('s6', 4), 80);
    assert.ok(t4.ok && t4.peer === A('c6', 4), `and over IPv4: ${t4.output}`);
    const d = await tcpFromCtr(h, 'd1', A('d2', 6), 80);
    assert.ok(d.ok && d.peer === A('d1', 6), `d1 -> [d2]:80: ${d.output}`);
  });

  void test('one IPv6 default route, via the gateway; IPv6 egress reaches another host', T, async () => {
    const { h } = L;
    assert.deepEqual(await defaultRoutes(h, 'c6', 6), ['via fd00:41::1 dev eth0']);
    assert.equal((await defaultRoutes(h, 'c6', 4)).length, 1, 'and one IPv4 default route');
    const auto = v6auto.IPAM.Config.find((c) => c.Subnet.includes(':'));
    assert.deepEqual(await defaultRoutes(h, 'd1', 6), [`via ${auto?.Gateway} dev eth0`]);
    assert.equal(await pingFromCtr(h, 'c6', EXT6), true, 'c6 pings ext over IPv6');
    const t = await tcpFromCtr(h, 'c6', EXT6, 7000);
    assert.ok(t.ok, `c6 -> [${EXT6}]:7000: ${t.output}`);
    assert.equal(t.peer, H6, 'masqueraded, as over IPv4: ext (with no route to fd00:41::/64) sees h');
    assert.ok(extSrv.stdout().includes(`peer=${H6} `));
  });

  void test("an IPv6 published port: ext reaches [fd99::1]:8080 and the container sees ext's real IPv6 address", T, async () => {
    const { h, ext } = L;
    const ports = (await h.berthOk(['port', 's6'])).stdout.trim().split('\n').sort();
    assert.deepEqual(ports, ['80/tcp -> 0.0.0.0:8080', '80/tcp -> [::]:8080']);
    const t = await tcpFrom(ext, H6, 8080);
    assert.ok(t.ok, `ext -> [${H6}]:8080: ${t.output}`);
    assert.equal(t.peer, EXT6, 'no proxy, no SNAT: the real client address');
    assert.equal(t.local, A('s6', 6), 'delivered to the container’s IPv6 address');
    assert.equal(t.port, 80);
    const t4 = await tcpFrom(ext, H4, 8080);
    assert.ok(t4.ok, `ext -> ${H4}:8080: ${t4.output}`);
    assert.equal(t4.peer, EXT4);
    assert.equal(t4.local, A('s6', 4));
    // published on h's IPv6 address only
    assert.deepEqual((await h.berthOk(['port', 'sv6only'])).stdout.trim(), `80/tcp -> [${H6}]:8082`);
    const only6 = await tcpFrom(ext, H6, 8082);
    assert.ok(only6.ok && only6.peer === EXT6 && only6.local === A('sv6only', 6), `ext -> [${H6}]:8082: ${only6.output}`);
    const not4 = await tcpFrom(ext, H4, 8082, BLOCKED_MS);
    assert.equal(not4.ok, false, `ext -> ${H4}:8082 must fail (published on ${H6} only): ${not4.output}`);
  });

  void test('IPv6: outsiders do not reach container addresses, and networks are isolated', T, async () => {
    const { h, ext } = L;
    await ext.execOk(['ip', '-6', 'route', 'replace', 'fd00:41::/64', 'via', H6]);
    const [p, t, x1, x2] = await Promise.all([
      ext.ping(A('s6', 6), { timeout: 1 }),
      tcpFrom(ext, A('s6', 6), 80, BLOCKED_MS),
      pingFromCtr(h, 'c6', A('d1', 6), { deadline: 1 }),
      tcpFromCtr(h, 'd1', A('s6', 6), 80, BLOCKED_MS),
    ]);
    assert.equal(p, false, 'ext must not ping s6 at its IPv6 address, even with a route');
    assert.equal(t.ok, false, `ext -> [s6]:80 must fail: ${t.output}`);
    assert.equal(x1, false, 'c6 (v6a) must not ping d1 (v6auto) over IPv6');
    assert.equal(x2.ok, false, `d1 (v6auto) -> [s6]:80 (v6a) must fail: ${x2.output}`);
  });
});
