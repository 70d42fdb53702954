// End to end, the seed's NAT-free bridge (issue 4): `network create -o parent=eth1` enslaves the
// host's LAN NIC to the network's bridge and moves its addresses and routes onto the bridge; the
// host keeps its address and reachability; containers get LAN addresses (from --ip-range) and a
// LAN peer reaches them directly, by their own addresses and MACs, with no NAT either way; and
// `network rm` gives eth1 back exactly as it was (link, addresses, routes of both families,
// compared field by field). The lab: host h whose eth1 (192.168.50.10/24, fd50::10/64, MTU 1450)
// is a veth to a LAN switch where `lan` (192.168.50.1, fd50::1) is the router to 198.51.100.0/24
// and 2001:db8:50::/48 (addresses on its lo). One lab for the file.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, type External, type Host, type IpRoute, Lab, addrs, link, links, neighs, routes } from '../lab/index.js';
import {
  type NetInspect,
  assertFails,
  berthTable,
  ctrInspect,
  defaultRoutes,
  netInspect,
  nodeServer,
  sleep,
  sandboxView,
  snapshot,
  startServer,
  tcpFrom,
  tcpFromCtr,
} from './networks-helpers.js';

const T = { timeout: 120_000 };

const H_LAN = '192.168.50.10';
const ROUTER = '192.168.50.1';
const H_LAN6 = 'fd50::10';
const ROUTER6 = 'fd50::1';
const FAR4 = '198.51.100.1';
const FAR6 = '2001:db8:50::1';

interface NicState {
  link: Record<string, unknown>;
  addrs: Record<string, unknown>[];
  routes4: IpRoute[];
  routes6: IpRoute[];
}

/** eth1 as the kernel has it, and every route of the host (all tables, both families). */
async function nicState(h: Host): Promise<NicState> {
  const [l, as, r4, r6] = await Promise.all([
    link(h, 'eth1'),
    addrs(h),
    routes(h, 4, { table: 'all' }),
    routes(h, 6, { table: 'all' }),
  ]);
  assert.ok(l, 'h has eth1');
  return {
    link: l,
    addrs: as.find((a) => a.ifname === 'eth1')?.addr_info ?? [],
    routes4: r4,
    routes6: r6,
  };
}

/** Compare two JSON values field by field, naming the first field that differs. */
function assertSameFields(actual: unknown, expected: unknown, path: string): void {
  if (typeof expected !== 'object' || expected === null || typeof actual !== 'object' || actual === null) {
    assert.deepEqual(actual, expected, `${path}: ${JSON.stringify(actual)} (was ${JSON.stringify(expected)})`);
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(Array.isArray(actual), `${path}: no longer a list`);
    assert.equal(actual.length, expected.length, `${path}: ${actual.length} entries, was ${expected.length}:\n${JSON.stringify(actual)}\nwas\n${JSON.stringify(expected)}`);
    expected.forEach((e, i) => assertSameFields(actual[i], e, `${path}[${i}]`));
    return;
  }
  const a = actual as Record<string, unknown>;
  const e = expected as Record<string, unknown>;
  for (const k of new Set([...Object.keys(e), ...Object.keys(a)])) assertSameFields(a[k], e[k], `${path}.${k}`);
}

const routeKey = (r: IpRoute): string => JSON.stringify(r);
const sortRoutes = (rs: IpRoute[]): IpRoute[] => [...rs].sort((x, y) => routeKey(x).localeCompare(routeKey(y)));

void describe('NAT-free bridge: -o parent=eth1', () => {
  let lab: Lab;
  let h: Host;
  let lan: External;
  let lanSrv: BackgroundProcess;
  let before0: NicState;
  let net: NetInspect;
  let bridge = '';

  before(async () => {
    lab = await Lab.create({ label: 'e2e networks natfree' });
    const sw = await lab.createSwitch('lan');
    h = await lab.createHost('h');
    lan = await lab.createExternal('lan');
    await sw.plug(lan, { ifname: 'eth0', address: [`${ROUTER}/24`, `${ROUTER6}/64`] });
    await sw.plug(h, { ifname: 'eth1', address: [`${H_LAN}/24`, `${H_LAN6}/64`], mtu: 1450 });
    // lan is the router to the networks beyond (their addresses on its lo)
    await lan.execOk(['ip', 'addr', 'add', `${FAR4}/32`, 'dev', 'lo']);
    await lan.execOk(['ip', 'addr', 'add', `${FAR6}/128`, 'dev', 'lo']);
    await h.execOk(['ip', 'route', 'add', '198.51.100.0/24', 'via', ROUTER, 'dev', 'eth1']);
    await h.execOk(['ip', 'route', 'add', 'default', 'via', ROUTER, 'dev', 'eth1', 'metric', '50']);
    await h.execOk(['ip', '-6', 'route', 'add', '2001:db8:50::/48', 'via', ROUTER6, 'dev', 'eth1']);
    lanSrv = await nodeServer(lan, [7000]);
    // berth's own start (the default bridge) happens first: what is compared is eth1's story
    await h.berthOk(['network', 'ls']);
    assert.equal(await h.ping(FAR4), true, 'the lab works: h reaches beyond the router');
    // link-local addresses (eth1's, berth0's) finish duplicate address detection first: a
    // tentative address has no local route yet, and would show up as a difference later
    for (let i = 0; ; i++) {
      const tentative = (await addrs(h)).flatMap((a) => a.addr_info.filter((x) => x.tentative).map((x) => `${a.ifname} ${x.local}`));
      if (tentative.length === 0) break;
      assert.ok(i < 100, `addresses still tentative after 10 s: ${tentative.join(', ')}`);
      await sleep(100);
    }
    before0 = await nicState(h);
  });
  after(async () => {
    await lab?.close();
  });

  void test('create moves eth1 under the bridge with its addresses and routes; the host keeps its reachability', T, async () => {
    const id = (
      await h.berthOk([
        'network', 'create', '-o', 'parent=eth1', '--subnet', '192.168.50.0/24', '--gateway', ROUTER, '--ip-range', '192.168.50.128/25', 'lan0',
      ])
    ).stdout.trim();
    net = await netInspect(h, 'lan0');
    assert.equal(net.Id, id);
    assert.deepEqual(net.IPAM.Config, [{ Subnet: '192.168.50.0/24', Gateway: ROUTER, IPRange: '192.168.50.128/25' }]);
    assert.equal(net.Options.parent, 'eth1');
    bridge = net.Options['com.docker.network.bridge.name'] ?? '';
    assert.equal(bridge, `br-${id.slice(0, 12)}`);

    const ls = await links(h);
    const nic = ls.find((l) => l.ifname === 'eth1');
    const br = ls.find((l) => l.ifname === bridge);
    assert.ok(nic && br, 'eth1 and the bridge');
    assert.equal(nic.master, bridge, 'eth1 is a port of the bridge');
    assert.equal(br.address, before0.link.address, "the bridge has eth1's MAC: the LAN's ARP caches stay right");
    assert.equal(br.mtu, 1450, "and eth1's MTU");
    const globals = async (ifname: string) =>
      ((await addrs(h)).find((a) => a.ifname === ifname)?.addr_info ?? []).filter((a) => a.scope === 'global').map((a) => `${a.local}/${a.prefixlen}`).sort();
    assert.deepEqual(await globals(bridge), [`${H_LAN}/24`, `${H_LAN6}/64`], "eth1's addresses, now on the bridge");
    assert.deepEqual(await globals('eth1'), [], 'eth1 keeps none');
    const r4 = await routes(h, 4);
    const r6 = await routes(h, 6);
    assert.ok(r4.some((r) => r.dst === '198.51.100.0/24' && r.gateway === ROUTER && r.dev === bridge), JSON.stringify(r4));
    assert.ok(r4.some((r) => r.dst === 'default' && r.gateway === ROUTER && r.dev === bridge && r.metric === 50), JSON.stringify(r4));
    assert.ok(r6.some((r) => r.dst === '2001:db8:50::/48' && r.gateway === ROUTER6 && r.dev === bridge), JSON.stringify(r6));
    assert.ok(![...r4, ...r6].some((r) => r.dev === 'eth1' && !r.dst.startsWith('fe80')), 'no route left on eth1');

    // the host's reachability, both ways, both families
    assert.equal(await h.ping(ROUTER), true, 'h pings the router');
    assert.equal(await h.ping(FAR4), true, 'h reaches 198.51.100.1 through its route');
    assert.equal(await h.ping(ROUTER6), true, 'h pings the router over IPv6');
    assert.equal(await h.ping(FAR6), true, 'h reaches 2001:db8:50::1 through its route');
    assert.equal(await lan.ping(H_LAN), true, 'the LAN reaches h at its address');
    assert.equal(await lan.ping(H_LAN6), true, 'and at its IPv6 address');
    const t = await tcpFrom(h, FAR4, 7000);
    assert.ok(t.ok && t.peer === H_LAN, `h -> ${FAR4}:7000 from its own address: ${t.output}`);

    // a second network cannot take eth1 again; nothing changes
    const snap = await snapshot(h);
    assertFails(await h.berth(['network', 'create', '-o', 'parent=eth1', '--subnet', '192.168.60.0/24', '--gateway', '192.168.60.1', 'lan1']), 1, 'eth1');
    assert.deepEqual(await snapshot(h), snap);
  });

  void test('a container gets a LAN address from the ip-range; the LAN reaches it directly, with its own MAC, and nothing is NATed', T, async () => {
    assert.ok(bridge, 'needs the network of the previous test');
    await startServer(h, 'c1', ['--network', 'lan0'], [80]);
    await startServer(h, 'c2', ['--network', 'lan0'], [80]);
    const ep = (await ctrInspect(h, 'c1')).NetworkSettings.Networks.lan0;
    assert.ok(ep);
    const ip = ep.IPAddress;
    const last = Number(ip.split('.')[3]);
    assert.ok(ip.startsWith('192.168.50.') && last >= 128 && last <= 254, `${ip} is in 192.168.50.128/25`);
    assert.equal(ep.IPPrefixLen, 24);
    assert.equal(ep.Gateway, ROUTER);
    const view = await sandboxView(h, 'c1');
    assert.deepEqual(view.addrs.eth0, [`${ip}/24`]);
    assert.equal(view.links.eth0?.mac, ep.MacAddress);
    assert.deepEqual(await defaultRoutes(h, 'c1', 4), [`via ${ROUTER} dev eth0`], "the LAN's router is the container's gateway");
    assert.deepEqual(await sandboxView(h, 'c1').then((v) => Object.keys(v.links).sort()), ['eth0', 'lo']);

    // the LAN peer reaches the container at its own address, and sees its own MAC
    assert.equal(await lan.ping(ip, { count: 2 }), true, `lan pings ${ip}`);
    const n = (await neighs(lan, 4)).find((x) => x.dst === ip);
    assert.ok(n, `lan has a neighbour entry for ${ip}`);
    assert.equal(n.lladdr, ep.MacAddress, "lan's neighbour table holds the container's own MAC");
    assert.notEqual(n.lladdr, before0.link.address, "not the host's");
    const inbound = await tcpFrom(lan, ip, 80);
    assert.ok(inbound.ok, `lan -> ${ip}:80: ${inbound.output}`);
    assert.equal(inbound.peer, ROUTER, 'the container sees the LAN peer itself');
    assert.equal(inbound.local, ip);

    // and the container's traffic keeps its address: on the LAN, and routed beyond it
    const mark = lanSrv.stdout().length;
    const out = await tcpFromCtr(h, 'c1', ROUTER, 7000);
    assert.ok(out.ok, `c1 -> lan:7000: ${out.output}`);
    assert.equal(out.peer, ip, 'not masqueraded');
    const far = await tcpFromCtr(h, 'c1', FAR4, 7000);
    assert.ok(far.ok, `c1 -> ${FAR4}:7000 via the LAN router: ${far.output}`);
    assert.equal(far.peer, ip);
    assert.ok(!lanSrv.stdout().slice(mark).includes(`peer=${H_LAN} `), 'lan never saw the host address');
    const nat4 = (await berthTable(h)).elements.nat4 ?? [];
    assert.ok(!nat4.some((e) => e.includes('192.168.50')), `no masquerade for the LAN subnet: ${JSON.stringify(nat4)}`);

    // the host and the other container reach it too
    assert.equal(await h.ping(ip), true, 'h pings c1');
    const c2ip = (await ctrInspect(h, 'c2')).NetworkSettings.Networks.lan0?.IPAddress;
    const peer = await tcpFromCtr(h, 'c2', ip, 80);
    assert.ok(peer.ok && peer.peer === c2ip, `c2 -> c1: ${peer.output}`);
  });

  void test('network rm is refused while containers are attached, then gives eth1 back exactly as it was', T, async () => {
    assert.ok(bridge, 'needs the network of the first test');
    const snap = await snapshot(h);
    assertFails(await h.berth(['network', 'rm', 'lan0']), 1, 'c1', 'c2');
    assert.deepEqual(await snapshot(h), snap, 'the refused rm changed nothing');
    assert.equal(await lan.ping(H_LAN), true);

    await h.berthOk(['rm', '-f', 'c1', 'c2']);
    assert.equal((await h.berthOk(['network', 'rm', 'lan0'])).stdout.trim(), 'lan0');
    assert.ok(!(await links(h)).some((l) => l.ifname === bridge), 'the bridge is gone');

    const after0 = await nicState(h);
    assertSameFields(after0.link, before0.link, 'eth1');
    assertSameFields(after0.addrs, before0.addrs, 'eth1.addr_info');
    assertSameFields(sortRoutes(after0.routes4), sortRoutes(before0.routes4), 'ipv4 routes');
    assertSameFields(sortRoutes(after0.routes6), sortRoutes(before0.routes6), 'ipv6 routes');

    // and it works as before
    assert.equal(await h.ping(FAR4), true, 'h reaches 198.51.100.1 again through eth1');
    assert.equal(await h.ping(FAR6), true);
    assert.equal(await lan.ping(H_LAN), true, 'the LAN reaches h');
    assert.ok(!(await berthTable(h)).elements.bridges?.some((e) => e.includes(bridge)), 'the bridge left the firewall');
  });

  void test("the round trip keeps what eth1's routes say: protocol, preferred source, routes in other tables", T, async () => {
    // A host's routes are rarely all plain `via` routes: a DHCP client or an admin marks its
    // own (proto dhcp, static), a route may pin its source address, and policy routing keeps
    // routes in tables other than main. Moved onto the bridge and back, they must stay what
    // they were (and not vanish when eth1's address leaves it).
    await h.execOk(['ip', 'route', 'add', '203.0.113.0/24', 'via', ROUTER, 'dev', 'eth1', 'proto', 'static', 'src', H_LAN, 'metric', '20']);
    await h.execOk(['ip', 'route', 'add', '192.0.2.0/24', 'via', ROUTER, 'dev', 'eth1', 'table', '100']);
    await h.execOk(['ip', '-6', 'route', 'add', '2001:db8:60::/48', 'via', ROUTER6, 'dev', 'eth1', 'proto', 'static']);
    const snap = await nicState(h);
    await h.berthOk(['network', 'create', '-o', 'parent=eth1', '--subnet', '192.168.50.0/24', '--gateway', ROUTER, 'lan2']);
    const br = (await netInspect(h, 'lan2')).Options['com.docker.network.bridge.name'];
    assert.ok(br);
    const problems: string[] = [];
    const during = [...(await routes(h, 4, { table: 'all' })), ...(await routes(h, 6, { table: 'all' }))];
    const find = (dst: string, table?: string) => during.find((r) => r.dst === dst && (r.table ?? 'main') === (table ?? 'main'));
    const want = (what: string, r: IpRoute | undefined, ok: (r: IpRoute) => boolean) => {
      if (!r || !ok(r)) problems.push(`on the bridge: ${what}; got ${JSON.stringify(r) ?? 'no such route'}`);
    };
    want(`203.0.113.0/24 via ${ROUTER} dev ${br} proto static src ${H_LAN} metric 20`, find('203.0.113.0/24'), (r) =>
      r.dev === br && r.gateway === ROUTER && r.protocol === 'static' && r.prefsrc === H_LAN && r.metric === 20);
    want(`192.0.2.0/24 via ${ROUTER} dev ${br} table 100`, find('192.0.2.0/24', '100'), (r) => r.dev === br && r.gateway === ROUTER);
    want(`2001:db8:60::/48 via ${ROUTER6} dev ${br} proto static`, find('2001:db8:60::/48'), (r) => r.dev === br && r.protocol === 'static');
    await h.berthOk(['network', 'rm', 'lan2']);
    const after0 = await nicState(h);
    for (const [fam, was, now] of [
      ['IPv4', snap.routes4, after0.routes4],
      ['IPv6', snap.routes6, after0.routes6],
    ] as const) {
      const a = new Set(now.map(routeKey));
      const b = new Set(was.map(routeKey));
      for (const r of b) if (!a.has(r)) problems.push(`after rm, ${fam} route missing: ${r}`);
      for (const r of a) if (!b.has(r)) problems.push(`after rm, ${fam} route not there before: ${r}`);
    }
    assert.deepEqual(problems, []);
  });
});
