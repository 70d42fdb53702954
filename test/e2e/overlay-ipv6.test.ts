// VXLAN over an IPv6 underlay (issue 17): two dual-stack lab hosts, etcd on host a's IPv4
// address, each daemon advertising its IPv6 address. The VXLAN devices send from the IPv6
// address, the other host's FDB entries point at it, containers ping across hosts, and the
// overlay MTU leaves room for the larger outer header (1500 - 70; the kernel refuses more): a
// full-size packet with DF set crosses the underlay whole.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Host, Lab, startEtcdCluster } from '../lab/index.js';
import type { Daemon } from './daemon-helpers.js';
import { ADDR, cliOk, runDetached, startHostDaemon, until } from './overlay-helpers.js';
import { ctrNet, ipOf, pingFrom } from './helpers.js';

const V6 = (i: number) => `fd98::${i + 1}`;

test('an overlay over an IPv6 underlay (dual-stack hosts, --advertise-addr IPv6)', { timeout: 120_000 }, async (t) => {
  const lab = await Lab.create({ label: 'bI-ipv6' });
  const daemons: (Daemon | undefined)[] = [];
  try {
    const sw = await lab.createSwitch('under');
    const hosts: Host[] = [];
    for (const name of ['a', 'b']) hosts.push(await lab.createHost(name));
    for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: [`${ADDR(i)}/24`, `${V6(i)}/64`] });
    // IPv6 duplicate address detection: wait until the addresses are usable
    for (const h of hosts) await until(`${h.name}'s IPv6 address is usable`, async () => !/tentative/.test((await h.execOk(['ip', '-6', 'addr', 'show', 'dev', 'eth0'])).stdout), 10_000);
    const [a, b] = hosts as [Host, Host];
    const etcd = await startEtcdCluster(lab, [a]);
    for (const [i, h] of hosts.entries()) daemons[i] = await startHostDaemon(h, etcd, i, V6(i));
    const netId = (await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', '10.127.0.0/24', '--attachable', 'v6u'])).stdout.trim();
    const ns: Record<string, string> = {};
    const ip: Record<string, string> = {};
    for (const h of hosts) {
      await runDetached(h, ['--name', `u${h.name}`, '--network', 'v6u', '--', 'sleep', '600']);
      ns[h.name] = await ctrNet(h, `u${h.name}`);
      ip[h.name] = await ipOf(ns[h.name] as string);
    }
    const vx = await a.execOk(['ip', '-d', 'link', 'show', `vx-${netId.slice(0, 12)}`]);
    assert.match(vx.stdout, /mtu 1430 /, `MTU 1500 - 70 (outer IPv6): ${vx.stdout}`);
    assert.match(vx.stdout, new RegExp(`local ${V6(0)} `), 'VXLAN sent from the IPv6 advertise address');
    await until('a\'s FDB points at b\'s IPv6 address', async () => (await a.execOk(['bridge', 'fdb', 'show', 'dev', `vx-${netId.slice(0, 12)}`])).stdout.includes(`dst ${V6(1)} `), 10_000);
    await until('ua pings ub', () => pingFrom(ns.a as string, ip.b as string), 10_000);
    assert.ok(await pingFrom(ns.b as string, ip.a as string), 'ub pings ua');
    // 1430 - 20 (IP) - 8 (ICMP) = 1402 bytes of payload, DF set: crosses the underlay whole
    const full = await a.exec(['nsenter', `--net=${ns.a}`, 'ping', '-c', '1', '-W', '3', '-M', 'do', '-s', '1402', ip.b as string]);
    assert.equal(full.code, 0, `a full-size packet crosses: ${full.stdout}${full.stderr}`);
    const dump = await b.spawn(['tcpdump', '-ni', 'eth0', '-c', '1', 'ip6', 'and', 'udp', 'port', '4789']);
    await until('tcpdump listens', async () => /listening on/.test(dump.stderr()), 5000);
    assert.ok(await pingFrom(ns.a as string, ip.b as string));
    await until('b sees VXLAN over IPv6', async () => !dump.running, 5000);
    assert.match(dump.stdout(), new RegExp(`${V6(0).replace(/:/g, ':')}\\.\\d+ > ${V6(1)}\\.4789: VXLAN`), dump.stdout());
    t.diagnostic(dump.stdout().trim());
  } finally {
    for (const d of daemons) await d?.proc.kill();
    await lab.close();
  }
});
