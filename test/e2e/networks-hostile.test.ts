// End to end, hostile input to networks and containers (issue 11, items 6 and 18), in the
// style of networks-badinput: every case exits 1, names the value and what is accepted, and
// changes nothing (store, host links/addresses/routes, nft, the watched containers).
// Item 6: an explicit --subnet is checked against the host (the uplink's own subnet, loopback,
// "this network", multicast, reserved, IPv4-mapped, link-local, ::/0, /32 and /128); a macvlan
// network on the host's LAN may not take the host's address as its gateway or in its ip-range.
// Item 18: broadcast, all-zero and multicast MACs; -o parent=lo, berth0 (berth's own), a tun
// device (not Ethernet); messages never carry raw control bytes. Before, these were exit 3
// (kernel errors), or accepted. The same through the REST API: 400, never 500.
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { VIA_DAEMON } from '../lab/index.js';
import { type Daemon, api, socketOf, startDaemon, stopDaemon } from './daemon-helpers.js';
import { type NetLab, type Snapshot, assertFails, netLab, sandboxView, snapshot, startSleeper } from './networks-helpers.js';

const T = { timeout: 60_000 };
const ESC = '\u001b';
// eslint-disable-next-line no-control-regex -- looking for them is the point
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

interface Case {
  title: string;
  args: string[];
  /** what the message must name */
  says: (string | RegExp)[];
  code?: 1 | 2;
}

const mv = (...rest: string[]) => ['network', 'create', '-d', 'macvlan', ...rest];
const run = (...rest: string[]) => ['run', '-d', '--name', 'bad-run', ...rest, '--', 'sleep', '60'];

const CASES: Case[] = [
  // item 6: the host's own subnets
  { title: "the uplink's own subnet", args: ['network', 'create', '--subnet', '10.200.0.0/24', 'bad1'], says: ['"10.200.0.0/24"', 'eth0', 'this host uses'] },
  { title: "a block inside the uplink's subnet", args: ['network', 'create', '--subnet', '10.200.0.128/25', 'bad1'], says: ['10.200.0.128/25', '10.200.0.0/24'] },
  { title: "a block containing the uplink's subnet", args: ['network', 'create', '--subnet', '10.0.0.0/8', 'bad1'], says: ['10.0.0.0/8', 'eth0'] },
  { title: "the uplink's IPv6 subnet", args: ['network', 'create', '--ipv6', '--subnet', 'fd99::/64', 'bad1'], says: ['fd99::/64', 'eth0'] },
  { title: 'an internal macvlan network on the uplink subnet', args: mv('--subnet', '10.200.0.0/24', 'bad1'), says: ['10.200.0.0/24', 'eth0'] },
  // item 6: special-purpose blocks
  { title: 'loopback 127.0.0.0/8', args: ['network', 'create', '--subnet', '127.0.0.0/8', 'bad1'], says: ['"127.0.0.0/8"', 'loopback'] },
  { title: 'a block of loopback', args: ['network', 'create', '--subnet', '127.5.0.0/16', 'bad1'], says: ['127.5.0.0/16', 'loopback'] },
  { title: '"this network" 0.0.0.0/8', args: ['network', 'create', '--subnet', '0.0.0.0/8', 'bad1'], says: ['0.0.0.0/8'] },
  { title: 'multicast', args: ['network', 'create', '--subnet', '224.1.0.0/16', 'bad1'], says: ['224.1.0.0/16', 'multicast'] },
  { title: 'reserved 240/4', args: ['network', 'create', '--subnet', '240.0.0.0/24', 'bad1'], says: ['240.0.0.0/24', 'reserved'] },
  { title: 'a /32 with no address for a container', args: ['network', 'create', '--subnet', '10.71.0.5/32', 'bad1'], says: ['10.71.0.5/32', 'no address left'] },
  { title: 'IPv4-mapped ::ffff:0:0/96', args: ['network', 'create', '--ipv6', '--subnet', '::ffff:0:0/96', 'bad1'], says: ['::ffff:0:0/96', 'IPv4-mapped'] },
  { title: 'a mapped IPv4 block', args: ['network', 'create', '--ipv6', '--subnet', '::ffff:10.1.0.0/120', 'bad1'], says: ['IPv4-mapped'] },
  { title: '::/0', args: ['network', 'create', '--ipv6', '--subnet', '::/0', 'bad1'], says: ['"::/0"'] },
  { title: '::1/128', args: ['network', 'create', '--ipv6', '--subnet', '::1/128', 'bad1'], says: ['"::1/128"', 'loopback'] },
  { title: 'IPv6 link-local', args: ['network', 'create', '--ipv6', '--subnet', 'fe80::/64', 'bad1'], says: ['fe80::/64', 'link-local'] },
  { title: 'IPv6 multicast', args: ['network', 'create', '--ipv6', '--subnet', 'ff05::/64', 'bad1'], says: ['ff05::/64', 'multicast'] },
  { title: 'a /128 with no address for a container', args: ['network', 'create', '--ipv6', '--subnet', 'fd00:71::5/128', 'bad1'], says: ['fd00:71::5/128', 'no address left'] },
  { title: 'a macvlan gateway that is the host itself', args: mv('--subnet', '10.200.0.0/24', '--gateway', '10.200.0.1', '-o', 'parent=eth0', 'bad1'), says: ['"10.200.0.1"', "host's own address"] },
  { title: "a macvlan ip-range holding the host's address", args: mv('--subnet', '10.200.0.0/24', '--gateway', '10.200.0.2', '--ip-range', '10.200.0.0/28', '-o', 'parent=eth0', 'bad1'), says: ['10.200.0.0/28', "host's own address"] },
  // item 18: MACs
  { title: 'run --mac-address broadcast', args: run('--mac-address', 'ff:ff:ff:ff:ff:ff'), says: ['ff:ff:ff:ff:ff:ff', 'broadcast'] },
  { title: 'run --mac-address all zeros', args: run('--mac-address', '00:00:00:00:00:00'), says: ['00:00:00:00:00:00', 'zeros'] },
  { title: 'run --mac-address IPv4 multicast', args: run('--network', 'base', '--mac-address', '01:00:5E:00:00:01'), says: ['01:00:5E:00:00:01', 'multicast'] },
  { title: 'run --mac-address IPv6 multicast', args: run('--mac-address', '33:33:00:00:00:01'), says: ['33:33:00:00:00:01', 'multicast'] },
  { title: 'connect --mac-address broadcast', args: ['network', 'connect', '--mac-address', 'ff:ff:ff:ff:ff:ff', 'base', 'loner'], says: ['ff:ff:ff:ff:ff:ff'] },
  // item 18: parents
  { title: 'macvlan -o parent=lo', args: mv('--subnet', '10.73.0.0/24', '-o', 'parent=lo', 'bad1'), says: ['"lo"', 'loopback'] },
  { title: 'macvlan -o parent=berth0', args: mv('--subnet', '10.73.0.0/24', '-o', 'parent=berth0', 'bad1'), says: ['"berth0"', "berth's own"] },
  { title: "macvlan -o parent=a network's bridge", args: mv('--subnet', '10.73.0.0/24', '-o', 'parent=brbase', 'bad1'), says: ['"brbase"', "berth's own"] },
  { title: 'macvlan -o parent=a tun device', args: mv('--subnet', '10.73.0.0/24', '-o', 'parent=tun0', 'bad1'), says: ['"tun0"', 'not an Ethernet'] },
  { title: 'NAT-free bridge -o parent=lo', args: ['network', 'create', '--subnet', '10.73.0.0/24', '--gateway', '10.73.0.1', '-o', 'parent=lo', 'bad1'], says: ['"lo"', 'loopback'] },
  { title: 'NAT-free bridge -o parent=berth0', args: ['network', 'create', '--subnet', '10.73.0.0/24', '--gateway', '10.73.0.1', '-o', 'parent=berth0', 'bad1'], says: ['"berth0"', "berth's own"] },
  { title: 'NAT-free bridge -o parent=a tun device', args: ['network', 'create', '--subnet', '10.73.0.0/24', '--gateway', '10.73.0.1', '-o', 'parent=tun0', 'bad1'], says: ['"tun0"', 'not an Ethernet'] },
  // item 18: control bytes are never echoed raw
  { title: 'a network name with a terminal escape', args: ['network', 'create', `bad${ESC}[2Jname`], says: ['"bad\\u001b[2Jname"'] },
  { title: 'a container name with an OSC title escape', args: run('--name', `x${ESC}]0;pwned\u0007`), says: ['\\u001b]0;pwned\\u0007'] },
  { title: 'an option key with an escape and a newline', args: ['network', 'create', '-o', `foo${ESC}[31m\nforged=1`, 'bad1'], says: ['\\u001b[31m\\nforged'] },
  { title: 'a MAC with C1 control bytes', args: run('--mac-address', '02:42:\u009b31m:00'), says: ['\\u009b31m'] },
  { title: 'an unknown flag with an escape', args: ['network', 'create', `--frob${ESC}[2J`, 'bad1'], code: 2, says: ['\\u001b[2J'] },
];

void describe('hostile subnets, MACs, parents and control bytes: refused (exit 1 / 400), named, nothing changed', () => {
  let L: NetLab;
  let baseline: Snapshot;
  let d: Daemon | undefined;
  const watch = { sandboxes: ['loner'] };

  before(async () => {
    L = await netLab('e2e networks hostile');
    const { h } = L;
    await h.execOk(['ip', 'tuntap', 'add', 'dev', 'tun0', 'mode', 'tun']);
    await h.berthOk(['network', 'create', '--subnet', '10.60.0.0/24', '-o', 'bridge_name=brbase', 'base']);
    await startSleeper(h, 'loner');
    // the API cases need a daemon (the suite's via-daemon pass has one already)
    if (!VIA_DAEMON) d = await startDaemon(h);
    // the new links settle (IPv6 link-local addresses, operstate) before the baseline is taken
    baseline = await snapshot(h, watch);
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, 250));
      const again = await snapshot(h, watch);
      if (isDeepStrictEqual(again, baseline)) break;
      baseline = again;
    }
  });
  after(async () => {
    await stopDaemon(d).catch(() => undefined);
    await L?.lab.close();
  });

  for (const c of CASES) {
    void test(`${c.title}: exit ${c.code ?? 1}, named, nothing changed`, T, async () => {
      const { h } = L;
      const r = await h.berth(c.args);
      assertFails(r, c.code ?? 1, ...c.says);
      assert.ok(!RAW_CONTROL.test(r.stderr), `no raw control byte in: ${JSON.stringify(r.stderr)}`);
      if ((c.code ?? 1) === 1) assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
      const now = await snapshot(h, watch);
      if (!isDeepStrictEqual(now, baseline)) {
        const was = baseline;
        baseline = now;
        assert.deepEqual(now, was, `berth ${c.args.join(' ')} changed the host's state`);
      }
    });
  }

  void test('through the REST API: 400 with the field named and escaped, never 500; nothing changed', T, async () => {
    const sock = socketOf(L.h);
    const net = (Name: string, Subnet: string, extra: Record<string, unknown> = {}) => ({ Name, IPAM: { Config: [{ Subnet }] }, ...extra });
    const bodies: [string, unknown, RegExp][] = [
      ['/networks/create', net('api1', '127.0.0.0/8'), /127\.0\.0\.0\/8.*loopback/],
      ['/networks/create', net('api2', '::/0', { EnableIPv6: true }), /"::\/0"/],
      ['/networks/create', net('api3', '10.200.0.0/24'), /10\.200\.0\.0\/24.*this host uses/],
      ['/networks/create', net('api4', '::ffff:0:0/96', { EnableIPv6: true }), /IPv4-mapped/],
      ['/networks/create', { Name: 'api5', Driver: 'macvlan', Options: { parent: 'lo' }, IPAM: { Config: [{ Subnet: '10.74.0.0/24' }] } }, /"lo".*loopback/],
      ['/networks/create', { Name: `api${ESC}[2J` }, /api\\u001b\[2J/],
      ['/containers/create', { Cmd: ['sleep', '60'], MacAddress: 'ff:ff:ff:ff:ff:ff' }, /broadcast/],
      ['/networks/base/connect', { Container: 'loner', EndpointConfig: { MacAddress: '01:00:5e:00:00:01' } }, /multicast/],
    ];
    for (const [path, body, pattern] of bodies) {
      const r = await api(sock, 'POST', path, body);
      assert.equal(r.status, 400, `POST ${path} ${JSON.stringify(body)}: ${r.status} ${r.text}`);
      const message = (JSON.parse(r.text) as { message: string }).message;
      assert.match(message, pattern);
      assert.ok(!RAW_CONTROL.test(message) && !message.includes('\n'), `no raw control byte: ${JSON.stringify(message)}`);
    }
    assert.deepEqual(await snapshot(L.h, watch), baseline, 'the API requests changed nothing');
  });

  void test('what stays accepted: a /31 (point-to-point), a macvlan network on the LAN with its router as gateway, a unicast MAC', T, async () => {
    const { h } = L;
    await h.berthOk(['network', 'create', '--subnet', '10.72.0.0/31', 'p2p']);
    await startSleeper(h, 'p2p1', ['--network', 'p2p', '--mac-address', '02:42:0a:48:00:01']);
    const v = await sandboxView(h, 'p2p1');
    assert.deepEqual(v.addrs.eth0, ['10.72.0.1/31'], 'the one address after the gateway');
    assert.equal(v.links.eth0?.mac, '02:42:0a:48:00:01');
    await h.berthOk(['rm', '-f', 'p2p1']);
    await h.berthOk(['network', 'rm', 'p2p']);
    await h.berthOk(mv('--subnet', '10.200.0.0/24', '--gateway', '10.200.0.2', '--ip-range', '10.200.0.128/25', '-o', 'parent=eth0', 'lanmv'));
    await h.berthOk(['network', 'rm', 'lanmv']);
    assert.deepEqual(await snapshot(h, watch), baseline, 'and removing them leaves the host as before');
  });
});
