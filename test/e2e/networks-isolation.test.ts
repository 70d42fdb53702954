// End to end, isolation between user-defined bridge networks (issue 4), as a reachability matrix
// with real packets (ping and TCP) on one host h, with an external peer ext on its segment that
// has a route to every container subnet via h (so only berth's firewall decides what it reaches):
// same network ok; different networks blocked both ways; nat (the default) keeps outsiders out
// but publishes ports on the host address; --internal has no way out and nothing comes in;
// enable_icc=false separates the containers of one network but not from their gateway; routed
// reaches published ports at the container's own address without NAT, and nothing else;
// nat-unprotected lets anything reach container addresses; a port published on network B is
// reachable from a container on network A through the host's address. One lab for the file.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, sysctl, writeSysctl } from '../lab/index.js';
import {
  BLOCKED_MS,
  EXT4,
  H4,
  type NetInspect,
  type NetLab,
  inCtr,
  netLab,
  nodeServer,
  pingFromCtr,
  startServer,
  tcpFrom,
  tcpFromCtr,
} from './networks-helpers.js';

const T = { timeout: 120_000 };

const NETS: [name: string, subnet: string, extra: string[]][] = [
  ['neta', '10.31.1.0/24', []],
  ['netb', '10.31.2.0/24', []],
  ['inet', '10.31.3.0/24', ['--internal']],
  ['noicc', '10.31.4.0/24', ['-o', 'com.docker.network.bridge.enable_icc=false']],
  ['routed', '10.31.5.0/24', ['-o', 'com.docker.network.bridge.gateway_mode_ipv4=routed']],
  ['unprot', '10.31.6.0/24', ['-o', 'gateway_mode_ipv4=nat-unprotected']],
];

/** container -> [network, extra run args]; every one runs a TCP server on ports 80 and 81 */
const CTRS: [name: string, net: string, extra: string[]][] = [
  ['a1', 'neta', []],
  ['a2', 'neta', []],
  ['b1', 'netb', ['-p', '8080:80']],
  ['i1', 'inet', []],
  ['i2', 'inet', []],
  ['n1', 'noicc', []],
  ['n2', 'noicc', []],
  ['r1', 'routed', ['-p', '8081:80']],
  ['u1', 'unprot', ['-p', '8082:80']],
];

void describe('network isolation: a reachability matrix', () => {
  let L: NetLab;
  let extSrv: BackgroundProcess;
  /** container name -> its IPv4 address */
  const ip: Record<string, string> = {};

  before(async () => {
    L = await netLab('e2e networks isolation');
    const { h, ext } = L;
    for (const [name, subnet, extra] of NETS) await h.berthOk(['network', 'create', '--subnet', subnet, ...extra, name]);
    // several berth processes at once (DESIGN.md: reservations are store transactions)
    await Promise.all(CTRS.map(([name, net, extra]) => startServer(h, name, ['--network', net, ...extra], [80, 81])));
    for (const n of await h.berthJson<NetInspect[]>(['network', 'inspect', ...NETS.map(([name]) => name)])) {
      for (const c of Object.values(n.Containers)) ip[c.Name] = c.IPv4Address.split('/')[0] ?? '';
    }
    assert.deepEqual(Object.keys(ip).sort(), CTRS.map(([name]) => name).sort(), 'network inspect lists every container');
    // ext routes every container subnet via h: only berth's rules keep it out
    await ext.execOk(['ip', 'route', 'add', '10.31.0.0/16', 'via', H4]);
    extSrv = await nodeServer(ext, [7000]);
  });
  after(async () => {
    await L?.lab.close();
  });

  const A = (n: string): string => {
    const a = ip[n];
    assert.ok(a, `address of ${n}`);
    return a;
  };

  void test('containers on the same network reach each other, unNATed', T, async () => {
    const { h } = L;
    assert.equal(await pingFromCtr(h, 'a1', A('a2'), { count: 2 }), true, 'a1 pings a2');
    assert.equal(await pingFromCtr(h, 'a2', A('a1'), { count: 2 }), true, 'a2 pings a1');
    const t = await tcpFromCtr(h, 'a1', A('a2'), 81);
    assert.ok(t.ok, `a1 -> a2:81: ${t.output}`);
    assert.equal(t.peer, A('a1'), 'the peer sees the real address');
    const back = await tcpFromCtr(h, 'a2', A('a1'), 80);
    assert.ok(back.ok, `a2 -> a1:80: ${back.output}`);
  });

  void test('containers on different networks cannot reach each other, either way', T, async () => {
    const { h } = L;
    const [p1, p2, t1, t2] = await Promise.all([
      pingFromCtr(h, 'a1', A('b1'), { deadline: 1 }),
      pingFromCtr(h, 'b1', A('a1'), { deadline: 1 }),
      tcpFromCtr(h, 'a1', A('b1'), 80, BLOCKED_MS),
      tcpFromCtr(h, 'b1', A('a1'), 81, BLOCKED_MS),
    ]);
    assert.equal(p1, false, 'a1 (neta) must not ping b1 (netb)');
    assert.equal(p2, false, 'b1 (netb) must not ping a1 (neta)');
    assert.equal(t1.ok, false, `a1 -> b1:80 must fail: ${t1.output}`);
    assert.equal(t2.ok, false, `b1 -> a1:81 must fail: ${t2.output}`);
    // nor between any other pair of the matrix's networks
    const pairs: [string, string][] = [
      ['a1', 'n1'],
      ['n1', 'a1'],
      ['a1', 'r1'],
      ['r1', 'a1'],
      ['a1', 'u1'],
      ['u1', 'a1'],
      ['r1', 'u1'],
      ['u1', 'r1'],
    ];
    // (ICMP: a routed network accepts it from outside, but not from another network)
    const res = await Promise.all(pairs.map(([from, to]) => pingFromCtr(h, from, A(to), { deadline: 1 })));
    pairs.forEach(([from, to], i) => assert.equal(res[i], false, `${from} must not ping ${to}`));
    // the controls: both still have a way out, so the failures above are isolation
    assert.equal(await pingFromCtr(h, 'a1', EXT4), true, 'a1 reaches ext');
    assert.equal(await pingFromCtr(h, 'b1', EXT4), true, 'b1 reaches ext');
  });

  void test('nat (the default): outsiders cannot reach container addresses; published ports on the host address; egress masqueraded', T, async () => {
    const { h, ext } = L;
    const [p, direct, publishedDirect] = await Promise.all([
      ext.ping(A('a1'), { timeout: 1 }),
      tcpFrom(ext, A('a1'), 80, BLOCKED_MS),
      tcpFrom(ext, A('b1'), 80, BLOCKED_MS),
    ]);
    assert.equal(p, false, 'ext must not ping a1 even with a route to it');
    assert.equal(direct.ok, false, `ext -> a1:80 must fail: ${direct.output}`);
    assert.equal(publishedDirect.ok, false, `ext -> b1:80 (published, but at the container address) must fail: ${publishedDirect.output}`);
    const viaHost = await tcpFrom(ext, H4, 8080);
    assert.ok(viaHost.ok, `ext -> ${H4}:8080: ${viaHost.output}`);
    assert.equal(viaHost.local, A('b1'));
    assert.equal(viaHost.peer, EXT4, 'the container sees the client');
    const out = await tcpFromCtr(h, 'a1', EXT4, 7000);
    assert.ok(out.ok, `a1 -> ext:7000: ${out.output}`);
    assert.equal(out.peer, H4, 'masqueraded: ext sees the host address');
  });

  void test('--internal: containers on it reach each other', T, async () => {
    const { h } = L;
    assert.equal(await pingFromCtr(h, 'i1', A('i2')), true, 'i1 pings i2');
    const t = await tcpFromCtr(h, 'i2', A('i1'), 80);
    assert.ok(t.ok, `i2 -> i1:80: ${t.output}`);
    assert.equal(t.peer, A('i2'));
  });

  void test('--internal: no way out, nothing in', T, async () => {
    const { h, ext } = L;
    const before = extSrv.stdout();
    const [p, t, inPing, inTcp] = await Promise.all([
      pingFromCtr(h, 'i1', EXT4, { deadline: 1 }),
      tcpFromCtr(h, 'i1', EXT4, 7000, BLOCKED_MS),
      ext.ping(A('i1'), { timeout: 1 }),
      tcpFrom(ext, A('i1'), 80, BLOCKED_MS),
    ]);
    assert.equal(p, false, 'i1 must not ping ext');
    assert.equal(t.ok, false, `i1 -> ext:7000 must fail: ${t.output}`);
    assert.equal(inPing, false, 'ext must not ping i1');
    assert.equal(inTcp.ok, false, `ext -> i1:80 must fail: ${inTcp.output}`);
    // no default route is only half of it: with one added inside the container, still nothing
    // leaves (the firewall drops it; and had it left, no masquerade would have let it return)
    const routes = (await inCtr(h, 'i2', ['ip', '-4', 'route', 'show', 'default'])).stdout.trim();
    assert.equal(routes, '', 'an internal network gives no default route');
    await inCtr(h, 'i2', ['ip', 'route', 'add', 'default', 'via', '10.31.3.1']);
    const [p2, t2] = await Promise.all([pingFromCtr(h, 'i2', EXT4, { deadline: 1 }), tcpFromCtr(h, 'i2', EXT4, 7000, BLOCKED_MS)]);
    assert.equal(p2, false, 'i2 with a default route must not ping ext');
    assert.equal(t2.ok, false, `i2 with a default route -> ext:7000 must fail: ${t2.output}`);
    assert.equal(extSrv.stdout().slice(before.length), '', 'ext saw no connection from the internal network');
  });

  void test('--internal: no way out through a port published on the host either', T, async () => {
    // The gateway address on the internal bridge is a host address: a port published there on
    // another network's container must not become the internal network's way out.
    const { h } = L;
    const t = await tcpFromCtr(h, 'i1', '10.31.3.1', 8080, BLOCKED_MS);
    assert.equal(t.ok, false, `i1 -> 10.31.3.1:8080 (b1's published port, on netb) must fail: ${t.output}`);
    const t2 = await tcpFromCtr(h, 'i1', H4, 8080, BLOCKED_MS);
    assert.equal(t2.ok, false, `i1 -> ${H4}:8080 must fail: ${t2.output}`);
  });

  void test('enable_icc=false: containers of the network cannot reach each other, but reach their gateway and the outside', T, async () => {
    const { h } = L;
    const [p1, p2, t1, t2] = await Promise.all([
      pingFromCtr(h, 'n1', A('n2'), { deadline: 1 }),
      pingFromCtr(h, 'n2', A('n1'), { deadline: 1 }),
      tcpFromCtr(h, 'n1', A('n2'), 80, BLOCKED_MS),
      tcpFromCtr(h, 'n2', A('n1'), 81, BLOCKED_MS),
    ]);
    assert.equal(p1, false, 'n1 must not ping n2');
    assert.equal(p2, false, 'n2 must not ping n1');
    assert.equal(t1.ok, false, `n1 -> n2:80 must fail: ${t1.output}`);
    assert.equal(t2.ok, false, `n2 -> n1:81 must fail: ${t2.output}`);
    assert.equal(await pingFromCtr(h, 'n1', '10.31.4.1'), true, 'n1 pings its gateway');
    assert.equal(await pingFromCtr(h, 'n2', '10.31.4.1'), true, 'n2 pings its gateway');
    const gw = await h.spawn([process.execPath, '-e', "require('net').createServer(c=>c.end('peer='+c.remoteAddress+' local=gw port=7100\\n')).listen(7100,'10.31.4.1',()=>console.log('listening'))"]);
    try {
      await gw.waitForOutput('listening');
      const t = await tcpFromCtr(h, 'n1', '10.31.4.1', 7100);
      assert.ok(t.ok, `n1 -> gateway:7100: ${t.output}`);
      assert.equal(t.peer, A('n1'));
    } finally {
      await gw.kill();
    }
    const out = await tcpFromCtr(h, 'n2', EXT4, 7000);
    assert.ok(out.ok, `n2 -> ext: ${out.output}`);
    assert.equal(out.peer, H4, 'masqueraded');
  });

  void test('the rules hold without br_netfilter too: icc=false, networks apart, peers together', T, async () => {
    // bridged frames skip the ip-family hooks when bridge-nf-call-iptables is 0: icc=false must
    // not rest on them (the issue: "without depending on br_netfilter settings")
    const { h } = L;
    const keys = ['net.bridge.bridge-nf-call-iptables', 'net.bridge.bridge-nf-call-ip6tables'];
    const was = await Promise.all(keys.map((k) => sysctl(h, k)));
    try {
      for (const k of keys) await writeSysctl(h, k, 0);
      const [p1, t1, x1, same] = await Promise.all([
        pingFromCtr(h, 'n1', A('n2'), { deadline: 1 }),
        tcpFromCtr(h, 'n2', A('n1'), 80, BLOCKED_MS),
        tcpFromCtr(h, 'a1', A('b1'), 80, BLOCKED_MS),
        tcpFromCtr(h, 'a1', A('a2'), 80),
      ]);
      assert.equal(p1, false, 'n1 must not ping n2');
      assert.equal(t1.ok, false, `n2 -> n1:80 must fail: ${t1.output}`);
      assert.equal(x1.ok, false, `a1 -> b1:80 must fail: ${x1.output}`);
      assert.ok(same.ok, `a1 -> a2:80: ${same.output}`);
      assert.equal(await pingFromCtr(h, 'n1', '10.31.4.1'), true, 'n1 still pings its gateway');
    } finally {
      for (const [i, k] of keys.entries()) await writeSysctl(h, k, was[i] ?? '1');
    }
  });

  void test('routed: the published port at the container address, unNATed, and nothing else', T, async () => {
    const { h, ext } = L;
    const pub = await tcpFrom(ext, A('r1'), 80);
    assert.ok(pub.ok, `ext -> r1:80 (published as 8081) at the container address: ${pub.output}`);
    assert.equal(pub.peer, EXT4, 'no NAT: r1 sees ext');
    assert.equal(pub.local, A('r1'));
    // r1 listens on 81 too: only the firewall keeps ext out
    const other = await tcpFrom(ext, A('r1'), 81, BLOCKED_MS);
    assert.equal(other.ok, false, `ext -> r1:81 (not published) must fail: ${other.output}`);
    assert.match(other.output, /ETIMEDOUT/, 'dropped, not refused');
    assert.equal(await ext.ping(A('r1')), true, 'ICMP reaches a routed container');
    const viaHost = await tcpFrom(ext, H4, 8081);
    assert.ok(viaHost.ok, `ext -> ${H4}:8081: ${viaHost.output}`);
    assert.equal(viaHost.local, A('r1'));
    const out = await tcpFromCtr(h, 'r1', EXT4, 7000);
    assert.ok(out.ok, `r1 -> ext:7000: ${out.output}`);
    assert.equal(out.peer, A('r1'), 'not masqueraded: ext sees the container address');
  });

  void test('nat-unprotected: anything reaches container addresses directly; egress still masqueraded', T, async () => {
    const { h, ext } = L;
    const unpublished = await tcpFrom(ext, A('u1'), 81);
    assert.ok(unpublished.ok, `ext -> u1:81 (not published): ${unpublished.output}`);
    assert.equal(unpublished.peer, EXT4);
    assert.equal(unpublished.local, A('u1'));
    const published = await tcpFrom(ext, A('u1'), 80);
    assert.ok(published.ok, `ext -> u1:80: ${published.output}`);
    assert.equal(await ext.ping(A('u1')), true, 'ext pings u1');
    const viaHost = await tcpFrom(ext, H4, 8082);
    assert.ok(viaHost.ok && viaHost.local === A('u1'), `ext -> ${H4}:8082: ${viaHost.output}`);
    const out = await tcpFromCtr(h, 'u1', EXT4, 7000);
    assert.ok(out.ok, `u1 -> ext:7000: ${out.output}`);
    assert.equal(out.peer, H4, 'masqueraded');
  });

  void test("a port published on network B is reachable from a container on network A via the host's address", T, async () => {
    const { h } = L;
    for (const [from, addr] of [
      ['a1', H4],
      ['a1', '10.31.1.1'],
      ['n1', H4],
      ['u1', H4],
    ] as const) {
      const t = await tcpFromCtr(h, from, addr, 8080);
      assert.ok(t.ok, `${from} -> ${addr}:8080 (b1 on netb): ${t.output}`);
      assert.equal(t.local, A('b1'));
      assert.equal(t.port, 80);
    }
    // while the direct path stays closed
    const direct = await tcpFromCtr(h, 'a1', A('b1'), 80, BLOCKED_MS);
    assert.equal(direct.ok, false, `a1 -> b1:80 directly must fail: ${direct.output}`);
  });
});
