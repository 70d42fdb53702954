// End to end, endpoints at runtime (issue 4): `network connect` adds ethN to a running container
// and `disconnect` removes it while a TCP connection on the container's other network carries on
// (a line every 100 ms, each echoed, none lost or reordered, never reconnected); --ip, --ip6,
// --mac-address and aliases on run and connect, as the kernel and inspect show them; one default
// route per family (the first network, or the highest --gw-priority; never an internal network);
// refusals that change nothing (host and container modes, static addresses outside the subnet or
// taken, connecting twice); `network inspect` listing containers with their addresses; `network
// ls` as a table and as JSON; `network prune`. One lab for the file.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { links } from '../lab/index.js';
import {
  LINE_CLIENT,
  LINE_SERVER,
  NODE,
  type CtrInspect,
  type NetInspect,
  type NetLab,
  assertFails,
  ctrInspect,
  defaultRoutes,
  netInspect,
  netLab,
  pingFromCtr,
  sandboxView,
  snapshot,
  startServer,
  startSleeper,
  tcpFromCtr,
  waitForLogFile,
} from './networks-helpers.js';

const T = { timeout: 120_000 };

const lastGot = (log: string): number => Math.max(-1, ...[...log.matchAll(/^got (\d+)$/gm)].map((m) => Number(m[1])));

void describe('connect and disconnect at runtime; addresses, aliases, default routes; inspect and ls', () => {
  let L: NetLab;
  let cliId = '';
  let srvId = '';

  before(async () => {
    L = await netLab('e2e networks connect');
    const { h } = L;
    await h.berthOk(['network', 'create', '--subnet', '10.51.1.0/24', 'na']);
    await h.berthOk(['network', 'create', '--ipv6', '--subnet', '10.51.2.0/24', '--subnet', 'fd00:52::/64', 'nb']);
    await h.berthOk(['network', 'create', '--internal', '--subnet', '10.51.3.0/24', 'nint']);
    srvId = (await h.berthOk(['run', '-d', '--name', 'srv', '--network', 'na', '--', NODE, '-e', LINE_SERVER, '9000'])).stdout.trim();
    await waitForLogFile(h, srvId, /listening 9000/);
    await startServer(h, 'peerb', ['--network', 'nb'], [80]);
  });
  after(async () => {
    await L?.lab.close();
  });

  void test('connect adds ethN to a running container and disconnect removes it; a TCP connection on the other network survives both', T, async () => {
    const { h } = L;
    const srvIp = (await ctrInspect(h, 'srv')).NetworkSettings.Networks.na?.IPAddress;
    assert.ok(srvIp);
    cliId = (await h.berthOk(['run', '-d', '--name', 'cli', '--network', 'na', '--', NODE, '-e', LINE_CLIENT, srvIp, '9000'])).stdout.trim();
    await waitForLogFile(h, cliId, /^got 5$/m);
    const cliIp = (await ctrInspect(h, 'cli')).NetworkSettings.Networks.na?.IPAddress;
    assert.deepEqual(Object.keys((await sandboxView(h, 'cli')).links).sort(), ['eth0', 'lo']);
    assert.deepEqual(await defaultRoutes(h, 'cli', 4), ['via 10.51.1.1 dev eth0']);
    const peerb = (await ctrInspect(h, 'peerb')).NetworkSettings.Networks.nb;
    assert.ok(peerb);

    // connect: a new eth1 with nb's addresses; it carries packets at once
    await h.berthOk(['network', 'connect', 'nb', 'cli']);
    const mid = await sandboxView(h, 'cli');
    assert.deepEqual(Object.keys(mid.links).sort(), ['eth0', 'eth1', 'lo']);
    const ep = (await ctrInspect(h, 'cli')).NetworkSettings.Networks.nb;
    assert.ok(ep, 'inspect shows the new network');
    assert.deepEqual(mid.addrs.eth1, [`${ep.IPAddress}/24`, `${ep.GlobalIPv6Address}/64`].sort());
    assert.equal(mid.links.eth1?.mac, ep.MacAddress);
    assert.ok(Object.values((await netInspect(h, 'nb')).Containers).some((c) => c.Name === 'cli'), 'network inspect nb lists cli');
    const t = await tcpFromCtr(h, 'cli', peerb.IPAddress, 80);
    assert.ok(t.ok, `cli -> peerb over eth1: ${t.output}`);
    assert.equal(t.peer, ep.IPAddress, 'from its nb address, unNATed');
    const t6 = await tcpFromCtr(h, 'cli', peerb.GlobalIPv6Address, 80);
    assert.ok(t6.ok && t6.peer === ep.GlobalIPv6Address, `cli -> [peerb] over eth1: ${t6.output}`);
    // one default route per family: IPv4 stays with the first network, IPv6 has only nb
    assert.deepEqual(await defaultRoutes(h, 'cli', 4), ['via 10.51.1.1 dev eth0']);
    assert.deepEqual(await defaultRoutes(h, 'cli', 6), ['via fd00:52::1 dev eth1']);
    const n1 = lastGot(await waitForLogFile(h, cliId, /^got \d+$/m));
    await waitForLogFile(h, cliId, new RegExp(`^got ${n1 + 5}$`, 'm'));

    // disconnect: eth1 and its routes go; nb is out of reach again
    await h.berthOk(['network', 'disconnect', 'nb', 'cli']);
    const end = await sandboxView(h, 'cli');
    assert.deepEqual(Object.keys(end.links).sort(), ['eth0', 'lo']);
    assert.deepEqual(end.addrs.eth0, [`${cliIp}/24`], 'eth0 untouched');
    assert.equal((await ctrInspect(h, 'cli')).NetworkSettings.Networks.nb, undefined);
    assert.ok(!Object.values((await netInspect(h, 'nb')).Containers).some((c) => c.Name === 'cli'));
    assert.deepEqual(await defaultRoutes(h, 'cli', 4), ['via 10.51.1.1 dev eth0']);
    assert.deepEqual(await defaultRoutes(h, 'cli', 6), []);
    assert.equal(await pingFromCtr(h, 'cli', peerb.IPAddress, { deadline: 1 }), false, 'peerb is on another network again');
    const n2 = lastGot(await waitForLogFile(h, cliId, /^got \d+$/m));
    const log = await waitForLogFile(h, cliId, new RegExp(`^got ${n2 + 5}$`, 'm'));

    // the connection on na never broke: every echo in order, one connection, never closed
    assert.doesNotMatch(log, /^(ERR|CLOSED|BAD)/m, `client log:\n${log.slice(-1000)}`);
    assert.equal(log.match(/^connected$/gm)?.length, 1);
    const got = [...log.matchAll(/^got (\d+)$/gm)].map((m) => Number(m[1]));
    assert.deepEqual(got, got.map((_, i) => i), 'echoes 0, 1, 2, … with no gap');
    const slog = await waitForLogFile(h, srvId, /conn 1/);
    assert.deepEqual(slog.match(/^conn .*$/gm), [`conn 1 peer=${cliIp}`], 'one connection, from cli’s na address');
    assert.doesNotMatch(slog, /^(closed|error)/m, `server log:\n${slog}`);
  });

  void test('--ip, --ip6, --mac-address and aliases, on run and on connect', T, async () => {
    const { h } = L;
    await startSleeper(h, 'st', ['--network', 'nb', '--ip', '10.51.2.50', '--ip6', 'fd00:52::50', '--mac-address', '02:00:00:51:02:50', '--network-alias', 'web', '--network-alias', 'www']);
    let view = await sandboxView(h, 'st');
    assert.deepEqual(view.addrs.eth0, ['10.51.2.50/24', 'fd00:52::50/64']);
    assert.equal(view.links.eth0?.mac, '02:00:00:51:02:50');
    let ep = (await ctrInspect(h, 'st')).NetworkSettings.Networks.nb;
    assert.ok(ep);
    assert.equal(ep.IPAddress, '10.51.2.50');
    assert.equal(ep.GlobalIPv6Address, 'fd00:52::50');
    assert.equal(ep.MacAddress, '02:00:00:51:02:50');
    assert.deepEqual(ep.Aliases, ['web', 'www']);
    const listed = Object.values((await netInspect(h, 'nb')).Containers).find((c) => c.Name === 'st');
    assert.deepEqual(listed && { v4: listed.IPv4Address, v6: listed.IPv6Address, mac: listed.MacAddress }, {
      v4: '10.51.2.50/24',
      v6: 'fd00:52::50/64',
      mac: '02:00:00:51:02:50',
    });
    assert.equal(await pingFromCtr(h, 'peerb', 'fd00:52::50'), true, 'the static IPv6 address answers');
    assert.equal(await pingFromCtr(h, 'peerb', '10.51.2.50'), true, 'the static IPv4 address answers');

    await h.berthOk(['network', 'connect', '--ip', '10.51.1.77', '--mac-address', '02:00:00:51:01:77', '--alias', 'db', '--alias', 'sql', 'na', 'st']);
    view = await sandboxView(h, 'st');
    assert.deepEqual(view.addrs.eth1, ['10.51.1.77/24']);
    assert.equal(view.links.eth1?.mac, '02:00:00:51:01:77');
    ep = (await ctrInspect(h, 'st')).NetworkSettings.Networks.na;
    assert.ok(ep);
    assert.equal(ep.IPAddress, '10.51.1.77');
    assert.equal(ep.MacAddress, '02:00:00:51:01:77');
    assert.deepEqual(ep.Aliases, ['db', 'sql']);
    assert.equal(await pingFromCtr(h, 'srv', '10.51.1.77'), true, 'srv (na) reaches st at its static address');

    // --ip6 on connect
    await startSleeper(h, 'st2', ['--network', 'na']);
    await h.berthOk(['network', 'connect', '--ip', '10.51.2.60', '--ip6', 'fd00:52::60', 'nb', 'st2']);
    assert.deepEqual((await sandboxView(h, 'st2')).addrs.eth1, ['10.51.2.60/24', 'fd00:52::60/64']);
    assert.equal(await pingFromCtr(h, 'peerb', 'fd00:52::60'), true);
  });

  void test('connect to and disconnect from the default bridge network', T, async () => {
    const { h } = L;
    await h.berthOk(['network', 'connect', 'bridge', 'st2']);
    const ep = (await ctrInspect(h, 'st2')).NetworkSettings.Networks.bridge;
    assert.ok(ep, 'inspect shows the bridge network');
    assert.match(ep.IPAddress, /^172\.17\./);
    assert.deepEqual((await sandboxView(h, 'st2')).addrs.eth2, [`${ep.IPAddress}/16`]);
    assert.equal(await pingFromCtr(h, 'st2', '172.17.0.1'), true, 'st2 pings berth0');
    await h.berthOk(['network', 'disconnect', 'bridge', 'st2']);
    assert.equal((await sandboxView(h, 'st2')).links.eth2, undefined);
    assert.equal((await ctrInspect(h, 'st2')).NetworkSettings.Networks.bridge, undefined);
  });

  void test('one default route per family: the first network, or the highest --gw-priority; never an internal network', T, async () => {
    const { h } = L;
    await startSleeper(h, 'gw1', ['--network', 'na']);
    assert.deepEqual(await defaultRoutes(h, 'gw1', 4), ['via 10.51.1.1 dev eth0']);
    await h.berthOk(['network', 'connect', 'nb', 'gw1']);
    assert.deepEqual(await defaultRoutes(h, 'gw1', 4), ['via 10.51.1.1 dev eth0'], 'equal priorities: the first network keeps it');
    await h.berthOk(['network', 'disconnect', 'nb', 'gw1']);
    await h.berthOk(['network', 'connect', '--gw-priority', '10', 'nb', 'gw1']);
    assert.deepEqual(await defaultRoutes(h, 'gw1', 4), ['via 10.51.2.1 dev eth1'], '--gw-priority 10 takes it');
    assert.deepEqual(await defaultRoutes(h, 'gw1', 6), ['via fd00:52::1 dev eth1']);
    await h.berthOk(['network', 'connect', '--gw-priority', '100', 'nint', 'gw1']);
    assert.deepEqual(await defaultRoutes(h, 'gw1', 4), ['via 10.51.2.1 dev eth1'], 'an internal network never gets it');
    await h.berthOk(['network', 'disconnect', 'nb', 'gw1']);
    assert.deepEqual(await defaultRoutes(h, 'gw1', 4), ['via 10.51.1.1 dev eth0'], 'back to na, not to the internal network');
    assert.deepEqual(await defaultRoutes(h, 'gw1', 6), []);
    // --gw-priority on run counts too
    await startSleeper(h, 'gw2', ['--network', 'na', '--gw-priority', '-1']);
    await h.berthOk(['network', 'connect', 'nb', 'gw2']);
    assert.deepEqual(await defaultRoutes(h, 'gw2', 4), ['via 10.51.2.1 dev eth1'], 'run --gw-priority -1 loses to a later 0');
    // the route is used: g2 reaches ext through nb's gateway (nb's bridge carries the packets)
    const br = (await netInspect(h, 'nb')).Options['com.docker.network.bridge.name'];
    assert.ok(br);
    const rx = async () => {
      const [l] = JSON.parse((await h.execOk(['ip', '-s', '-j', 'link', 'show', 'dev', br])).stdout) as { stats64: { rx: { packets: number } } }[];
      return l?.stats64.rx.packets ?? 0;
    };
    const r0 = await rx();
    assert.equal(await pingFromCtr(h, 'gw2', '10.200.0.2', { count: 3 }), true, 'g2 reaches ext');
    assert.ok((await rx()) - r0 >= 3, 'through nb’s bridge');
  });

  void test('connect refuses host-mode and container-mode containers, naming them, and changes nothing', T, async () => {
    const { h } = L;
    await startSleeper(h, 'hm', ['--network', 'host']);
    await startSleeper(h, 'cm', ['--network', 'container:peerb']);
    const before = await snapshot(h, { sandboxes: ['cm', 'peerb'] });
    assertFails(await h.berth(['network', 'connect', 'na', 'hm']), 1, '"hm"', 'host');
    assert.deepEqual(await snapshot(h, { sandboxes: ['cm', 'peerb'] }), before);
    assertFails(await h.berth(['network', 'connect', 'na', 'cm']), 1, '"cm"', 'container:');
    assert.deepEqual(await snapshot(h, { sandboxes: ['cm', 'peerb'] }), before);
  });

  void test('connect with a static address outside the subnet, already used, or twice: a clear error and nothing changes', T, async () => {
    const { h } = L;
    await startSleeper(h, 'sx', ['--network', 'na']);
    const stIp = '10.51.2.50';
    const before = await snapshot(h, { sandboxes: ['sx'] });
    const cases: [string[], string[]][] = [
      [['--ip', '10.99.0.5', 'nb', 'sx'], ['10.99.0.5', '10.51.2.0/24']],
      [['--ip', stIp, 'nb', 'sx'], [stIp, 'in use']],
      [['--ip', '10.51.2.1', 'nb', 'sx'], ['10.51.2.1', 'gateway']],
      [['--ip6', 'fd00:99::5', 'nb', 'sx'], ['fd00:99::5', 'fd00:52::/64']],
      [['--ip6', 'fd00:52::50', 'nb', 'sx'], ['fd00:52::50', 'in use']],
      [['--ip', '10.51.2.70', '--ip6', 'fd00:52::50', 'nb', 'sx'], ['fd00:52::50']],
      [['na', 'sx'], ['"sx"', 'already connected', '"na"']],
    ];
    for (const [args, mentions] of cases) {
      assertFails(await h.berth(['network', 'connect', ...args]), 1, ...mentions);
      assert.deepEqual(await snapshot(h, { sandboxes: ['sx'] }), before, `berth network connect ${args.join(' ')} changed something`);
    }
    // the refused addresses were not kept: the valid one of the mixed request is free
    await h.berthOk(['network', 'connect', '--ip', '10.51.2.70', 'nb', 'sx']);
    assert.deepEqual((await sandboxView(h, 'sx')).addrs.eth1?.[0], '10.51.2.70/24');
  });

  void test('network inspect lists the containers with their addresses, MACs and endpoints', T, async () => {
    const { h } = L;
    const na = await netInspect(h, 'na');
    assert.equal(na.Name, 'na');
    assert.match(na.Id, /^[0-9a-f]{64}$/);
    assert.equal(na.Driver, 'bridge');
    assert.deepEqual(na.IPAM.Config, [{ Subnet: '10.51.1.0/24', Gateway: '10.51.1.1' }]);
    const names = Object.values(na.Containers).map((c) => c.Name).sort();
    assert.deepEqual(names, ['cli', 'gw1', 'gw2', 'srv', 'st', 'st2', 'sx'].sort());
    const all = await h.berthJson<CtrInspect[]>(['inspect', ...names]);
    for (const [id, c] of Object.entries(na.Containers)) {
      const i = all.find((x) => x.Name === `/${c.Name}`);
      assert.ok(i, c.Name);
      assert.equal(id, i.Id, `${c.Name}: keyed by container id`);
      const ep = i.NetworkSettings.Networks.na;
      assert.ok(ep);
      assert.equal(c.IPv4Address, `${ep.IPAddress}/24`);
      assert.equal(c.IPv6Address, '');
      assert.equal(c.MacAddress, ep.MacAddress);
      assert.equal(c.EndpointID, ep.EndpointID);
      // and the kernel agrees
      const view = await sandboxView(h, c.Name);
      const ifname = Object.entries(view.addrs).find(([, as]) => as.includes(c.IPv4Address))?.[0];
      assert.ok(ifname, `${c.Name} holds ${c.IPv4Address}`);
      assert.equal(view.links[ifname]?.mac, c.MacAddress);
    }
    const nb = await netInspect(h, 'nb');
    assert.equal(nb.EnableIPv6, true);
    const st = Object.values(nb.Containers).find((c) => c.Name === 'st');
    assert.deepEqual(st && [st.IPv4Address, st.IPv6Address], ['10.51.2.50/24', 'fd00:52::50/64']);
    assert.equal((await netInspect(h, 'nint')).Internal, true);
    // several at once, in order
    const many = await h.berthJson<NetInspect[]>(['network', 'inspect', 'nint', 'na', 'bridge']);
    assert.deepEqual(many.map((n) => n.Name), ['nint', 'na', 'bridge']);
  });

  void test('network ls: a table and JSON', T, async () => {
    const { h } = L;
    const json = await h.berthJson<{ ID: string; Name: string; Driver: string; Scope: string; IPv6: boolean; Internal: boolean }[]>(['network', 'ls', '--format', 'json']);
    assert.deepEqual(json.map((n) => n.Name).sort(), ['bridge', 'na', 'nb', 'nint']);
    for (const n of json) {
      assert.match(n.ID, /^[0-9a-f]{64}$/);
      assert.equal(n.Driver, 'bridge');
      assert.equal(n.Scope, 'local');
      assert.equal(n.IPv6, n.Name === 'nb', `${n.Name}.IPv6`);
      assert.equal(n.Internal, n.Name === 'nint', `${n.Name}.Internal`);
    }
    const table = (await h.berthOk(['network', 'ls'])).stdout.trimEnd().split('\n');
    assert.match(table[0] ?? '', /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/);
    const rows = table.slice(1).map((l) => l.trim().split(/\s+/));
    assert.deepEqual(
      rows.map((r) => r.join(' ')).sort(),
      json.map((n) => `${n.ID.slice(0, 12)} ${n.Name} bridge local`).sort(),
    );
    // columns line up under the header
    const col = (table[0] ?? '').indexOf('NAME');
    for (const l of table.slice(1)) assert.match(l.slice(col), /^[a-z]/, `"${l}"`);
    const quiet = (await h.berthOk(['network', 'ls', '-q'])).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(quiet, json.map((n) => n.ID.slice(0, 12)).sort());
  });

  void test('removing a container on two networks releases both endpoints', T, async () => {
    const { h } = L;
    const i = await ctrInspect(h, 'st');
    const eps = Object.values(i.NetworkSettings.Networks).map((e) => e.EndpointID);
    assert.equal(eps.length, 2, 'st is on nb and na');
    const veths = (await links(h)).filter((l) => l.ifname.startsWith('veth')).length;
    await h.berthOk(['rm', '-f', 'st']);
    for (const n of ['na', 'nb']) {
      assert.ok(!Object.values((await netInspect(h, n)).Containers).some((c) => c.Name === 'st'), `st left ${n}`);
    }
    assert.equal((await links(h)).filter((l) => l.ifname.startsWith('veth')).length, veths - 2, 'both veth pairs are gone');
    // its static addresses are free again
    await startSleeper(h, 'st3', ['--network', 'nb', '--ip', '10.51.2.50', '--ip6', 'fd00:52::50']);
    await h.berthOk(['network', 'connect', '--ip', '10.51.1.77', 'na', 'st3']);
    await h.berthOk(['rm', '-f', 'st3']);
  });

  void test('network prune removes only unused user-defined networks', T, async () => {
    const { h } = L;
    await h.berthOk(['network', 'create', '--subnet', '10.51.8.0/24', 'unused1']);
    await h.berthOk(['network', 'create', '-o', 'com.docker.network.bridge.name=brunused2', 'unused2']);
    const br1 = (await netInspect(h, 'unused1')).Options['com.docker.network.bridge.name'];
    assert.ok((await links(h)).some((l) => l.ifname === 'brunused2'));
    const r = await h.berthOk(['network', 'prune']);
    const lines = r.stdout.trimEnd().split('\n');
    assert.equal(lines[0], 'Deleted Networks:');
    assert.deepEqual(lines.slice(1).sort(), ['unused1', 'unused2']);
    const left = (await h.berthJson<{ Name: string }[]>(['network', 'ls', '--format', 'json'])).map((n) => n.Name).sort();
    assert.deepEqual(left, ['bridge', 'na', 'nb', 'nint'], 'networks with containers stay (nint has g), and bridge');
    const ifnames = (await links(h)).map((l) => l.ifname);
    assert.ok(!ifnames.includes('brunused2') && !ifnames.includes(br1 ?? '?'), 'their bridges are gone');
    assert.equal((await h.berthOk(['network', 'prune'])).stdout, '', 'nothing left to prune: nothing printed');
  });
});
