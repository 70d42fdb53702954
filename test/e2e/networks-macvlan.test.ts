// End to end, macvlan networks (issue 6): containers get a macvlan child of the host's LAN NIC,
// with their own MAC and a LAN address, reached directly by the LAN; the four modes; the host's
// shim (host_access); internal networks without a parent; connect/disconnect, the daemon's DNS
// and the API; and every bad input refused with a message that names it, changing nothing.
// The lab: a LAN switch with `peer` (the LAN's router and a LAN host: 192.168.70.1 and the first
// address of each other test subnet), host A (`ha`: eth1 192.168.70.10/24, and eth2 without an
// address for passthru) and host B (`hb`: eth1 192.168.70.11/24). One lab for the file.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { existsSync } from 'node:fs';
import { type External, type Host, type IpLink, Lab, type Switch, links, neighs, routes, runIn } from '../lab/index.js';
import { api, findDockerClis, docker, parseJson, startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import {
  BLOCKED_MS,
  assertFails,
  berthTable,
  ctrInspect,
  ctrNs,
  defaultRoutes,
  netInspect,
  nodeServer,
  pingFromCtr,
  sleep,
  snapshot,
  startServer,
  startSleeper,
  storeDump,
  tcpFrom,
  tcpFromCtr,
} from './networks-helpers.js';

const T = { timeout: 120_000 };

const PEER = '192.168.70.1';
const HA = '192.168.70.10';
const HB = '192.168.70.11';
const LAN = ['--subnet', '192.168.70.0/24', '--gateway', PEER];

/** `ip -d link` of a container's interface: kind and mode of a macvlan child. */
async function ctrLink(h: Host, ctr: string, ifname: string): Promise<IpLink | undefined> {
  return (await links(await ctrNs(h, ctr))).find((l) => l.ifname === ifname);
}

async function hostLink(h: Host, ifname: string): Promise<IpLink | undefined> {
  return (await links(h)).find((l) => l.ifname === ifname);
}

function ipOf(i: Awaited<ReturnType<typeof ctrInspect>>, net: string): string {
  const ep = i.NetworkSettings.Networks[net];
  assert.ok(ep?.IPAddress, `${i.Name} has an address on ${net}`);
  return ep.IPAddress;
}

function inRange(ip: string, prefix: string, lo: number, hi: number): boolean {
  const last = Number(ip.split('.')[3]);
  return ip.startsWith(prefix) && last >= lo && last <= hi;
}

void describe('macvlan networks', () => {
  let lab: Lab;
  let ha: Host;
  let hb: Host;
  let peer: External;
  let sw: Switch;
  let haPort = '';
  let haEth1Mac = '';

  before(async () => {
    lab = await Lab.create({ label: 'e2e networks macvlan' });
    sw = await lab.createSwitch('lan');
    ha = await lab.createHost('ha');
    hb = await lab.createHost('hb');
    peer = await lab.createExternal('peer');
    await sw.plug(peer, { ifname: 'eth0', address: [`${PEER}/24`, '192.168.71.1/24', '192.168.72.1/24', '192.168.74.1/24'] });
    haPort = (await sw.plug(ha, { ifname: 'eth1', address: `${HA}/24` })).port;
    await sw.plug(ha, { ifname: 'eth2' });
    await sw.plug(hb, { ifname: 'eth1', address: `${HB}/24` });
    haEth1Mac = (await hostLink(ha, 'eth1'))?.address ?? '';
    // berth's own start (the default bridge) first: a refused command is compared with a ready host
    await ha.berthOk(['network', 'ls']);
    await hb.berthOk(['network', 'ls']);
    assert.equal(await peer.ping(HA), true, 'the lab works');
  });
  after(async () => {
    await lab?.close();
  });

  void test('create records the network and touches neither the kernel nor the firewall', T, async () => {
    const snap = await snapshot(ha);
    const id = (await ha.berthOk(['network', 'create', '-d', 'macvlan', ...LAN, '--ip-range', '192.168.70.128/28', '-o', 'parent=eth1', 'mvl'])).stdout.trim();
    const net = await netInspect(ha, 'mvl');
    assert.equal(net.Id, id);
    assert.equal(net.Driver, 'macvlan');
    assert.equal(net.Internal, false);
    assert.deepEqual(net.Options, { parent: 'eth1' });
    assert.deepEqual(net.IPAM.Config, [{ Subnet: '192.168.70.0/24', Gateway: PEER, IPRange: '192.168.70.128/28' }]);
    const now = await snapshot(ha);
    assert.deepEqual(now.hostLinks, snap.hostLinks, 'no link: the parent is used as it is');
    assert.deepEqual(now.hostAddrs, snap.hostAddrs);
    assert.deepEqual(now.hostRoutes, snap.hostRoutes);
    assert.deepEqual(now.nftElements, snap.nftElements, 'no firewall elements: no NAT, no bridge');
    await hb.berthOk(['network', 'create', '-d', 'macvlan', ...LAN, '--ip-range', '192.168.70.144/28', '-o', 'parent=eth1', 'mvl']);
  });

  void test('a container gets a macvlan child of eth1 with its own MAC and a LAN address; the LAN reaches it directly', T, async () => {
    await startServer(ha, 'c1', ['--network', 'mvl'], [80]);
    const i = await ctrInspect(ha, 'c1');
    const ip = ipOf(i, 'mvl');
    const mac = i.NetworkSettings.Networks.mvl?.MacAddress ?? '';
    assert.ok(inRange(ip, '192.168.70.', 128, 143), `${ip} is in the ip-range 192.168.70.128/28`);
    const eth0 = await ctrLink(ha, 'c1', 'eth0');
    assert.equal(eth0?.linkinfo?.info_kind, 'macvlan', `eth0 is a macvlan child: ${JSON.stringify(eth0?.linkinfo)}`);
    assert.equal(eth0?.linkinfo?.info_data?.mode, 'bridge');
    assert.equal(eth0?.address, mac, 'the MAC berth recorded is the one the child has');
    assert.notEqual(mac, haEth1Mac, "its own MAC, not the parent's");
    assert.deepEqual(await defaultRoutes(ha, 'c1', 4), [`via ${PEER} dev eth0`], "the LAN's gateway is the container's");
    assert.ok(!(await links(ha)).some((l) => l.linkinfo?.info_kind === 'macvlan'), 'the child never shows on the host');

    // the LAN peer reaches it at its own address and sees its own MAC; nothing is translated
    assert.equal(await peer.ping(ip, { count: 2 }), true, `peer pings ${ip}`);
    const n = (await neighs(peer, 4)).find((x) => x.dst === ip);
    assert.equal(n?.lladdr, mac, `peer's neighbour table holds c1's own MAC: ${JSON.stringify(n)}`);
    const inbound = await tcpFrom(peer, ip, 80);
    assert.ok(inbound.ok, `peer -> ${ip}:80: ${inbound.output}`);
    assert.equal(inbound.peer, PEER, 'c1 sees the LAN peer itself');
    assert.equal(inbound.local, ip);
    const srv = await nodeServer(peer, [7000]);
    const out = await tcpFromCtr(ha, 'c1', PEER, 7000);
    assert.ok(out.ok && out.peer === ip, `c1 -> peer:7000 from its own address: ${out.output}`);
    await srv.kill();

    // a container of host B, on the same LAN, reaches it
    await startSleeper(hb, 'c3', ['--network', 'mvl']);
    const ipB = ipOf(await ctrInspect(hb, 'c3'), 'mvl');
    assert.ok(inRange(ipB, '192.168.70.', 144, 159), `${ipB} is in host B's ip-range`);
    const cross = await tcpFromCtr(hb, 'c3', ip, 80);
    assert.ok(cross.ok && cross.peer === ipB, `c3 (host B) -> c1 (host A): ${cross.output}`);

    // the host cannot reach its own macvlan containers (the kernel's macvlan semantics)
    assert.equal(await ha.ping(ip, { count: 1, timeout: 1 }), false, 'host A does not reach c1 without host_access');
    assert.equal((await tcpFrom(ha, ip, 80, BLOCKED_MS)).ok, false);
    assert.equal(await peer.ping(HA), true, "and the host's own LAN address works as before");
  });

  void test('-p on a macvlan network is discarded with a warning; containers on one parent in bridge mode reach each other', T, async () => {
    const r = await ha.berthOk(['run', '-d', '--name', 'c2', '--network', 'mvl', '-p', '8080:80', '--', 'sleep', '600']);
    assert.match(r.stderr, /WARNING: Published ports are discarded on macvlan network "mvl"/);
    assert.deepEqual(storeDump(ha).ports ?? [], [], 'no port reserved');
    const table = await berthTable(ha);
    for (const set of ['pub4', 'pub4any', 'pub6', 'pub6any']) assert.deepEqual(table.elements[set] ?? [], [], `nothing in ${set}`);
    const c1 = ipOf(await ctrInspect(ha, 'c1'), 'mvl');
    const c2 = ipOf(await ctrInspect(ha, 'c2'), 'mvl');
    const t = await tcpFromCtr(ha, 'c2', c1, 80);
    assert.ok(t.ok && t.peer === c2, `c2 -> c1 (bridge mode): ${t.output}`);
  });

  void test('system check finds nothing wrong with macvlan networks and their containers', T, async () => {
    const r = await ha.berth(['system', 'check', '--format', 'json']);
    assert.equal(r.code, 0, `system check: ${r.stdout}${r.stderr}`);
  });

  void test('network connect adds a macvlan ethN to a running container; disconnect removes it and frees its address', T, async () => {
    await ha.berthOk(['network', 'create', '--subnet', '10.88.0.0/24', 'br1']);
    await startSleeper(ha, 'cb', ['--network', 'br1']);
    await ha.berthOk(['network', 'connect', 'mvl', 'cb']);
    const i = await ctrInspect(ha, 'cb');
    const ip = ipOf(i, 'mvl');
    const eth1 = await ctrLink(ha, 'cb', 'eth1');
    assert.equal(eth1?.linkinfo?.info_kind, 'macvlan');
    assert.equal(eth1?.address, i.NetworkSettings.Networks.mvl?.MacAddress);
    assert.equal(await peer.ping(ip, { count: 2 }), true, `peer reaches cb at ${ip}`);
    assert.ok((await netInspect(ha, 'mvl')).Containers[i.Id], 'inspect lists cb on mvl');

    await ha.berthOk(['network', 'disconnect', 'mvl', 'cb']);
    assert.equal(await ctrLink(ha, 'cb', 'eth1'), undefined, 'eth1 is gone from the container');
    assert.ok(await ctrLink(ha, 'cb', 'eth0'), 'its bridge leg stays');
    assert.equal((await netInspect(ha, 'mvl')).Containers[i.Id], undefined);
    assert.ok(!storeDump(ha).allocations?.some((a) => a.includes(`"${ip}"`)), `${ip} is free again`);
    assert.equal(await peer.ping(ip, { count: 1, timeout: 1 }), false, 'and no longer answers');
    await ha.berthOk(['rm', '-f', 'cb']);
    await ha.berthOk(['network', 'rm', 'br1']);
  });

  void test('host_access=true: a shim on the host reaches the containers; the daemon serves DNS there; removed with the network', T, async () => {
    const id = (await ha.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '192.168.74.0/24', '--gateway', '192.168.74.1', '--ip-range', '192.168.74.128/28', '-o', 'parent=eth1', '-o', 'host_access=true', 'mvh'])).stdout.trim();
    const shimName = `mh-${id.slice(0, 12)}`;
    const shim = await hostLink(ha, shimName);
    assert.equal(shim?.linkinfo?.info_kind, 'macvlan', `the shim ${shimName} is a macvlan of eth1: ${JSON.stringify(shim)}`);
    assert.equal(shim?.link, 'eth1');
    assert.equal(shim?.linkinfo?.info_data?.mode, 'bridge');
    const shimAddrs = (await runIn(ha, ['ip', '-j', 'addr', 'show', 'dev', shimName], { check: true })).stdout;
    const shimIp = (JSON.parse(shimAddrs) as { addr_info: { local: string; prefixlen: number; family: string }[] }[])[0]?.addr_info.find((a) => a.family === 'inet');
    assert.ok(shimIp && inRange(shimIp.local, '192.168.74.', 128, 143) && shimIp.prefixlen === 32, `the shim holds a /32 of the ip-range: ${shimAddrs}`);

    await startServer(ha, 'h1', ['--network', 'mvh'], [80]);
    const ip = ipOf(await ctrInspect(ha, 'h1'), 'mvh');
    assert.ok((await routes(ha, 4)).some((r) => r.dst === ip && r.dev === shimName), `a host route to ${ip} through the shim`);
    const t = await tcpFrom(ha, ip, 80);
    assert.ok(t.ok && t.peer === shimIp.local, `host A -> h1:80 from the shim's address: ${t.output}`);
    assert.equal(await peer.ping(ip), true, 'the LAN still reaches h1');
    assert.equal(await peer.ping(HA), true, "and the host's own address, unchanged");
    const resolv = await ha.berthOk(['exec', 'h1', '--', 'cat', '/etc/resolv.conf']);
    assert.match(resolv.stdout, new RegExp(`^nameserver ${shimIp.local.replace(/\./g, '\\.')}$`, 'm'), 'resolv.conf names the shim');
    const plain = await ha.berthOk(['exec', 'c1', '--', 'cat', '/etc/resolv.conf']);
    assert.doesNotMatch(plain.stdout, /^nameserver 192\.168\.70\./m, 'without host_access no nameserver on the LAN subnet (the router is not berth)');
    assert.equal((await ha.berth(['system', 'check', '--format', 'json'])).code, 0, 'system check is happy with the shim');

    // the daemon's embedded DNS answers h1's neighbours on the shim's address
    let d: Daemon | undefined;
    try {
      d = await startDaemon(ha);
      for (let n = 0; ; n++) {
        if ((await ha.exec(['ss', '-Hlun', 'src', `${shimIp.local}:53`])).stdout.trim()) break;
        assert.ok(n < 100, `the daemon listens on ${shimIp.local}:53`);
        await sleep(100);
      }
      assert.equal((await ha.exec(['ss', '-Hlun', 'src', `${PEER}:53`])).stdout.trim(), '', "and not on mvl's gateway (the LAN router)");
      const r = await ha.berthOk(['run', '--rm', '--network', 'mvh', '--', 'getent', 'hosts', 'h1'], { timeoutMs: 30_000 });
      assert.match(r.stdout, new RegExp(`^${ip.replace(/\./g, '\\.')}\\s+h1`, 'm'), `h1 resolves through the shim: ${r.stdout}`);

      // the API (the docker CLI's way) creates and removes macvlan networks too
      const created = await api(d.sock, 'POST', '/networks/create', {
        Name: 'apimv', Driver: 'macvlan', Options: { parent: 'eth1', macvlan_mode: 'vepa' }, IPAM: { Config: [{ Subnet: '192.168.75.0/24', Gateway: '192.168.75.1' }] },
      });
      assert.equal(created.status, 201, created.text);
      const got = parseJson<{ Driver: string; Options: Record<string, string> }>(await api(d.sock, 'GET', '/networks/apimv'));
      assert.equal(got.Driver, 'macvlan');
      assert.deepEqual(got.Options, { parent: 'eth1', macvlan_mode: 'vepa' });
      assert.equal((await api(d.sock, 'DELETE', '/networks/apimv')).status, 204);
      const cli = (await findDockerClis()).present[0];
      if (cli) {
        const dc = await docker(ha, cli, d.sock, ['network', 'create', '-d', 'macvlan', '--subnet', '192.168.76.0/24', '-o', 'parent=eth1', 'dockmv']);
        assert.equal(dc.code, 0, `docker network create -d macvlan: ${dc.stderr}`);
        assert.equal((await netInspect(ha, 'dockmv')).Driver, 'macvlan');
        await ha.berthOk(['network', 'rm', 'dockmv']);
      }
    } finally {
      await stopDaemon(d);
    }

    await ha.berthOk(['rm', '-f', 'h1']);
    assert.ok(!(await routes(ha, 4)).some((r) => r.dst === ip), 'the host route went with the container');
    await ha.berthOk(['network', 'rm', 'mvh']);
    assert.equal(await hostLink(ha, shimName), undefined, 'the shim went with the network');
  });

  void test('private mode: containers on one parent do not reach each other, but do reach the LAN', T, async () => {
    await ha.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '192.168.71.0/24', '--gateway', '192.168.71.1', '--ip-range', '192.168.71.128/28', '-o', 'parent=eth1', '-o', 'macvlan_mode=private', 'mvp']);
    await startSleeper(ha, 'p1', ['--network', 'mvp']);
    await startSleeper(ha, 'p2', ['--network', 'mvp']);
    assert.equal((await ctrLink(ha, 'p1', 'eth0'))?.linkinfo?.info_data?.mode, 'private');
    const p2 = ipOf(await ctrInspect(ha, 'p2'), 'mvp');
    assert.equal(await pingFromCtr(ha, 'p1', '192.168.71.1'), true, 'p1 reaches the LAN');
    assert.equal(await pingFromCtr(ha, 'p1', p2, { deadline: 2 }), false, 'p1 does not reach p2');
    await ha.berthOk(['rm', '-f', 'p1', 'p2']);
    await ha.berthOk(['network', 'rm', 'mvp']);
  });

  void test('vepa mode: containers reach each other only through the switch, with hairpin on its port', T, async () => {
    await ha.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '192.168.72.0/24', '--gateway', '192.168.72.1', '--ip-range', '192.168.72.128/28', '-o', 'parent=eth1', '-o', 'macvlan_mode=vepa', 'mvv']);
    await startSleeper(ha, 'v1', ['--network', 'mvv']);
    await startSleeper(ha, 'v2', ['--network', 'mvv']);
    assert.equal((await ctrLink(ha, 'v1', 'eth0'))?.linkinfo?.info_data?.mode, 'vepa');
    const v2 = ipOf(await ctrInspect(ha, 'v2'), 'mvv');
    assert.equal(await pingFromCtr(ha, 'v1', '192.168.72.1'), true, 'v1 reaches the LAN');
    assert.equal(await pingFromCtr(ha, 'v1', v2, { deadline: 2 }), false, 'without hairpin the switch does not send v1 frames back out their port');
    await sw.exec(['bridge', 'link', 'set', 'dev', haPort, 'hairpin', 'on'], { check: true });
    try {
      // v1's neighbour entry for v2 failed a moment ago: ping's first packets may be refused
      // locally (host unreachable) and use up its count before the new resolution completes
      let ok = false;
      for (let i = 0; i < 3 && !ok; i++) ok = await pingFromCtr(ha, 'v1', v2, { count: 2, deadline: 3 });
      assert.equal(ok, true, 'with hairpin on the switch port v1 reaches v2');
    } finally {
      await sw.exec(['bridge', 'link', 'set', 'dev', haPort, 'hairpin', 'off'], { check: true });
    }
    await ha.berthOk(['rm', '-f', 'v1', 'v2']);
    await ha.berthOk(['network', 'rm', 'mvv']);
  });

  void test('passthru mode: the first container takes eth2 whole; a second is refused and nothing changes', T, async () => {
    const eth2Mac = (await hostLink(ha, 'eth2'))?.address;
    await ha.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '192.168.73.0/24', '-o', 'parent=eth2', '-o', 'macvlan_mode=passthru', 'mvt']);
    await startSleeper(ha, 't1', ['--network', 'mvt']);
    const eth0 = await ctrLink(ha, 't1', 'eth0');
    assert.equal(eth0?.linkinfo?.info_data?.mode, 'passthru');
    assert.equal(eth0?.address, eth2Mac, "a passthru child carries its parent's MAC");
    assert.equal((await ctrInspect(ha, 't1')).NetworkSettings.Networks.mvt?.MacAddress, eth2Mac, 'and inspect says so');
    const snap = await snapshot(ha);
    assertFails(await ha.berth(['run', '-d', '--name', 't2', '--network', 'mvt', '--', 'sleep', '600']), 1, 'mvt', 'passthru', '"t1"', 'eth2');
    assert.deepEqual(await snapshot(ha), snap, 'the refused run changed nothing');
    await ha.berthOk(['rm', '-f', 't1']);
    // eth2 stays taken by the network (for the bad-input cases below)
  });

  void test('without -o parent: an internal network whose containers reach each other only; its port-less bridge goes with it', T, async () => {
    const id = (await ha.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '10.77.0.0/24', 'mvi'])).stdout.trim();
    const net = await netInspect(ha, 'mvi');
    assert.equal(net.Internal, true, 'Docker makes a macvlan network without parent internal');
    const parent = await hostLink(ha, `mv-${id.slice(0, 12)}`);
    assert.equal(parent?.linkinfo?.info_kind, 'bridge', `the parent is a bridge: ${JSON.stringify(parent)}`);
    assert.ok(!(await links(ha)).some((l) => l.master === parent?.ifname), 'with no ports');
    await startServer(ha, 'i1', ['--network', 'mvi'], [80]);
    await startSleeper(ha, 'i2', ['--network', 'mvi']);
    const i1 = ipOf(await ctrInspect(ha, 'i1'), 'mvi');
    const t = await tcpFromCtr(ha, 'i2', i1, 80);
    assert.ok(t.ok, `i2 -> i1: ${t.output}`);
    assert.deepEqual(await defaultRoutes(ha, 'i1', 4), [], 'no default route on an internal network');
    assert.equal(await ha.ping(i1, { count: 1, timeout: 1 }), false, 'the host does not reach it');
    await ha.berthOk(['rm', '-f', 'i1', 'i2']);
    await ha.berthOk(['network', 'rm', 'mvi']);
    assert.equal(await hostLink(ha, `mv-${id.slice(0, 12)}`), undefined, 'the bridge is gone');
  });

  void test('-o parent=IF.VID: an 802.1q sub-interface, created and removed with the network, where the kernel has 802.1q', T, async (t) => {
    const probe = await ha.exec(['ip', 'link', 'add', 'link', 'eth1', 'name', 'vlprobe', 'type', 'vlan', 'id', '9']);
    if (probe.code !== 0) {
      // the refusal on such a kernel is one of the bad-input cases below
      t.skip(`this kernel has no 802.1q (vlan) link kind: ${probe.stderr.trim()}`);
      return;
    }
    await ha.execOk(['ip', 'link', 'del', 'vlprobe']);
    await ha.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '192.168.77.0/24', '-o', 'parent=eth1.77', 'mv77']);
    assert.equal((await hostLink(ha, 'eth1.77'))?.linkinfo?.info_kind, 'vlan');
    await ha.berthOk(['network', 'rm', 'mv77']);
    assert.equal(await hostLink(ha, 'eth1.77'), undefined);
  });

  void test('every bad input is refused with a message naming it, and changes nothing', T, async () => {
    const vlan = (await ha.exec(['ip', 'link', 'add', 'link', 'eth1', 'name', 'vlprobe', 'type', 'vlan', 'id', '9'])).code === 0;
    if (vlan) await ha.execOk(['ip', 'link', 'del', 'vlprobe']);
    const mv = (...args: string[]) => ['network', 'create', '-d', 'macvlan', ...args];
    const cases: { title: string; args: string[]; says: (string | RegExp)[] }[] = [
      { title: 'a parent that does not exist', args: mv(...LAN, '-o', 'parent=eth9', 'bad'), says: ['"eth9"', 'does not exist'] },
      { title: 'an empty parent', args: mv(...LAN, '-o', 'parent=', 'bad'), says: ['-o parent', 'IF.VID'] },
      { title: 'a parent without the LAN subnet', args: mv('-o', 'parent=eth1', 'bad'), says: ['parent=eth1', '--subnet'] },
      { title: 'a subnet of another network', args: mv('--subnet', '192.168.70.0/25', '-o', 'parent=eth1', 'bad'), says: ['192.168.70.0/25', 'mvl'] },
      { title: 'a mode typo', args: mv(...LAN, '-o', 'parent=eth1', '-o', 'macvlan_mode=brigde', 'bad'), says: ['"brigde"', 'bridge, private, vepa, passthru'] },
      { title: 'an unknown option', args: mv(...LAN, '-o', 'parent=eth1', '-o', 'mode=bridge', 'bad'), says: ['"mode"', 'macvlan_mode'] },
      { title: 'a bridge option on macvlan', args: mv(...LAN, '-o', 'parent=eth1', '-o', 'com.docker.network.bridge.name=x', 'bad'), says: ['com.docker.network.bridge.name', 'parent'] },
      { title: 'host_access=yes', args: mv(...LAN, '-o', 'parent=eth1', '-o', 'host_access=yes', 'bad'), says: ['"yes"', 'true or false'] },
      { title: 'host_access with private mode', args: mv('--subnet', '192.168.78.0/24', '-o', 'parent=eth1', '-o', 'macvlan_mode=private', '-o', 'host_access=true', 'bad'), says: ['host_access', 'private'] },
      { title: 'an mtu of 10', args: mv('--subnet', '192.168.78.0/24', '-o', 'parent=eth1', '-o', 'mtu=10', 'bad'), says: ['"10"', '68'] },
      { title: 'a passthru network on a parent in use', args: mv('--subnet', '192.168.78.0/24', '-o', 'parent=eth1', '-o', 'macvlan_mode=passthru', 'bad'), says: ['eth1', 'mvl', 'passthru'] },
      { title: 'a second network on a passthru parent', args: mv('--subnet', '192.168.78.0/24', '-o', 'parent=eth2', 'bad'), says: ['eth2', 'mvt', 'passthru'] },
      { title: 'a NAT-free bridge on a macvlan parent', args: ['network', 'create', '--subnet', '192.168.78.0/24', '-o', 'parent=eth1', 'bad'], says: ['eth1', 'mvl'] },
      { title: 'a VLAN parent whose base does not exist', args: mv('--subnet', '192.168.78.0/24', '-o', 'parent=eth9.10', 'bad'), says: ['eth9.10', '"eth9"'] },
      { title: 'a VLAN id out of range', args: mv('--subnet', '192.168.78.0/24', '-o', 'parent=eth1.5000', 'bad'), says: ['"5000"', '4094'] },
      { title: 'a driver typo', args: ['network', 'create', '-d', 'macvlna', 'bad'], says: ['"macvlna"', 'macvlan'] },
      ...(vlan ? [] : [{ title: 'a VLAN parent on a kernel without 802.1q', args: mv('--subnet', '192.168.78.0/24', '-o', 'parent=eth1.10', 'bad'), says: ['parent=eth1.10', '802.1q'] }]),
    ];
    if (vlan) console.log('# the refusal of a VLAN parent is not tested: this kernel has 802.1q');
    const snap = await snapshot(ha, { cli: true });
    const problems: string[] = [];
    for (const c of cases) {
      const r = await ha.berth(c.args);
      try {
        assertFails(r, 1, ...c.says);
      } catch (e) {
        problems.push(`${c.title}: ${(e as Error).message}`);
      }
    }
    assert.deepEqual(await snapshot(ha, { cli: true }), snap, 'the refused commands changed nothing');
    assert.deepEqual(problems, []);
  });

  void test('network rm is refused while containers are attached; then everything berth made goes', T, async () => {
    const snap = await snapshot(ha);
    assertFails(await ha.berth(['network', 'rm', 'mvl']), 1, 'c1', 'c2');
    assert.deepEqual(await snapshot(ha), snap);
    const ns = await ctrNs(ha, 'c1');
    await ha.berthOk(['rm', '-f', 'c1', 'c2']);
    await hb.berthOk(['rm', '-f', 'c3']);
    await ha.berthOk(['network', 'rm', 'mvl', 'mvt']);
    await hb.berthOk(['network', 'rm', 'mvl']);
    assert.equal(existsSync(ns), false, 'the sandbox is gone');
    const kinds = (await links(ha)).map((l) => `${l.ifname}:${l.linkinfo?.info_kind ?? ''}`).sort();
    assert.deepEqual(kinds, ['berth0:bridge', 'eth1:veth', 'eth2:veth', 'lo:'], 'only the lab NICs and the default bridge are left');
    assert.equal((await ha.berth(['system', 'check', '--format', 'json'])).code, 0);
  });
});
