// Overlay networks under faults (issue 17): four lab hosts on one switch, a 3-member etcd cluster
// on a, b and c, a daemon per host (lease TTL 4 s). Host d carries no etcd member, so it can die,
// be cut off and change its address without touching the cluster store:
//   - d's daemon killed for good: its endpoints leave every other host's FDB, neighbour table and
//     DNS, and once its lease expired RECLAIM_AFTER seconds ago its addresses are released (a new
//     container elsewhere gets one); when it does come back, its container whose address was
//     taken is reported, never duplicated;
//   - d cut off from the underlay for longer than its lease (shorter than the grace period), then
//     reconnected: it converges back (its endpoints and addresses re-published, what it missed
//     meanwhile programmed) without a restart;
//   - d "rebooted" with a new underlay address: the others follow it to the new VTEP;
//   - the etcd leader killed during 50 attaches: each succeeds or fails cleanly, no address twice
//     (in the store and in the kernel), none leaked;
//   - all of etcd down: traffic flows, overlay attaches fail within seconds naming the store, local
//     networks work, and overlay attaches work again once etcd is back (no daemon restart).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ETCDCTL_BIN, type EtcdCluster, type Host, Lab, startEtcdCluster } from '../lab/index.js';
import type { Daemon } from './daemon-helpers.js';
import { ADDR, LOOKUP, RECLAIM_AFTER, TTL, cli, cliOk, runDetached, startHostDaemon, until } from './overlay-helpers.js';
import { NODE, assertFails, ctrNet, ipOf, pingFrom, sleep } from './helpers.js';

const SUBNET = '10.124.0.0/24';

/** d's underlay address after its "reboot". */
const D_NEW = '10.98.0.14';

const vxOf = (netId: string) => `vx-${netId.slice(0, 12)}`;

/** Remote VTEPs in h's FDB for the overlay, and the addresses in its static neighbour table. */
async function remoteState(h: Host, netId: string): Promise<{ vteps: string[]; neigh: string[] }> {
  const fdb = await h.execOk(['bridge', 'fdb', 'show', 'dev', vxOf(netId)]);
  const neigh = await h.execOk(['ip', 'neigh', 'show', 'dev', vxOf(netId), 'nud', 'permanent']);
  return {
    vteps: fdb.stdout.split('\n').flatMap((l) => / dst (\S+)/.exec(l)?.[1] ?? []),
    neigh: neigh.stdout.split('\n').flatMap((l) => /^(\S+) /.exec(l)?.[1] ?? []),
  };
}

/** What container `from` on h resolves `name` to: "addr A" or "error CODE". */
async function lookup(h: Host, from: string, name: string): Promise<string> {
  const r = await cli(h, ['exec', from, '--', NODE, '-e', LOOKUP, name], { timeoutMs: 15_000 });
  return r.stdout.trim();
}

interface IpamEntry {
  address: string;
  owner: string;
  hostId: string;
}

/** The overlay's IPAM keys and endpoint records, read straight from etcd. */
async function storeState(h: Host, etcd: EtcdCluster, netId: string): Promise<{ ipam: IpamEntry[]; endpoints: { id: string; hostId: string; ipv4: string; vtep: string }[] }> {
  const get = async (prefix: string) => {
    const r = await h.execOk([ETCDCTL_BIN, '--endpoints', etcd.runningEndpoints.join(','), '--command-timeout', '5s', 'get', '--prefix', prefix, '-w', 'json'], {
      env: { ETCDCTL_API: '3' },
      timeoutMs: 15_000,
    });
    const kvs = (JSON.parse(r.stdout) as { kvs?: { key: string; value: string }[] }).kvs ?? [];
    return kvs.map((kv) => ({ key: Buffer.from(kv.key, 'base64').toString(), value: JSON.parse(Buffer.from(kv.value, 'base64').toString()) as Record<string, string> }));
  };
  const ipamPrefix = `/berth/v1/ipam/${netId}/`;
  const ipam = (await get(ipamPrefix)).map((kv) => ({ address: kv.key.slice(ipamPrefix.length), owner: kv.value.owner ?? '', hostId: kv.value.hostId ?? '' }));
  const endpoints = (await get(`/berth/v1/endpoints/${netId}/`)).map((kv) => kv.value as { id: string; hostId: string; ipv4: string; vtep: string });
  return { ipam, endpoints };
}

/** IPv4 addresses of every container on the overlay, as each host's kernel has them. */
async function kernelAddresses(hosts: readonly Host[], netId: string): Promise<string[]> {
  const out: string[] = [];
  for (const h of hosts) {
    const [info] = JSON.parse((await cliOk(h, ['network', 'inspect', netId])).stdout) as { Containers: Record<string, { Name: string }> }[];
    for (const ctr of Object.values(info?.Containers ?? {})) out.push(await ipOf(await ctrNet(h, ctr.Name)));
  }
  return out;
}

test('overlay networks under faults: dead host, cut-off host, new address, etcd leader loss', { timeout: 300_000 }, async (t) => {
  const lab = await Lab.create({ label: 'bI-faults' });
  const daemons: (Daemon | undefined)[] = [];
  try {
    const sw = await lab.createSwitch('under');
    const hosts: Host[] = [];
    for (const name of ['a', 'b', 'c', 'd']) hosts.push(await lab.createHost(name));
    for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: `${ADDR(i)}/24` });
    const [a, b, c, d] = hosts as [Host, Host, Host, Host];
    const etcd = await startEtcdCluster(lab, [a, b, c]);
    for (const [i, h] of hosts.entries()) daemons[i] = await startHostDaemon(h, etcd, i);
    const netId = (await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', SUBNET, '--attachable', 'of1'])).stdout.trim();
    const ns: Record<string, string> = {};
    const ip: Record<string, string> = {};
    const start = async (h: Host, name: string, extra: string[] = []) => {
      await runDetached(h, ['--name', name, '--network', 'of1', ...extra, '--', 'sleep', '600']);
      ns[name] = await ctrNet(h, name);
      ip[name] = await ipOf(ns[name]);
    };
    for (const [i, h] of hosts.entries()) await start(h, `c${'abcd'[i]}`);
    for (const h of [a, b, c]) await until(`${h.name} reaches cd`, () => pingFrom(ns[`c${h.name}`] as string, ip.cd as string), 10_000);

    await t.test('a host killed for good: its endpoints leave FDB, neighbours and DNS everywhere; its addresses are released', async () => {
      for (const h of [a, b, c]) {
        const s = await remoteState(h, netId);
        assert.ok(s.vteps.includes(ADDR(3)) && s.neigh.includes(ip.cd as string), `${h.name} has d's entries: ${JSON.stringify(s)}`);
      }
      assert.equal(await lookup(a, 'ca', 'cd'), `addr ${ip.cd}`);
      daemons[3]?.proc.signal('SIGKILL');
      await daemons[3]?.proc.exited;
      daemons[3] = undefined;
      const gone = await until('every host drops d\'s FDB and neighbour entries', async () => {
        for (const h of [a, b, c]) {
          const s = await remoteState(h, netId);
          if (s.vteps.includes(ADDR(3)) || s.neigh.includes(ip.cd as string)) return false;
        }
        return true;
      }, (TTL + 10) * 1000);
      t.diagnostic(`d's entries gone from a, b and c ${gone} ms after its daemon died (TTL ${TTL} s)`);
      for (const [h, from] of [[a, 'ca'], [b, 'cb'], [c, 'cc']] as const) {
        await until(`${from} no longer resolves cd`, async () => (await lookup(h, from, 'cd')).startsWith('error'), 10_000);
      }
      // the address is released in the store: a new container on b gets it, and a reaches it there
      const released = await until('d holds no address in the store', async () => !(await storeState(a, etcd, netId)).ipam.some((e) => e.address === ip.cd), (RECLAIM_AFTER + 10) * 1000);
      t.diagnostic(`d's address released ${released} ms after its entries were gone (--cluster-reclaim-after ${RECLAIM_AFTER})`);
      await start(b, 'cb-reuse', ['--ip', ip.cd as string]);
      assert.equal(ip['cb-reuse'], ip.cd);
      assert.ok(await pingFrom(ns.ca as string, ip.cd as string, 2), 'ca reaches the address on its new host b');
      assert.equal(await lookup(c, 'cc', 'cb-reuse'), `addr ${ip.cd}`);
    });

    await t.test('the host comes back: its container whose address was taken is reported, not duplicated', async () => {
      daemons[3] = await startHostDaemon(d, etcd, 3);
      const log = () => daemons[3]?.proc.stderr() ?? '';
      await until('d reports the conflict', async () => new RegExp(`address ${ip.cd?.replace(/\./g, '\\.')} is held by`).test(log()), 10_000);
      const st = await storeState(a, etcd, netId);
      assert.equal(st.endpoints.filter((e) => e.ipv4 === ip.cd).length, 1, `one endpoint record with ${ip.cd}: ${JSON.stringify(st.endpoints)}`);
      assert.ok((await remoteState(a, netId)).vteps.every((v) => v !== ADDR(3)), 'a programs nothing for d\'s conflicting container');
      await cliOk(d, ['rm', '-f', 'cd']);
      await start(d, 'cd');
      await until('ca reaches the new cd', () => pingFrom(ns.ca as string, ip.cd as string), 10_000);
    });

    await t.test('a host cut off from the underlay for longer than its lease converges back without a restart', async () => {
      const pid = daemons[3]?.proc.pid;
      await d.execOk(['ip', 'link', 'set', 'eth0', 'down']);
      try {
        await until('the others drop d\'s entries (its lease expired)', async () => !(await remoteState(a, netId)).vteps.includes(ADDR(3)), (TTL + 10) * 1000);
        // missed by d while it is away: a new container on b
        await start(b, 'cb2');
        assert.notEqual(ip.cb2, ip.cd, 'within the grace period d\'s address is not given to another container');
      } finally {
        await d.execOk(['ip', 'link', 'set', 'eth0', 'up']);
      }
      const back = await until('ca reaches cd again', () => pingFrom(ns.ca as string, ip.cd as string), 30_000);
      t.diagnostic(`cd reachable from a ${back} ms after d's link came back`);
      await until('cd reaches cb2, started while d was cut off', () => pingFrom(ns.cd as string, ip.cb2 as string), 15_000);
      await until('cd resolves cb2', async () => (await lookup(d, 'cd', 'cb2')) === `addr ${ip.cb2}`, 10_000);
      assert.equal(daemons[3]?.proc.pid, pid, 'the same daemon process');
      const st = await storeState(a, etcd, netId);
      const dHost = st.endpoints.find((e) => e.ipv4 === ip.cd)?.hostId;
      assert.ok(dHost, `cd's endpoint record is back: ${JSON.stringify(st.endpoints)}`);
      assert.deepEqual(st.ipam.filter((e) => e.address === ip.cd).map((e) => e.hostId), [dHost], 'cd holds its address again');
    });

    await t.test('a host "rebooted" with a new underlay address: the others follow it to the new VTEP', async () => {
      await daemons[3]?.proc.kill();
      daemons[3] = undefined;
      await d.execOk(['ip', 'addr', 'del', `${ADDR(3)}/24`, 'dev', 'eth0']);
      await d.execOk(['ip', 'addr', 'add', `${D_NEW}/24`, 'dev', 'eth0']);
      daemons[3] = await startHostDaemon(d, etcd, 3, D_NEW);
      try {
        for (const h of [a, b, c]) {
          await until(`${h.name} sends to d at ${D_NEW} only`, async () => {
            const s = await remoteState(h, netId);
            return s.vteps.includes(D_NEW) && !s.vteps.includes(ADDR(3));
          }, 15_000);
        }
      } catch (err) {
        const st = await storeState(a, etcd, netId);
        t.diagnostic(`d's log:\n${daemons[3]?.proc.stderr()}\na's log:\n${daemons[0]?.proc.stderr().slice(-3000)}\nstore: ${JSON.stringify(st)}\na: ${JSON.stringify(await remoteState(a, netId))}`);
        throw err;
      }
      for (const from of ['ca', 'cb', 'cc']) await until(`${from} reaches cd at d's new address`, () => pingFrom(ns[from] as string, ip.cd as string), 10_000);
      const vx = await d.execOk(['ip', '-d', 'link', 'show', vxOf(netId)]);
      assert.match(vx.stdout, new RegExp(`local ${D_NEW.replace(/\./g, '\\.')} `), `d's VXLAN device sends from its new address: ${vx.stdout}`);
    });

    await t.test('the etcd leader killed during 50 attaches: each succeeds or fails cleanly, no address twice, none leaked', async () => {
      const leader = await etcd.leaderIndex();
      const outcomes: { host: Host; name: string; code: number | null; out: string }[] = [];
      const attaches = Array.from({ length: 50 }, async (_, i) => {
        const h = hosts[i % hosts.length] as Host;
        const r = await cli(h, ['run', '-d', '--name', `l${i}`, '--network', 'of1', '--', 'sleep', '600'], { timeoutMs: 60_000 });
        outcomes.push({ host: h, name: `l${i}`, code: r.code, out: `${r.stdout}${r.stderr}`.trim() });
      });
      await sleep(300);
      await etcd.stopMember(leader);
      t.diagnostic(`killed etcd leader ${etcd.members[leader]?.name} with ${outcomes.length} of 50 attaches done`);
      await Promise.all(attaches);
      await etcd.startMember(leader);
      const failed = outcomes.filter((o) => o.code !== 0);
      t.diagnostic(`${50 - failed.length} attaches succeeded, ${failed.length} failed: ${[...new Set(failed.map((f) => f.out.split('\n').pop()))].join(' | ')}`);
      for (const f of failed) assert.match(f.out, /cluster store|try again/, `a failed attach says why: ${f.out}`);
      // the kernel: every container on the overlay has its own address, and failed attaches left no container
      const kernel = await kernelAddresses(hosts, netId);
      assert.equal(new Set(kernel).size, kernel.length, `no address twice in the kernel: ${kernel.sort().join(' ')}`);
      assert.equal(kernel.length, 50 - failed.length + 6, 'one container per successful attach (plus the 6 from before)');
      // the store: one endpoint record per container, and an address is held exactly by the endpoints that use it
      await until('the store matches the kernel', async () => {
        const st = await storeState(a, etcd, netId);
        const held = st.ipam.map((e) => e.address).sort();
        const used = st.endpoints.map((e) => e.ipv4).sort();
        return JSON.stringify(held) === JSON.stringify(used) && JSON.stringify(used) === JSON.stringify([...kernel].sort());
      }, 15_000);
      for (const h of hosts) {
        const mine = outcomes.filter((o) => o.host === h && o.code === 0).map((o) => o.name);
        if (mine.length) await cliOk(h, ['rm', '-f', ...mine]);
      }
    });

    await t.test('all of etcd down: traffic flows, overlay attaches fail within seconds naming the store, local networks work; back without a restart', async () => {
      await etcd.stopAll();
      try {
        assert.ok(await pingFrom(ns.ca as string, ip.cd as string, 2), 'cross-host traffic keeps flowing');
        const started = Date.now();
        const r = await cli(b, ['run', '--rm', '--network', 'of1', '--', 'true'], { timeoutMs: 30_000 });
        const took = Date.now() - started;
        t.diagnostic(`overlay attach with etcd down failed after ${took} ms: ${r.stderr.trim()}`);
        assertFails(r, 3, 'cluster store unreachable (etcd at 10.98.0.1:2379');
        assert.ok(took < 15_000, `failed within seconds, not at a timeout: ${took} ms`);
        await cliOk(b, ['network', 'create', 'bI-local']);
        const loc = await runDetached(b, ['--network', 'bI-local', '--', 'sleep', '600']);
        assert.ok(await ipOf(await ctrNet(b, loc)));
        await cliOk(b, ['rm', '-f', loc]);
        await cliOk(b, ['network', 'rm', 'bI-local']);
      } finally {
        await etcd.startMember(0, { wait: false });
        await etcd.startMember(1, { wait: false });
        await etcd.startMember(2);
      }
      await until('overlay attaches work again', async () => (await cli(b, ['run', '--rm', '--network', 'of1', '--', 'true'], { timeoutMs: 30_000 })).code === 0, 30_000);
      assert.equal(daemons.every((dm) => dm?.proc.running), true, 'no daemon restarted');
    });
  } finally {
    for (const dm of daemons) await dm?.proc.kill();
    await lab.close();
  }
});
