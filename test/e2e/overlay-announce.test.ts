// A container that tries an overlay address before it exists gets its first answer as soon as the
// address is programmed on its host, not at its next ARP retransmit (issue 17's convergence tail:
// Docker users see "can't reach the new container for a second or two").
//
// Two lab hosts, one etcd member, a daemon each. A prober on host b pings X before any container
// holds X: its neighbour entry for X is INCOMPLETE after one ARP request that nothing answers.
// Its retransmit interval is 30 s, so within this test only berth's announcement (a gratuitous ARP
// on the overlay bridge when the remote endpoint is programmed) can resolve it. Counted, not timed:
// the prober sends exactly one ARP request for X and gets replies.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type BackgroundProcess, type Host, Lab, runIn, startEtcdCluster } from '../lab/index.js';
import type { Daemon } from './daemon-helpers.js';
import { ADDR, cliOk, runDetached, startHostDaemon, until } from './overlay-helpers.js';
import { ctrNet } from './helpers.js';

// The same for IPv6 on a dual-stack overlay: the prober's neighbour solicitation for X6 is answered
// by berth's unsolicited neighbour advertisement (ff02::1, override) when X6 is programmed.
interface Family {
  name: string;
  /** `network create` arguments */
  subnets: string[];
  /** the address the prober waits for, and `berth run`'s flag for it */
  x: string;
  ipFlag: string;
  /** ip's and ping's family flag, the retransmit sysctl */
  flag: string;
  retrans: string;
  what: string;
}
const V4: Family = { name: 'IPv4', subnets: ['--subnet', '10.124.0.0/24'], x: '10.124.0.200', ipFlag: '--ip', flag: '-4', retrans: 'net.ipv4.neigh.eth0.retrans_time_ms', what: 'ARP request' };
const V6: Family = { name: 'IPv6', subnets: ['--ipv6', '--subnet', '10.125.0.0/24', '--subnet', 'fd00:125::/64'], x: 'fd00:125::200', ipFlag: '--ip6', flag: '-6', retrans: 'net.ipv6.neigh.eth0.retrans_time_ms', what: 'neighbour solicitation' };

/** The prober's neighbour entry for X: state words and requests sent (probes - ucast_solicit). */
async function entryOf(ns: string, fam: Family): Promise<{ line: string; requests: number; states: string[] }> {
  const line = (await runIn(ns, ['ip', '-s', fam.flag, 'neigh', 'show', fam.x, 'dev', 'eth0'], { check: true })).stdout.trim();
  const probes = /probes (\d+)/.exec(line);
  const states = line.split(/\s+/).filter((w) => /^[A-Z]+$/.test(w));
  return { line, requests: probes ? Number(probes[1]) - 3 : NaN, states };
}

for (const fam of [V4, V6]) test(`a container waiting for an overlay address is answered when it appears, without a retransmit (${fam.name})`, { timeout: 180_000 }, async () => {
  const X = fam.x;
  const lab = await Lab.create({ label: 'overlay announce' });
  const daemons: Daemon[] = [];
  let ping: BackgroundProcess | undefined;
  try {
    const sw = await lab.createSwitch('under');
    const hosts: Host[] = [];
    for (const name of ['a', 'b']) hosts.push(await lab.createHost(name));
    for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: `${ADDR(i)}/24` });
    const etcd = await startEtcdCluster(lab, [hosts[0] as Host]);
    for (const [i, h] of hosts.entries()) daemons.push(await startHostDaemon(h, etcd, i));
    const [a, b] = hosts as [Host, Host];
    await cliOk(a, ['network', 'create', '-d', 'overlay', ...fam.subnets, '--attachable', 'ova']);
    await until('ova on b', async () => (await cliOk(b, ['network', 'ls', '--format', 'json'])).stdout.includes('"ova"'));

    await runDetached(b, ['--name', 'prober', '--network', 'ova', '--', 'sleep', 'infinity']);
    const ns = await ctrNet(b, 'prober');
    await runIn(ns, ['sysctl', '-qw', `${fam.retrans}=30000`], { check: true });
    ping = await b.spawn(['nsenter', `--net=${ns}`, 'ping', fam.flag, '-n', '-i', '0.2', X]);
    await until('the prober has asked for X once, unanswered', async () => {
      const e = await entryOf(ns, fam);
      return e.states.includes('INCOMPLETE') && e.requests === 1;
    });

    const ctr = await runDetached(a, ['--name', 'target', '--network', 'ova', fam.ipFlag, X, '--', 'sleep', 'infinity']);
    const [info] = JSON.parse((await cliOk(a, ['inspect', ctr])).stdout) as { NetworkSettings: { Networks: Record<string, { MacAddress: string }> } }[];
    const mac = info?.NetworkSettings.Networks['ova']?.MacAddress;
    assert.ok(mac, 'the target has a MAC on ova');
    // b programs X's entries within a few seconds; its next ARP request would be 30 s away
    await until('the prober gets a reply from X', async () => (ping?.stdout() ?? '').includes(` bytes from ${X}`), 20_000);
    const e = await entryOf(ns, fam);
    assert.equal(e.requests, 1, `one ${fam.what} for X, answered by the announcement (entry: ${e.line})`);
    assert.match(e.line, new RegExp(`lladdr ${mac}`), 'the entry holds X\'s MAC');
  } finally {
    ping?.signal('SIGINT');
    if (ping) await ping.exited;
    for (const d of daemons) await d.proc.kill();
    await lab.close();
  }
});
