// End to end, bad input to the network commands (issue 4): every bad value the issue names is
// refused with exit status 1 (2 for a malformed command line) and a message that names it, and
// changes nothing: not the network list and their IPAM, not the containers and their
// interfaces, not the host's links, addresses and routes, not berth's nft sets and maps. Then
// the accepted spellings of the same options do what they say. One lab for the file.
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { links, nftTables } from '../lab/index.js';
import {
  EXT4,
  H4,
  type NetLab,
  type Snapshot,
  assertFails,
  ctrInspect,
  netInspect,
  netLab,
  nodeServer,
  sandboxView,
  snapshot,
  startSleeper,
  tcpFromCtr,
} from './networks-helpers.js';

const T = { timeout: 60_000 };

interface Case {
  title: string;
  args: string[];
  /** exit status: 1 for a bad value, 2 for a malformed command line */
  code: 1 | 2;
  /** what the message must name */
  says: (string | RegExp)[];
  /** one of the bad inputs issue 4 lists (the others are further bad values of the same commands) */
  issue?: true;
}

const SUBNET = '10.60.0.0/24';
const USED = '10.60.0.2'; // occupant1's address (the first one handed out)

const CASES: Case[] = [
  // network create: addresses
  { issue: true, title: 'an invalid CIDR', args: ['network', 'create', '--subnet', '10.300.0.0/24', 'bad1'], code: 1, says: ['10.300.0.0/24'] },
  { title: 'a CIDR with host bits set', args: ['network', 'create', '--subnet', '10.61.0.1/24', 'bad1'], code: 1, says: ['10.61.0.1/24', '10.61.0.0/24'] },
  { issue: true, title: 'a gateway outside the subnet', args: ['network', 'create', '--subnet', '10.61.0.0/24', '--gateway', '10.62.0.1', 'bad1'], code: 1, says: ['10.62.0.1', '10.61.0.0/24'] },
  { title: 'a gateway that is the network address', args: ['network', 'create', '--subnet', '10.61.0.0/24', '--gateway', '10.61.0.0', 'bad1'], code: 1, says: ['10.61.0.0'] },
  { issue: true, title: 'an ip-range outside the subnet', args: ['network', 'create', '--subnet', '10.61.0.0/24', '--ip-range', '10.62.0.0/25', 'bad1'], code: 1, says: ['10.62.0.0/25'] },
  { title: 'an aux-address outside the subnet', args: ['network', 'create', '--subnet', '10.61.0.0/24', '--aux-address', 'r=10.62.0.5', 'bad1'], code: 1, says: ['10.62.0.5'] },
  { issue: true, title: 'a subnet overlapping another network', args: ['network', 'create', '--subnet', '10.60.0.128/25', 'bad1'], code: 1, says: ['10.60.0.128/25', SUBNET, 'base'] },
  { title: 'a subnet containing another network', args: ['network', 'create', '--subnet', '10.60.0.0/16', 'bad1'], code: 1, says: ['10.60.0.0/16', 'base'] },
  { issue: true, title: 'overlapping subnets within one network', args: ['network', 'create', '--subnet', '10.63.0.0/24', '--subnet', '10.63.0.0/25', 'bad1'], code: 1, says: ['10.63.0.0/24', '10.63.0.0/25'] },
  { title: 'overlapping IPv6 subnets within one network', args: ['network', 'create', '--ipv6', '--subnet', 'fd00:63::/64', '--subnet', 'fd00:63::/80', 'bad1'], code: 1, says: ['fd00:63::/64', 'fd00:63::/80'] },
  { title: 'an IPv6 subnet without --ipv6', args: ['network', 'create', '--subnet', 'fd00:64::/64', 'bad1'], code: 1, says: ['fd00:64::/64', '--ipv6'] },
  // network create: -o options
  { issue: true, title: 'an unknown -o key', args: ['network', 'create', '-o', 'foo=bar', 'bad1'], code: 1, says: ['"foo"', 'com.docker.network.driver.mtu'] },
  { title: 'an unknown Docker-looking -o key', args: ['network', 'create', '-o', 'com.docker.network.bridge.enable_icmp=true', 'bad1'], code: 1, says: ['com.docker.network.bridge.enable_icmp'] },
  { title: '-o without a value', args: ['network', 'create', '-o', 'mtu', 'bad1'], code: 1, says: ['"mtu"', 'KEY=VALUE'] },
  { issue: true, title: 'mtu 10', args: ['network', 'create', '-o', 'mtu=10', 'bad1'], code: 1, says: ['"10"', '68'] },
  { issue: true, title: 'icc=maybe', args: ['network', 'create', '-o', 'icc=maybe', 'bad1'], code: 1, says: ['"maybe"', 'true or false'] },
  { issue: true, title: 'gateway_mode_ipv4=bogus', args: ['network', 'create', '-o', 'gateway_mode_ipv4=bogus', 'bad1'], code: 1, says: ['"bogus"', 'nat-unprotected', 'routed'] },
  { title: 'gateway_mode_ipv6=bogus', args: ['network', 'create', '--ipv6', '-o', 'com.docker.network.bridge.gateway_mode_ipv6=bogus', 'bad1'], code: 1, says: ['"bogus"'] },
  { issue: true, title: 'gateway mode isolated without --internal', args: ['network', 'create', '-o', 'gateway_mode_ipv4=isolated', 'bad1'], code: 1, says: ['isolated', '--internal'] },
  { title: 'host_binding_ipv4 not an address', args: ['network', 'create', '-o', 'host_binding_ipv4=10.0.0', 'bad1'], code: 1, says: ['"10.0.0"'] },
  { title: 'a bridge name that is no interface name', args: ['network', 'create', '-o', 'bridge_name=this-name-is-too-long', 'bad1'], code: 1, says: ['this-name-is-too-long'] },
  { title: 'a bridge name taken by a host interface', args: ['network', 'create', '-o', 'bridge_name=eth0', 'bad1'], code: 1, says: ['"eth0"'] },
  { issue: true, title: 'a parent that does not exist', args: ['network', 'create', '-o', 'parent=nope0', '--subnet', '10.65.0.0/24', '--gateway', '10.65.0.1', 'bad1'], code: 1, says: ['"nope0"'] },
  { title: 'a parent without the LAN subnet', args: ['network', 'create', '-o', 'parent=eth0', 'bad1'], code: 1, says: ['parent=eth0', '--subnet'] },
  // network create: names and drivers
  { issue: true, title: 'a duplicate name', args: ['network', 'create', '--subnet', '10.66.0.0/24', 'base'], code: 1, says: ['base'] },
  { title: 'a reserved name', args: ['network', 'create', 'host'], code: 1, says: ['"host"'] },
  { title: 'an invalid name', args: ['network', 'create', 'bad/name'], code: 1, says: ['"bad/name"'] },
  { title: 'an unsupported driver', args: ['network', 'create', '-d', 'ipvlan', 'bad1'], code: 1, says: ['"ipvlan"', 'bridge'] },
  // network rm
  { issue: true, title: 'rm of the default bridge network', args: ['network', 'rm', 'bridge'], code: 1, says: ['"bridge"'] },
  { issue: true, title: 'rm of a network with containers attached', args: ['network', 'rm', 'base'], code: 1, says: ['"base"', 'occupant1', 'occupant2'] },
  { title: 'rm of a network that does not exist', args: ['network', 'rm', 'nonet'], code: 1, says: ['"nonet"'] },
  // run with static addresses
  { issue: true, title: 'run --ip outside the subnet', args: ['run', '-d', '--name', 'bad-run', '--network', 'base', '--ip', '10.99.0.5', '--', 'sleep', '60'], code: 1, says: ['10.99.0.5', SUBNET] },
  { issue: true, title: 'run --ip already used', args: ['run', '-d', '--name', 'bad-run', '--network', 'base', '--ip', USED, '--', 'sleep', '60'], code: 1, says: [USED, 'in use'] },
  { title: 'run --ip of the gateway', args: ['run', '-d', '--name', 'bad-run', '--network', 'base', '--ip', '10.60.0.1', '--', 'sleep', '60'], code: 1, says: ['10.60.0.1', 'gateway'] },
  { title: 'run --ip that is no address', args: ['run', '-d', '--name', 'bad-run', '--network', 'base', '--ip', '10.60.0.300', '--', 'sleep', '60'], code: 1, says: ['10.60.0.300'] },
  { issue: true, title: 'run --ip6 on a network without IPv6', args: ['run', '-d', '--name', 'bad-run', '--network', 'base', '--ip6', 'fd00::5', '--', 'sleep', '60'], code: 1, says: ['fd00::5', '"base"'] },
  { title: 'run --ip on the default bridge', args: ['run', '-d', '--name', 'bad-run', '--ip', '172.17.0.50', '--', 'sleep', '60'], code: 1, says: ['--ip'] },
  { title: 'run on a network that does not exist', args: ['run', '-d', '--name', 'bad-run', '--network', 'nonet', '--', 'sleep', '60'], code: 1, says: ['"nonet"'] },
  // connect and disconnect
  { issue: true, title: 'connect to a network that does not exist', args: ['network', 'connect', 'nonet', 'loner'], code: 1, says: ['"nonet"'] },
  { issue: true, title: 'connect a container that does not exist', args: ['network', 'connect', 'base', 'noctr'], code: 1, says: ['"noctr"'] },
  { issue: true, title: 'connect --ip outside the subnet', args: ['network', 'connect', '--ip', '10.99.0.6', 'base', 'loner'], code: 1, says: ['10.99.0.6'] },
  { issue: true, title: 'connect --ip already used', args: ['network', 'connect', '--ip', USED, 'base', 'loner'], code: 1, says: [USED] },
  { issue: true, title: 'connect --ip6 on a network without IPv6', args: ['network', 'connect', '--ip6', 'fd00::6', 'base', 'loner'], code: 1, says: ['fd00::6'] },
  { title: 'connect --mac-address that is no MAC', args: ['network', 'connect', '--mac-address', '02:42:zz:00:00:01', 'base', 'loner'], code: 1, says: ['02:42:zz:00:00:01'] },
  { title: 'connect --gw-priority that is no number', args: ['network', 'connect', '--gw-priority', 'high', 'base', 'loner'], code: 1, says: ['"high"'] },
  { title: 'connect an exited container', args: ['network', 'connect', 'base', 'gone'], code: 1, says: ['"gone"'] },
  { issue: true, title: 'disconnect a container that is not connected', args: ['network', 'disconnect', 'base', 'loner'], code: 1, says: ['"loner"', '"base"'] },
  { title: 'disconnect from a network that does not exist', args: ['network', 'disconnect', 'nonet', 'loner'], code: 1, says: ['"nonet"'] },
  // malformed command lines
  { title: 'create without a name', args: ['network', 'create', '--subnet', '10.67.0.0/24'], code: 2, says: ["'name'"] },
  { title: 'create with an unknown flag', args: ['network', 'create', '--frobnicate', 'bad1'], code: 2, says: ['--frobnicate'] },
  { title: 'a flag without its value', args: ['network', 'create', 'bad1', '--subnet'], code: 2, says: ['--subnet'] },
  { title: 'connect without a container', args: ['network', 'connect', 'base'], code: 2, says: ["'container'"] },
  { title: 'ls with an unknown format', args: ['network', 'ls', '--format', 'yaml'], code: 2, says: ['yaml'] },
];

void describe('bad input to the network commands: refused, named, nothing changed', () => {
  let L: NetLab;
  let baseline: Snapshot;
  let cliBefore: Snapshot['cli'];
  // writes: a refusal writes nothing to the store, not even a record it undoes at once
  const watch = { sandboxes: ['occupant1', 'loner'], writes: true };

  before(async () => {
    L = await netLab('e2e networks badinput');
    const { h } = L;
    await h.berthOk(['network', 'create', '--subnet', SUBNET, 'base']);
    await startSleeper(h, 'occupant1', ['--network', 'base']);
    await startSleeper(h, 'occupant2', ['--network', 'base']);
    await startSleeper(h, 'loner');
    await h.berthOk(['run', '--name', 'gone', '--', 'true']);
    assert.equal((await ctrInspect(h, 'occupant1')).NetworkSettings.Networks.base?.IPAddress, USED);
    baseline = await snapshot(h, watch);
    cliBefore = (await snapshot(h, { cli: true })).cli;
  });
  after(async () => {
    await L?.lab.close();
  });

  // the issue's bad inputs first, then more bad values of the same commands: each one checked
  for (const c of [...CASES.filter((x) => x.issue), ...CASES.filter((x) => !x.issue)]) {
    void test(`${c.title}: exit ${c.code}, named, nothing changed`, T, async () => {
      const { h } = L;
      assertFails(await h.berth(c.args), c.code, ...c.says);
      const now = await snapshot(h, watch);
      if (!isDeepStrictEqual(now, baseline)) {
        const was = baseline;
        baseline = now; // report this case once, not every case after it
        assert.deepEqual(now, was, `berth ${c.args.join(' ')} changed the host's state`);
      }
    });
  }

  void test("after all of them, berth's own views are as before: network ls and inspect, ps -a and inspect", T, async () => {
    const now = await snapshot(L.h, { cli: true });
    assert.ok(cliBefore && now.cli);
    assert.deepEqual(now.cli, cliBefore);
    const ls = await L.h.berthJson<{ Name: string }[]>(['network', 'ls', '--format', 'json']);
    assert.deepEqual(ls.map((n) => n.Name).sort(), ['base', 'bridge']);
  });

  void test('the refused names and addresses were not kept: they can be used now', T, async () => {
    const { h } = L;
    await h.berthOk(['network', 'create', '--subnet', '10.61.0.0/24', 'bad1']);
    await h.berthOk(['run', '-d', '--name', 'bad-run', '--network', 'bad1', '--ip', '10.61.0.9', '--', 'sleep', '60']);
    assert.deepEqual((await sandboxView(h, 'bad-run')).addrs.eth0, ['10.61.0.9/24']);
    await h.berthOk(['rm', '-f', 'bad-run']);
    await h.berthOk(['network', 'rm', 'bad1']);
    const stateOnly = { sandboxes: watch.sandboxes };
    const { changes: _writes, ...storeBefore } = baseline.store;
    assert.deepEqual(await snapshot(h, stateOnly), { ...baseline, store: storeBefore }, 'and removing them leaves the host as before');
  });

  void test('on a host berth has never touched, a refused network create leaves no kernel state behind', T, async () => {
    const fresh = await L.lab.createHost('fresh');
    const before0 = (await links(fresh)).map((l) => l.ifname).sort();
    assert.deepEqual(before0, ['lo']);
    for (const args of [
      ['network', 'create', '-o', 'foo=bar', 'x1'],
      ['network', 'create', '--subnet', '10.300.0.0/24', 'x1'],
      ['network', 'create', '--subnet', '10.70.0.0/24', '--gateway', '10.71.0.1', 'x1'],
    ]) {
      assertFails(await fresh.berth(args), 1);
      assert.deepEqual((await links(fresh)).map((l) => l.ifname).sort(), before0, `berth ${args.join(' ')}: no bridge created`);
      assert.deepEqual(await nftTables(fresh), [], `berth ${args.join(' ')}: no nft table created`);
    }
  });

  void test('the accepted spellings of the same options do what they say', T, async () => {
    const { h, ext } = L;
    await h.berthOk([
      'network', 'create', '--subnet', '10.68.0.0/24', '--ip-range', '10.68.0.64/26', '--aux-address', 'printer=10.68.0.65',
      '-o', 'com.docker.network.driver.mtu=1400', '-o', 'bridge_name=brgood', '-o', 'icc=false',
      '-o', 'com.docker.network.bridge.enable_ip_masquerade=false', '-o', `com.docker.network.bridge.host_binding_ipv4=${H4}`,
      '--label', 'team=net', 'good',
    ]);
    const net = await netInspect(h, 'good');
    assert.deepEqual(net.IPAM.Config, [{ Subnet: '10.68.0.0/24', Gateway: '10.68.0.1', IPRange: '10.68.0.64/26', AuxiliaryAddresses: { printer: '10.68.0.65' } }]);
    assert.deepEqual(net.Labels, { team: 'net' });
    assert.equal(net.Options['com.docker.network.bridge.name'], 'brgood');
    assert.equal(net.Options['com.docker.network.driver.mtu'], '1400', 'short names are stored under Docker’s keys');
    assert.equal(net.Options['com.docker.network.bridge.enable_icc'], 'false');
    const br = (await links(h)).find((l) => l.ifname === 'brgood');
    assert.ok(br, 'the bridge is named brgood');
    assert.equal(br.mtu, 1400);
    await startSleeper(h, 'good1', ['--network', 'good', '-p', '8095:80']);
    const v = await sandboxView(h, 'good1');
    assert.equal(v.links.eth0?.mtu, 1400, 'the container’s interface has the network’s MTU');
    assert.deepEqual(v.addrs.eth0, ['10.68.0.64/24'], 'from the ip-range');
    await startSleeper(h, 'good2', ['--network', 'good']);
    assert.deepEqual((await sandboxView(h, 'good2')).addrs.eth0, ['10.68.0.66/24'], 'the aux address is skipped');
    assert.equal((await h.berthOk(['port', 'good1'])).stdout.trim(), `80/tcp -> ${H4}:8095`, 'host_binding_ipv4 is the default host address');
    // enable_ip_masquerade=false: ext (given a route back) sees the container's own address
    await ext.execOk(['ip', 'route', 'add', '10.68.0.0/24', 'via', H4]);
    const srv = await nodeServer(ext, [7001]);
    try {
      const t = await tcpFromCtr(h, 'good1', EXT4, 7001);
      assert.ok(t.ok, `good1 -> ext: ${t.output}`);
      assert.equal(t.peer, '10.68.0.64', 'not masqueraded');
    } finally {
      await srv.kill();
    }
  });
});
