// The cluster store against a real 3-member etcd cluster in a lab: three hosts on one switch,
// one etcd member and one store client process per host (each in its host's netns). Checks the
// guarantees the overlay driver builds on: no address or VNI handed out twice, one winner per
// network name, watches that survive a member's death, lease expiry of a dead host's endpoints,
// resync after restart, and a quick, clear failure when no member answers.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ClusterEndpointRecord, ClusterNetworkRecord, NewClusterEndpoint } from '../../src/store/cluster.js';
import { type BackgroundProcess, type EtcdCluster, type Host, startEtcdCluster, withLab } from '../lab/index.js';

const WORKER = fileURLToPath(new URL('./fixtures/cluster-worker.js', import.meta.url));
const TTL = 5;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const hex = () => randomBytes(32).toString('hex');

interface Reply {
  id: number;
  ok: boolean;
  result?: unknown;
  error?: { name: string; message: string };
  durationMs: number;
}

class WorkerError extends Error {
  constructor(
    readonly errorName: string,
    message: string,
    readonly durationMs: number,
  ) {
    super(`${errorName}: ${message}`);
  }
}

/** A cluster-worker process on one host, driven over its unix socket. */
class Worker {
  private seq = 0;
  private buf = '';
  private readonly pending = new Map<number, (r: Reply) => void>();

  private constructor(
    readonly host: Host,
    readonly proc: BackgroundProcess,
    private readonly sock: Socket,
  ) {
    sock.on('data', (chunk: Buffer) => {
      this.buf += chunk.toString('utf8');
      let nl: number;
      while ((nl = this.buf.indexOf('\n')) >= 0) {
        const reply = JSON.parse(this.buf.slice(0, nl)) as Reply;
        this.buf = this.buf.slice(nl + 1);
        this.pending.get(reply.id)?.(reply);
        this.pending.delete(reply.id);
      }
    });
    sock.on('error', () => undefined);
  }

  static async start(host: Host, tag: string): Promise<Worker> {
    const path = join(host.lab.dir, host.name, `cluster-worker-${tag}.sock`);
    const proc = await host.spawn([process.execPath, WORKER, path]);
    await proc.waitForOutput('ready', { timeoutMs: 10_000 });
    const sock = await new Promise<Socket>((resolve, reject) => {
      const s = connect(path, () => resolve(s));
      s.once('error', reject);
    });
    return new Worker(host, proc, sock);
  }

  /** Send one request; resolves with its reply (ok or not). */
  request(op: string, args: Record<string, unknown> = {}, timeoutMs = 20_000): Promise<Reply> {
    const id = ++this.seq;
    return new Promise<Reply>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.host.name}: ${op} got no reply in ${timeoutMs} ms`)), timeoutMs);
      this.pending.set(id, (r) => {
        clearTimeout(timer);
        resolve(r);
      });
      this.sock.write(`${JSON.stringify({ id, op, args })}\n`);
    });
  }

  async op<T>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    const r = await this.request(op, args);
    if (!r.ok) throw new WorkerError(r.error?.name ?? 'Error', r.error?.message ?? '?', r.durationMs);
    return r.result as T;
  }

  call<T>(method: string, ...args: unknown[]): Promise<T> {
    return this.op<T>('call', { method, args });
  }

  close(): void {
    this.sock.destroy();
  }
}

async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<{ value: T; ms: number }> {
  const start = Date.now();
  for (;;) {
    const v = await fn();
    if (v !== undefined) return { value: v, ms: Date.now() - start };
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(100);
  }
}

interface WatchState {
  ids: string[];
  snapshots: number;
}

void test('cluster store on a 3-member etcd cluster in a lab', { timeout: 120_000 }, async (t) => {
  await withLab(
    async (lab) => {
      const t0 = Date.now();
      const sw = await lab.createSwitch('under');
      const hosts = [await lab.createHost('a'), await lab.createHost('b'), await lab.createHost('c')];
      for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: `10.99.0.${i + 1}/24` });
      const etcd: EtcdCluster = await startEtcdCluster(lab, hosts);
      t.diagnostic(`etcd cluster up in ${Date.now() - t0} ms: ${etcd.endpoints.join(', ')}`);

      // unary KV requests (Range, Txn, Put, DeleteRange…) handled by all members, from their /metrics
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
      const connectArgs = (h: Host) => ({ endpoints: etcd.endpoints, hostId: h.name, leaseTtlSeconds: TTL });
      const workers = await Promise.all(hosts.map((h) => Worker.start(h, '1')));
      const [a, b, c] = workers as [Worker, Worker, Worker];
      await Promise.all(workers.map((w) => w.op('connect', connectArgs(w.host))));
      await Promise.all(workers.map((w) => w.call('registerHost', { advertiseAddress: w.host.ipv4() })));

      await t.test('two hosts creating the same network name: exactly one wins', async () => {
        const results = await Promise.allSettled(
          [a, b].map((w, i) => w.call<ClusterNetworkRecord>('createNetwork', { name: 'race', subnets: [{ subnet: `10.60.${i}.0/24` }] })),
        );
        const won = results.filter((r) => r.status === 'fulfilled');
        const lost = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.equal(won.length, 1, `winners: ${JSON.stringify(results)}`);
        assert.equal(lost.length, 1);
        assert.match(String(lost[0]?.reason), /ConflictError: network with name race already exists/);
        const listed = await c.call<ClusterNetworkRecord[]>('listNetworks');
        assert.equal(listed.filter((n) => n.name === 'race').length, 1);
      });

      await t.test('VNIs are unique across hosts, from 4096 up; a taken VNI is refused', async () => {
        const created = await Promise.all(
          workers.flatMap((w, i) => [0, 1, 2].map((j) => w.call<ClusterNetworkRecord>('createNetwork', { name: `v-${i}-${j}` }))),
        );
        const vnis = created.map((n) => n.vni);
        assert.equal(new Set(vnis).size, vnis.length, `duplicate VNIs: ${vnis.join(' ')}`);
        for (const v of vnis) assert.ok(v >= 4096, `VNI ${v} below 4096`);
        // Subnets picked from 10.0.0.0/8 are distinct too.
        const subnets = created.map((n) => n.subnets[0]?.subnet);
        assert.equal(new Set(subnets).size, subnets.length, `duplicate subnets: ${subnets.join(' ')}`);
        const taken = created[0]?.vni;
        await assert.rejects(b.call('createNetwork', { name: 'v-dup', vni: taken }), new RegExp(`ConflictError: VNI ${taken} is already used by overlay network v-0-0`));
        await assert.rejects(b.call('createNetwork', { name: 'v-low', vni: 100 }), /invalid VNI 100: expected an integer from 4096 to 16777215/);
        const vniIndex = await c.call<Record<string, string>>('listVnis');
        for (const n of created) assert.equal(vniIndex[String(n.vni)], n.id);
      });

      await t.test('WireGuard tunnel addresses: one per host, distinct under concurrency, kept on retry (a held one wins over a preferred one)', async () => {
        const got = await Promise.all(workers.map((w) => w.call<string>('claimTunnelAddress', '198.18.0.0/16')));
        assert.equal(new Set(got).size, 3, `distinct: ${got.join(' ')}`);
        // spread over the block by host id (hosts joining together do not race for one address)
        for (const g of got) assert.match(g, /^198\.18\.\d+\.\d+$/);
        assert.equal(await a.call<string>('claimTunnelAddress', '198.18.0.0/16', '198.18.9.9'), got[0], 'a host keeps the address it holds');
        const again = await Promise.all(workers.map((w) => w.call<string>('claimTunnelAddress', '198.18.0.0/16')));
        assert.deepEqual(again, got);
      });

      await t.test("the cluster's tunnel subnet: written once by the first host to ask, the same for every later one; an encrypted create checks it", async () => {
        const got = await Promise.all([a.call<string>('tunnelSubnet', '100.80.0.0/16'), b.call<string>('tunnelSubnet', '100.81.0.0/16'), c.call<string>('tunnelSubnet', '100.82.0.0/16')]);
        assert.equal(new Set(got).size, 1, `one value for all: ${got.join(' ')}`);
        const value = got[0] ?? '';
        assert.equal(await c.call<string>('tunnelSubnet', '100.99.0.0/16'), value, 'never overwritten');
        const other = value === '100.80.0.0/16' ? '100.81.0.0/16' : '100.80.0.0/16';
        await assert.rejects(
          b.call('createNetwork', { name: 'tsx', subnets: [{ subnet: '10.61.0.0/24' }], options: { encrypted: '' } }, { tunnelSubnet: other }),
          new RegExp(`ConflictError: network tsx: the cluster's tunnel subnet is "${value.replace(/\./g, '\\.')}", not ${other.replace(/\./g, '\\.')}`),
        );
        assert.equal((await c.call<ClusterNetworkRecord[]>('listNetworks')).some((n) => n.name === 'tsx'), false, 'nothing created');
        const made = await b.call<ClusterNetworkRecord>('createNetwork', { name: 'tsx', subnets: [{ subnet: '10.61.0.0/24' }], options: { encrypted: '' } }, { tunnelSubnet: value });
        assert.equal(await a.call('removeNetwork', made.id), true);
      });

      const net = await a.call<ClusterNetworkRecord>('createNetwork', { name: 'ov', subnets: [{ subnet: '10.50.0.0/24' }] });

      await t.test('3 processes allocating 30 addresses each at once: 90 distinct, no gateway', async () => {
        const startAt = Date.now() + 500;
        const started = Date.now();
        const runs = await Promise.all(
          workers.map((w) => w.op<{ allocations: { owner: string; address: string }[]; conflicts: number; ms: number }>('allocateMany', { networkId: net.id, count: 30, startAt })),
        );
        t.diagnostic(
          `90 concurrent allocations in ${Date.now() - started - 500} ms; per host: ${runs.map((r) => `${r.ms} ms, ${r.conflicts} lost CAS`).join('; ')}`,
        );
        const per = runs.map((r) => r.allocations);
        const all = per.flat().map((x) => x.address);
        assert.equal(all.length, 90);
        assert.equal(new Set(all).size, 90, `duplicates: ${all.filter((x, i) => all.indexOf(x) !== i).join(' ')}`);
        for (const addr of all) {
          assert.match(addr, /^10\.50\.0\.\d+$/);
          assert.ok(!['10.50.0.0', '10.50.0.1', '10.50.0.255'].includes(addr), `${addr} is reserved`);
        }
        const allocations = await b.call<{ address: string; owner: string }[]>('listAllocations', net.id);
        assert.equal(allocations.length, 90);
        // Allocation is idempotent per owner: asking again returns the same address.
        const first = per[0]?.[0];
        assert.ok(first);
        assert.equal(await c.call('allocateAddress', net.id, first.owner), first.address);
        // A static request for a taken address is refused, naming it.
        await assert.rejects(c.call('allocateAddress', net.id, hex(), { address: first.address }), new RegExp(`requested address ${first.address.replace(/\./g, '\\.')} is already in use`));
        await assert.rejects(c.call('allocateAddress', net.id, hex(), { address: '10.50.0.1' }), /requested address 10\.50\.0\.1 is the gateway of 10\.50\.0\.0\/24/);
      });

      await t.test('3 hosts claiming and publishing 15 endpoints each at once, one write each: 45 distinct addresses, each held by its record', async () => {
        const claims = await a.call<ClusterNetworkRecord>('createNetwork', { name: 'claims', subnets: [{ subnet: '10.51.0.0/24' }] });
        const startAt = Date.now() + 500;
        const runs = await Promise.all(
          workers.map((w) => w.op<{ endpoints: { id: string; address: string }[]; conflicts: number }>('claimAndPutMany', { networkId: claims.id, count: 15, startAt })),
        );
        t.diagnostic(`lost CAS per host: ${runs.map((r) => r.conflicts).join(', ')}`);
        const all = runs.flatMap((r) => r.endpoints);
        assert.equal(new Set(all.map((e) => e.address)).size, 45, `duplicates: ${all.map((e) => e.address).join(' ')}`);
        const records = await b.call<ClusterEndpointRecord[]>('listEndpoints', { networkId: claims.id });
        const allocations = await b.call<{ address: string; owner: string; hostId: string }[]>('listAllocations', claims.id);
        assert.equal(records.length, 45);
        assert.equal(allocations.length, 45, 'no address claimed without its record');
        for (const r of records) {
          const held = allocations.find((x) => x.address === r.ipv4);
          assert.equal(held?.owner, r.id, `${r.ipv4} is held by its record's endpoint`);
          assert.equal(held?.hostId, r.hostId);
          assert.equal(r.mac, `02:42:${(r.ipv4 ?? '').split('.').map((x) => Number(x).toString(16).padStart(2, '0')).join(':')}`, 'the record was built from the claimed address');
        }
        // an attach is one etcd request too once the host has claimed in the network: it picks
        // from what it saw then (a stale pick fails its guard and is retried, as with other hosts)
        const claimOne = async (w: Worker) => (await w.op<{ endpoints: { id: string; address: string }[] }>('claimAndPutMany', { networkId: claims.id, count: 1, startAt: 0 })).endpoints;
        const settled = await claimOne(a);
        const beforeClaim = await kvCalls();
        const next = await claimOne(a);
        const claimCalls = diff(beforeClaim, await kvCalls());
        t.diagnostic(`etcd KV requests for one claimAndPutEndpoint after another: ${JSON.stringify(claimCalls)}`);
        assert.deepEqual(claimCalls, { Txn: 1 }, 'one transaction, no read');
        const stale = await claimOne(b);
        const taken = await claimOne(a); // a's view lacks b's claim: the guard catches a collision
        const ids = [...settled, ...next, ...stale, ...taken];
        assert.equal(new Set(ids.map((e) => e.address)).size, 4, `distinct addresses: ${ids.map((e) => e.address).join(' ')}`);
        for (const e of [...settled, ...next, ...taken]) assert.equal(await a.call('removeEndpoint', claims.id, e.id), true);
        for (const e of stale) assert.equal(await b.call('removeEndpoint', claims.id, e.id), true);
        // a detach is one etcd request: the record and its address claim go in one transaction
        const [first, ...rest] = runs[0]?.endpoints ?? [];
        assert.ok(first);
        const before = await kvCalls();
        assert.equal(await a.call('removeEndpoint', claims.id, first.id), true);
        const calls = diff(before, await kvCalls());
        t.diagnostic(`etcd KV requests for one removeEndpoint: ${JSON.stringify(calls)}`);
        assert.deepEqual(calls, { Txn: 1 }, 'one transaction, nothing else');
        const left = await b.call<{ address: string }[]>('listAllocations', claims.id);
        assert.ok(!left.some((x) => x.address === first.address), `${first.address} released with its record`);
        assert.ok(!(await b.call<ClusterEndpointRecord[]>('listEndpoints', { networkId: claims.id })).some((r) => r.id === first.id), 'record gone');
        for (const e of rest) assert.equal(await a.call('removeEndpoint', claims.id, e.id), true);
        for (const [i, w] of workers.entries()) if (i > 0) for (const e of runs[i]?.endpoints ?? []) assert.equal(await w.call('removeEndpoint', claims.id, e.id), true);
        assert.deepEqual(await b.call('listAllocations', claims.id), [], 'removing the records released the addresses');
        assert.equal(await a.call('removeNetwork', 'claims'), true);
      });

      await t.test("removing an endpoint whose address was freed and claimed again by another endpoint leaves that claim alone", async () => {
        const steal = await a.call<ClusterNetworkRecord>('createNetwork', { name: 'steal', subnets: [{ subnet: '10.52.0.0/24' }] });
        const x = hex();
        const address = await c.call<string>('allocateAddress', steal.id, x);
        await c.call('putEndpoint', { id: x, networkId: steal.id, containerId: hex(), containerName: 'x', mac: '02:42:0a:34:00:02', ipv4: address, ipv6: null });
        // the address is freed behind the endpoint's back (a reclaim) and claimed by y on host b
        assert.equal(await c.call('releaseAddress', steal.id, address, x), true);
        const y = hex();
        assert.equal(await b.call<string>('allocateAddress', steal.id, y, { address }), address);
        const before = await kvCalls();
        assert.equal(await c.call('removeEndpoint', steal.id, x), true);
        const calls = diff(before, await kvCalls());
        t.diagnostic(`etcd KV requests for a removal whose guard failed: ${JSON.stringify(calls)}`);
        assert.deepEqual(calls, { Txn: 2 }, 'the guarded transaction, then the removal of what x still holds');
        const held = await b.call<{ address: string; owner: string }[]>('listAllocations', steal.id);
        assert.deepEqual(held.map((h) => [h.address, h.owner]), [[address, y]], "y's claim survives");
        assert.deepEqual(await b.call('listEndpoints', { networkId: steal.id }), [], "x's record is gone");
        assert.equal(await b.call('releaseAddress', steal.id, address, y), true);
        assert.equal(await a.call('removeNetwork', 'steal'), true);
      });

      // Endpoints: allocate, then publish under the host's lease.
      const endpointOf = async (w: Worker, name: string): Promise<NewClusterEndpoint> => {
        const id = hex();
        const ipv4 = await w.call<string>('allocateAddress', net.id, id);
        return { id, networkId: net.id, containerId: hex(), containerName: name, mac: `02:42:0a:32:00:${ipv4.split('.')[3]?.padStart(2, '0').slice(-2)}`, ipv4, ipv6: null };
      };
      const watchState = (w: Worker, name: string) => w.op<WatchState>('watchState', { name });
      const waitIds = (w: Worker, name: string, what: string, pred: (ids: Set<string>) => boolean, ms = 10_000) =>
        waitFor(what, ms, async () => {
          const st = await watchState(w, name);
          return pred(new Set(st.ids)) ? st : undefined;
        });

      const initial = await a.op<{ ids: string[] }>('watch', { name: 'all', network: 'all' });
      assert.deepEqual(initial.ids, []);
      const cEndpoints = [await endpointOf(c, 'c1'), await endpointOf(c, 'c2')];
      for (const e of cEndpoints) await c.call<ClusterEndpointRecord>('putEndpoint', e);

      await t.test("another host's watch sees endpoints as they are published", async () => {
        const { ms } = await waitIds(a, 'all', 'c1 and c2 on a', (ids) => cEndpoints.every((e) => ids.has(e.id)));
        t.diagnostic(`endpoint records reached the watcher in ${ms} ms`);
        const listed = await b.call<ClusterEndpointRecord[]>('listEndpoints', { networkId: net.id });
        assert.deepEqual(listed.map((e) => e.containerName).sort(), ['c1', 'c2']);
        assert.ok(listed.every((e) => e.hostId === 'c' && e.vtep === '10.99.0.3'));
        // An endpoint whose address is not allocated to it is refused.
        await assert.rejects(
          b.call('putEndpoint', { ...cEndpoints[0], id: hex() }),
          /ConflictError: address 10\.50\.0\.\d+ is held by .* on host c, not by endpoint/,
        );
      });

      await t.test('network removal is refused while a host has endpoints on it', async () => {
        await assert.rejects(a.call('removeNetwork', 'ov'), /ConflictError: network ov has 2 active endpoint\(s\) on host\(s\) c \(containers c1, c2\)/);
        assert.equal(await a.call('removeNetwork', 'race'), true);
        assert.equal(await b.call('removeNetwork', 'race'), false);
      });

      await t.test('the etcd leader killed: allocation, writes and watches go on', async () => {
        const leader = await etcd.leaderIndex();
        await etcd.stopMember(leader);
        const started = Date.now();
        // while the two left elect a leader (etcd's election timeout: 1 s, longer on a loaded
        // machine) an operation may fail as "unreachable"; once they have one, everything works
        const allocate = async (w: Worker): Promise<string> => {
          for (;;) {
            try {
              return await w.call<string>('allocateAddress', net.id, hex());
            } catch (e) {
              if (!/cluster store unreachable/.test(String(e)) || Date.now() - started > 15_000) throw e;
            }
          }
        };
        const addrs = await Promise.all(workers.map(allocate));
        t.diagnostic(`member ${leader} (leader) killed; first allocations took ${Date.now() - started} ms`);
        assert.equal(new Set(addrs).size, 3);
        const bEp = await endpointOf(b, 'b1');
        await b.call('putEndpoint', bEp);
        await waitIds(a, 'all', 'b1 on a after the leader died', (ids) => ids.has(bEp.id));
        await etcd.startMember(leader);
        assert.equal(await b.call('removeEndpoint', net.id, bEp.id), true);
        await waitIds(a, 'all', 'b1 gone on a', (ids) => !ids.has(bEp.id));
      });

      await t.test("a dead host's endpoints expire after its lease TTL; resync puts them back", async () => {
        c.proc.signal('SIGKILL');
        const killedAt = Date.now();
        await c.proc.exited;
        c.close();
        await sleep(1000);
        let st = await watchState(a, 'all');
        assert.ok(cEndpoints.every((e) => st.ids.includes(e.id)), 'records must outlive the daemon for the TTL');
        await waitIds(a, 'all', "c's endpoints expiring", (ids) => cEndpoints.every((e) => !ids.has(e.id)), (TTL + 5) * 1000);
        const expiredAfter = Date.now() - killedAt;
        t.diagnostic(`c's records gone ${expiredAfter} ms after its daemon was killed (TTL ${TTL} s)`);
        // Keepalives go every TTL/3, so the lease had at least 2/3 of its TTL left at the kill.
        assert.ok(expiredAfter >= (TTL * 2000) / 3 - 500, `expired too early: ${expiredAfter} ms`);
        // The addresses stay allocated: the containers still exist on c.
        const held = await a.call<{ owner: string }[]>('listAllocations', net.id);
        assert.ok(cEndpoints.every((e) => held.some((h) => h.owner === e.id)));
        // issue 17: c is known as a host holding addresses without a lease (the agent releases them after a grace period)
        assert.deepEqual(await a.call('hostsWithoutLease'), ['c']);

        const c2 = await Worker.start(hosts[2] as Host, '2');
        workers[2] = c2;
        await c2.op('connect', connectArgs(c2.host));
        await c2.call('registerHost', { advertiseAddress: c2.host.ipv4() });
        // c is back: releasing its addresses is refused in the transaction (its host record exists)
        assert.deepEqual(await a.call('reclaimDeadHosts', 'c'), { released: [], hosts: [] });
        assert.deepEqual(await a.call('hostsWithoutLease'), []);
        const report = await c2.call<{ registered: number; removed: string[]; conflicts: unknown[]; missingNetworks: unknown[] }>('resync', cEndpoints);
        assert.deepEqual(report, { registered: 2, removed: [], conflicts: [], missingNetworks: [] });
        const { ms } = await waitIds(a, 'all', "c's endpoints back after resync", (ids) => cEndpoints.every((e) => ids.has(e.id)));
        t.diagnostic(`resynced records reached the watcher in ${ms} ms`);
        st = await watchState(a, 'all');
        assert.equal(st.snapshots, 1);
        // resync with a shorter list removes the missing endpoint's record and frees its address.
        const r2 = await c2.call<{ registered: number; removed: string[] }>('resync', [cEndpoints[0]]);
        assert.deepEqual(r2.removed, [cEndpoints[1]?.id]);
        await waitIds(a, 'all', 'c2 removed by resync', (ids) => !ids.has(cEndpoints[1]?.id ?? ''));
        const after = await a.call<{ owner: string }[]>('listAllocations', net.id);
        assert.ok(!after.some((h) => h.owner === cEndpoints[1]?.id));
      });

      await t.test('a lease revoked under a live daemon: it takes a new one and re-registers', async () => {
        const c2 = workers[2] as Worker;
        const got = await a.host.execOk(['etcdctl', '--endpoints', etcd.endpoints.join(','), 'get', '/berth/v1/hosts/c', '-w', 'json'], { env: { ETCDCTL_API: '3' } });
        // int64 lease id: read the digits, not a rounded JSON number.
        const leaseId = BigInt(/"lease":\s*(\d+)/.exec(got.stdout)?.[1] ?? '0');
        assert.ok(leaseId > 0n, got.stdout);
        await a.host.execOk(['etcdctl', '--endpoints', etcd.endpoints.join(','), 'lease', 'revoke', leaseId.toString(16)], { env: { ETCDCTL_API: '3' } });
        await waitIds(a, 'all', 'c1 deleted by the revoke', (ids) => !ids.has(cEndpoints[0]?.id ?? ''));
        const { ms } = await waitIds(a, 'all', 'c1 re-registered', (ids) => ids.has(cEndpoints[0]?.id ?? ''));
        t.diagnostic(`re-registered ${ms} ms after the revoke was seen`);
        const events = await c2.op<string[]>('sessionEvents');
        assert.deepEqual(events.filter((e) => e !== 're-register-failed'), ['lease-lost', 're-registered']);
        const hostsNow = await b.call<{ id: string }[]>('listHosts');
        assert.deepEqual(hostsNow.map((h) => h.id).sort(), ['a', 'b', 'c']);
      });

      await t.test('all members frozen: operations fail after the operation timeout', async () => {
        for (const m of etcd.members) m.process?.signal('SIGSTOP');
        try {
          const r = await a.request('call', { method: 'allocateAddress', args: [net.id, hex()] });
          t.diagnostic(`allocation failed after ${r.durationMs} ms: ${r.error?.message}`);
          assert.equal(r.error?.name, 'ClusterUnreachableError');
          assert.match(r.error?.message ?? '', /^cluster store unreachable \(etcd at 10\.99\.0\.1:2379, 10\.99\.0\.2:2379, 10\.99\.0\.3:2379\): /);
          assert.ok(r.durationMs >= 2000 && r.durationMs < 3500, `took ${r.durationMs} ms`);
        } finally {
          for (const m of etcd.members) m.process?.signal('SIGCONT');
        }
        await waitFor('etcd answering again', 15_000, async () => {
          const r = await a.request('call', { method: 'listNetworks', args: [] });
          return r.ok ? r : undefined;
        });
      });

      await t.test('all members stopped: operations fail within seconds, naming the cluster', async () => {
        await etcd.stopAll();
        const r = await a.request('call', { method: 'allocateAddress', args: [net.id, hex()] });
        t.diagnostic(`allocation failed after ${r.durationMs} ms: ${r.error?.message}`);
        assert.equal(r.ok, false);
        assert.equal(r.error?.name, 'ClusterUnreachableError');
        assert.match(r.error?.message ?? '', /^cluster store unreachable \(etcd at 10\.99\.0\.1:2379, 10\.99\.0\.2:2379, 10\.99\.0\.3:2379\): /);
        assert.ok(r.durationMs < 3500, `took ${r.durationMs} ms`);
        const l = await b.request('call', { method: 'listNetworks', args: [] });
        assert.equal(l.error?.name, 'ClusterUnreachableError');
        assert.ok(l.durationMs < 3500, `took ${l.durationMs} ms`);
        // The watcher keeps its last view while nothing answers.
        const st = await watchState(a, 'all');
        assert.ok(st.ids.includes(cEndpoints[0]?.id ?? ''));
      });

      await t.test('members back: operations and watches resume', async () => {
        await etcd.startMember(0, { wait: false });
        await etcd.startMember(1, { wait: false });
        await etcd.startMember(2);
        const started = Date.now();
        const { ms } = await waitFor('an allocation to succeed again', 15_000, async () => {
          const r = await a.request('call', { method: 'allocateAddress', args: [net.id, hex()] });
          return r.ok ? r : undefined;
        });
        t.diagnostic(`first successful allocation ${ms} ms after the members were healthy`);
        const bEp = await endpointOf(b, 'b2');
        await b.call('putEndpoint', bEp);
        await waitIds(a, 'all', 'b2 on a after the cluster came back', (ids) => ids.has(bEp.id));
        t.diagnostic(`watch resumed ${Date.now() - started} ms after restart`);
      });

      for (const w of workers) w.close();
      t.diagnostic(`total ${Date.now() - t0} ms`);
    },
    { label: 'cluster-store' },
  );
});
