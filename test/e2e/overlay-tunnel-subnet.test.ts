// A configurable WireGuard tunnel subnet (issue 17): `berth daemon --tunnel-subnet CIDR` on the
// first daemon of a cluster writes it once in etcd; later daemons without the flag take it, one
// with another value refuses to join, naming both. Bad values are refused at the start and change
// nothing. `berth system tunnel-subnet CIDR` changes it on every host, refused while an encrypted
// network exists. With 100.80.0.0/16 an encrypted overlay works across hosts with real packets, the
// underlay carries only WireGuard (no VXLAN, not the payload), and berth's guard rule on every
// host drops tunnel-subnet VXLAN leaving through anything but WireGuard, also after a flush.
import assert from 'node:assert/strict';
import { isDeepStrictEqual } from 'node:util';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BERTH_BIN, ETCDCTL_BIN, type ExecResult, type Host, Lab, type Switch, startEtcdCluster } from '../lab/index.js';
import { startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { ADDR, TTL, cli, cliOk, runDetached, until } from './overlay-helpers.js';
import { NODE, assertFails, ctrNet, ipOf, pingFrom, sleep } from './helpers.js';

const SUBNET = '100.80.0.0/16';
/** what the cluster's tunnel subnet is changed to */
const NEXT = '100.81.0.0/16';
const PATTERN = 'feedfacecafe';

function wireguardAvailable(): boolean {
  return existsSync('/usr/bin/wireguard-go') || existsSync('/sys/module/wireguard');
}

/** UDP frames on the switch while fn runs: tcpdump's lines, and how often the payload pattern appears. */
async function captureUnderlay(sw: Switch, dir: string, name: string, fn: () => Promise<void>): Promise<{ lines: string[]; hits: number }> {
  const file = join(dir, `${name}.pcap`);
  const dump = await sw.underlay.spawn(['tcpdump', '-Z', 'root', '--immediate-mode', '-ni', sw.bridge, '-U', '-w', file, 'udp']);
  await until('tcpdump listens', async () => /listening on/.test(dump.stderr()), 5000);
  await fn();
  await sleep(300);
  await dump.kill();
  const raw = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
  const needle = Buffer.from(PATTERN + PATTERN, 'hex');
  let hits = 0;
  for (let i = raw.indexOf(needle); i >= 0; i = raw.indexOf(needle, i + 1)) hits++;
  const text = await sw.underlay.exec(['tcpdump', '-nr', file]);
  return { lines: text.stdout.split('\n').filter((l) => l.trim() !== ''), hits };
}

/** The block berth's guard rule drops VXLAN for, on host h (undefined: no guard chain). */
async function guardedBlocks(h: Host): Promise<string[] | undefined> {
  const r = await h.exec(['nft', 'list', 'chain', 'inet', 'berth', 'encrypted_guard']);
  if (r.code !== 0) return undefined;
  return [...r.stdout.matchAll(/ip [sd]addr ([0-9./]+) .*udp dport 4789|udp dport 4789 .*ip [sd]addr ([0-9./]+)/g)].map((m) => m[1] ?? m[2] ?? '');
}

test('a configurable tunnel subnet for encrypted overlays', { timeout: 300_000 }, async (t) => {
  if (!wireguardAvailable()) return void t.skip('neither kernel WireGuard nor wireguard-go is available on this machine');
  const lab = await Lab.create({ label: 'tsub' });
  const daemons: Daemon[] = [];
  const capDir = mkdtempSync(join(tmpdir(), 'berth-tsub-'));
  try {
    const sw = await lab.createSwitch('under');
    const hosts: Host[] = [];
    for (const name of ['a', 'b', 'c']) hosts.push(await lab.createHost(name));
    for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: `${ADDR(i)}/24` });
    const etcd = await startEtcdCluster(lab, [hosts[0] as Host]);
    const [a, b, c] = hosts as [Host, Host, Host];
    const store = `etcd://${etcd.members.map((m) => m.endpoint).join(',')}`;
    const clusterArgs = (i: number) => ['--cluster-store', store, '--advertise-addr', ADDR(i), '--cluster-lease-ttl', String(TTL)];
    const storedSubnet = async () => (await a.execOk([ETCDCTL_BIN, `--endpoints=${etcd.endpoints.join(',')}`, 'get', '--print-value-only', '/berth/v1/config/tunnel-subnet'])).stdout.trim();
    // unary KV requests (Range, Txn, Put, DeleteRange…) the etcd member handled, from its /metrics
    const kvCalls = async (): Promise<Map<string, number>> => {
      const m = new Map<string, number>();
      for (const member of etcd.members) {
        const r = await member.host.execOk(['curl', '-s', '--max-time', '5', `http://${member.endpoint}/metrics`]);
        for (const line of r.stdout.split('\n')) {
          const call = /^grpc_server_handled_total\{grpc_code="[^"]*",grpc_method="([^"]+)",grpc_service="etcdserverpb\.KV",grpc_type="unary"\} (\S+)$/.exec(line);
          if (call) m.set(call[1] as string, (m.get(call[1] as string) ?? 0) + Number(call[2]));
        }
      }
      return m;
    };
    const diff = (before: Map<string, number>, after: Map<string, number>): Record<string, number> =>
      Object.fromEntries([...after].map(([k, v]): [string, number] => [k, v - (before.get(k) ?? 0)]).filter(([, v]) => v !== 0));
    const daemonOnce = (h: Host, i: number, extra: string[]): Promise<ExecResult> =>
      h.exec([NODE, BERTH_BIN, 'daemon', '--api', `unix://${join(h.runDir, 'once.sock')}`, ...clusterArgs(i), ...extra], { timeoutMs: 20_000 });

    await t.test('bad --tunnel-subnet values are refused at the start, naming the flag, the problem and what is accepted; nothing changes', async () => {
      const accepted = 'accepted: an IPv4 block in CIDR notation with a prefix length from /8 to /24';
      const cases: [string[], string][] = [
        [['--tunnel-subnet', 'bogus'], 'invalid --tunnel-subnet "bogus": expected CIDR notation'],
        [['--tunnel-subnet', '100.80.0.0/25'], 'invalid --tunnel-subnet "100.80.0.0/25": prefix length /25 leaves room for too few hosts'],
        [['--tunnel-subnet', 'fd00:1::/64'], 'invalid --tunnel-subnet "fd00:1::/64": it is not IPv4'],
        [['--tunnel-subnet', '100.80.0.9/16'], 'host bits are set; it should be 100.80.0.0/16'],
        [['--tunnel-subnet', '10.200.0.0/16'], 'invalid --tunnel-subnet "10.200.0.0/16": it overlaps the overlay address pool 10.0.0.0/8'],
        [['--tunnel-subnet', '10.98.0.0/24'], 'it overlaps the overlay address pool'],
      ];
      for (const [extra, why] of cases) assertFails(await daemonOnce(a, 0, extra), 1, why, accepted);
      assertFails(await a.exec([NODE, BERTH_BIN, 'daemon', '--api', `unix://${join(a.runDir, 'once.sock')}`, '--tunnel-subnet', SUBNET], { timeoutMs: 20_000 }), 1, '--tunnel-subnet is a cluster setting');
      assert.equal(await storedSubnet(), '', 'nothing written in the cluster store');
      for (const h of hosts) assert.equal(await guardedBlocks(h), undefined, `no firewall made on ${h.name}`);
    });

    await t.test('the first daemon writes the tunnel subnet; a daemon without the flag takes it; both guard it', async () => {
      daemons.push(await startDaemon(a, { args: [...clusterArgs(0), '--tunnel-subnet', SUBNET] }));
      await until('a joins', async () => /cluster: joined/.test(daemons[0]?.proc.stderr() ?? ''));
      assert.equal(await storedSubnet(), JSON.stringify(SUBNET));
      daemons.push(await startDaemon(b, { args: clusterArgs(1) }));
      await until('b joins', async () => /cluster: joined/.test(daemons[1]?.proc.stderr() ?? ''));
      assert.match(daemons[1]?.proc.stderr() ?? '', /cluster: tunnel subnet 100\.80\.0\.0\/16 \(the cluster's\), was 198\.18\.0\.0\/16/);
    });

    await t.test('an encrypted overlay over 100.80.0.0/16: real packets across hosts, only WireGuard on the underlay', async () => {
      const netId = (await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', '10.126.0.0/24', '--attachable', '-o', 'encrypted', 'tsn'])).stdout.trim();
      for (const h of [a, b]) {
        await until(`tsn on ${h.name}`, async () => (await h.exec(['ip', 'link', 'show', `vx-${netId.slice(0, 12)}`])).code === 0);
        // installed with the network's bridge, before its VXLAN device
        assert.deepEqual(await guardedBlocks(h), [SUBNET, SUBNET], `${h.name}'s guard rule holds the cluster's tunnel subnet`);
      }
      const ids = [await runDetached(a, ['--name', 'ta', '--network', 'tsn', '--', 'sleep', '600']), await runDetached(b, ['--name', 'tb', '--network', 'tsn', '--', 'sleep', '600'])];
      const nsA = await ctrNet(a, ids[0] as string);
      const ipB = await ipOf(await ctrNet(b, ids[1] as string));
      for (const h of [a, b]) {
        const vx = await h.execOk(['ip', '-d', 'link', 'show', `vx-${netId.slice(0, 12)}`]);
        assert.match(vx.stdout, /vxlan id \d+ local 100\.80\.\d+\.\d+ /, `${h.name}'s VTEP is its tunnel address in ${SUBNET}`);
      }
      await until(`ta pings tb (${ipB})`, () => pingFrom(nsA, ipB), 20_000);
      const cap = await captureUnderlay(sw, capDir, 'enc', async () => {
        const r = await a.exec(['nsenter', `--net=${nsA}`, 'ping', '-n', '-c', '5', '-i', '0.2', '-W', '1', '-s', '200', '-p', PATTERN, ipB], { timeoutMs: 20_000 });
        assert.match(r.stdout, / 0% packet loss/, r.stdout);
      });
      const wg = cap.lines.filter((l) => /\.51820 > [0-9.]+\.51820: UDP/.test(l));
      const vxlan = cap.lines.filter((l) => /\.4789: VXLAN|\.4789: UDP/.test(l));
      t.diagnostic(`underlay: ${cap.lines.length} UDP packets, ${wg.length} WireGuard, ${vxlan.length} VXLAN, pattern ${cap.hits}`);
      assert.ok(wg.length >= 8, `WireGuard between the hosts:\n${cap.lines.slice(0, 20).join('\n')}`);
      assert.equal(vxlan.length, 0, `no VXLAN on the underlay:\n${vxlan.slice(0, 10).join('\n')}`);
      assert.equal(cap.hits, 0, 'the payload pattern never on the underlay');
    });

    await t.test('fail closed: tunnel-subnet VXLAN routed out through the underlay is dropped by the guard', async () => {
      // host a's route to b's tunnel address through the underlay: without the guard the VXLAN would leave in clear
      const wgB = (await b.execOk(['ip', '-o', '-4', 'addr', 'show'])).stdout.match(/inet (100\.80\.\d+\.\d+)\//)?.[1];
      assert.ok(wgB, "b's tunnel address");
      const nsA = await ctrNet(a, 'ta');
      const ipB = await ipOf(await ctrNet(b, 'tb'));
      await a.execOk(['ip', 'route', 'add', `${wgB}/32`, 'via', ADDR(1), 'dev', 'eth0', 'metric', '1']);
      const wgDev = (await a.execOk(['ip', '-o', 'link', 'show'])).stdout.match(/\d+: (wgb-[0-9a-f]{8})/)?.[1] as string;
      // the more specific route wins over the WireGuard device's /16
      const cap = await captureUnderlay(sw, capDir, 'leak', async () => {
        await a.exec(['nsenter', `--net=${nsA}`, 'ping', '-n', '-c', '3', '-i', '0.2', '-W', '1', '-s', '200', '-p', PATTERN, ipB], { timeoutMs: 20_000 });
      });
      await a.execOk(['ip', 'route', 'del', `${wgB}/32`, 'via', ADDR(1), 'dev', 'eth0', 'metric', '1']);
      const vxlan = cap.lines.filter((l) => /\.4789: VXLAN|\.4789: UDP/.test(l));
      assert.equal(vxlan.length, 0, `nothing leaves through the underlay:\n${vxlan.join('\n')}`);
      assert.equal(cap.hits, 0);
      const counters = await a.execOk(['nft', 'list', 'chain', 'inet', 'berth', 'encrypted_guard']);
      assert.match(counters.stdout, /counter packets [1-9]/, `the guard counted the drops (${wgDev}):\n${counters.stdout}`);
      // the table flushed: put back with the same block
      await a.execOk(['nft', 'delete', 'table', 'inet', 'berth']);
      await cliOk(a, ['network', 'ls']);
      await until('guard back on a', async () => (await guardedBlocks(a))?.join() === `${SUBNET},${SUBNET}`, 10_000);
    });

    await t.test('changing the tunnel subnet: refused while an encrypted network exists (nothing changes), then done on every host', async () => {
      assertFails(await cli(a, ['system', 'tunnel-subnet', '100.81.0.0/25']), 1, 'invalid tunnel subnet "100.81.0.0/25": prefix length /25 leaves room for too few hosts');
      assertFails(await cli(a, ['system', 'tunnel-subnet', NEXT]), 1, "the tunnel subnet cannot change while encrypted overlay networks exist (tsn): remove them first, then change it (it stays 100.80.0.0/16)");
      assert.equal(await storedSubnet(), JSON.stringify(SUBNET));
      for (const h of [a, b]) {
        assert.deepEqual(await guardedBlocks(h), [SUBNET, SUBNET], `${h.name}'s guard unchanged`);
        assert.equal((await cliOk(h, ['system', 'tunnel-subnet'])).stdout.trim(), SUBNET);
      }
      await cliOk(a, ['rm', '-f', 'ta']);
      await cliOk(b, ['rm', '-f', 'tb']);
      await cliOk(a, ['network', 'rm', 'tsn']);
      await until('tsn gone on b', async () => (await cli(b, ['network', 'inspect', 'tsn'])).code !== 0);
      assert.equal((await cliOk(a, ['system', 'tunnel-subnet', NEXT])).stdout.trim(), `tunnel subnet ${NEXT} (was ${SUBNET})`);
      assert.equal(await storedSubnet(), JSON.stringify(NEXT));
      assert.deepEqual(await guardedBlocks(a), [NEXT, NEXT], "a's guard re-rendered before the command returned");
      await until("b takes the cluster's new tunnel subnet", async () => (await guardedBlocks(b))?.join() === `${NEXT},${NEXT}`, 10_000);
      assert.equal((await cliOk(b, ['system', 'tunnel-subnet'])).stdout.trim(), NEXT);
      // an encrypted overlay again, over the new block
      const netId = (await cliOk(b, ['network', 'create', '-d', 'overlay', '--subnet', '10.126.1.0/24', '--attachable', '-o', 'encrypted', 'tsn2'])).stdout.trim();
      for (const h of [a, b]) await until(`tsn2 on ${h.name}`, async () => (await h.exec(['ip', 'link', 'show', `vx-${netId.slice(0, 12)}`])).code === 0);
      const ids = [await runDetached(a, ['--name', 'ua', '--network', 'tsn2', '--', 'sleep', '600']), await runDetached(b, ['--name', 'ub', '--network', 'tsn2', '--', 'sleep', '600'])];
      for (const h of [a, b]) {
        const vx = await h.execOk(['ip', '-d', 'link', 'show', `vx-${netId.slice(0, 12)}`]);
        assert.match(vx.stdout, /vxlan id \d+ local 100\.81\.\d+\.\d+ /, `${h.name}'s VTEP is in ${NEXT}`);
      }
      const nsA = await ctrNet(a, ids[0] as string);
      const ipB = await ipOf(await ctrNet(b, ids[1] as string));
      await until(`ua pings ub (${ipB})`, () => pingFrom(nsA, ipB), 20_000);
      const cap = await captureUnderlay(sw, capDir, 'next', async () => {
        const r = await a.exec(['nsenter', `--net=${nsA}`, 'ping', '-n', '-c', '5', '-i', '0.2', '-W', '1', '-s', '200', '-p', PATTERN, ipB], { timeoutMs: 20_000 });
        assert.match(r.stdout, / 0% packet loss/, r.stdout);
      });
      assert.equal(cap.lines.filter((l) => /\.4789: VXLAN|\.4789: UDP/.test(l)).length, 0, 'no VXLAN on the underlay');
      assert.equal(cap.hits, 0);
      // a detach through the daemon is one etcd request: the record and its address claim in one
      // transaction. The count is the member's, so another host's background request (its mesh
      // following the new network) can land in the window: up to three tries, one must be exact.
      const seen: Record<string, number>[] = [];
      for (let attempt = 0; attempt < 3; attempt++) {
        if (attempt > 0) await cliOk(a, ['network', 'connect', 'tsn2', 'ua']);
        const before = await kvCalls();
        await cliOk(a, ['network', 'disconnect', 'tsn2', 'ua']);
        seen.push(diff(before, await kvCalls()));
        if (isDeepStrictEqual(seen.at(-1), { Txn: 1 })) break;
      }
      t.diagnostic(`etcd KV requests for one network disconnect: ${seen.map((c) => JSON.stringify(c)).join(', ')}`);
      assert.deepEqual(seen.at(-1), { Txn: 1 }, `every try made more requests than the detach's one: ${JSON.stringify(seen)}`);
    });

    await t.test('a daemon given another --tunnel-subnet refuses to join, naming both values', async () => {
      const d = await startDaemon(c, { args: [...clusterArgs(2), '--tunnel-subnet', '100.90.0.0/16'] });
      daemons.push(d);
      const want = "cluster: refused to join: --tunnel-subnet 100.90.0.0/16 differs from the cluster's tunnel subnet 100.81.0.0/16 (written by the first daemon to join); start this daemon with --tunnel-subnet 100.81.0.0/16, or without the flag";
      await until('c refuses', async () => d.proc.stderr().includes(want), 15_000);
      assert.doesNotMatch(d.proc.stderr(), /cluster: joined/);
      assertFails(await cli(c, ['network', 'create', '-d', 'overlay', 'nope']), 1, '--tunnel-subnet 100.90.0.0/16 differs from the cluster\'s tunnel subnet 100.81.0.0/16');
      assert.equal(await storedSubnet(), JSON.stringify(NEXT), 'the cluster keeps its value');
      assert.doesNotMatch((await cliOk(a, ['network', 'ls'])).stdout, /nope/);
      // a host that joined (its copy now 100.81.0.0/16) refuses another value at once, before etcd
      await stopDaemon(daemons[1]);
      assertFails(await daemonOnce(b, 1, ['--tunnel-subnet', '100.90.0.0/16']), 1, "--tunnel-subnet 100.90.0.0/16 differs from the cluster's tunnel subnet 100.81.0.0/16 that this host joined with");
      assert.deepEqual(await guardedBlocks(b), [NEXT, NEXT], "b's guard unchanged");
      // with no daemon, a command that puts berth's table back renders the guard from the local copy
      await b.execOk(['nft', 'delete', 'table', 'inet', 'berth']);
      assert.equal(await guardedBlocks(b), undefined);
      await b.execOk([NODE, BERTH_BIN, 'network', 'create', 'lb']);
      assert.deepEqual(await guardedBlocks(b), [NEXT, NEXT], "b's guard rendered without a daemon");
    });
  } finally {
    for (const d of daemons) await stopDaemon(d).catch(() => undefined);
    rmSync(capDir, { recursive: true, force: true });
    await lab.close();
  }
});
