// Shared pieces of the overlay end-to-end tests (issue 7): berth through the thin client (served
// by the host's daemon, the one joined to the cluster), waiting for a condition, and a daemon per
// lab host joined to the lab's etcd cluster.
import assert from 'node:assert/strict';
import { BERTH_CLIENT, type EtcdCluster, type ExecOptions, type ExecResult, type Host } from '../lab/index.js';
import { startDaemon, type Daemon } from './daemon-helpers.js';
import { sleep } from './helpers.js';

/** Lease TTL of the test daemons, seconds: short, so that a dead host is dropped quickly. */
export const TTL = 4;
/** Seconds after a host's lease expired that its addresses are released (--cluster-reclaim-after). */
export const RECLAIM_AFTER = 8;
/** Underlay address of lab host i. */
export const ADDR = (i: number): string => `10.98.0.${i + 1}`;
/** A node one-liner that resolves argv[1] (IPv4) and prints "addr A" or "error CODE". */
export const LOOKUP = "require('dns').lookup(process.argv[1],{family:4},(e,a)=>{console.log(e?'error '+e.code:'addr '+a);process.exit(e?1:0)})";

export const cli = (h: Host, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> => h.exec([BERTH_CLIENT, ...args], opts);
export const cliOk = (h: Host, args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> => cli(h, args, { ...opts, check: true });

export async function runDetached(h: Host, args: readonly string[]): Promise<string> {
  const id = (await cliOk(h, ['run', '-d', ...args])).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/, `berth run -d prints the id, got ${id}`);
  return id;
}

/** Poll fn every 100 ms until it holds; fails the test after timeoutMs. Resolves to the wait in ms. */
export async function until(what: string, fn: () => Promise<boolean>, timeoutMs = 15_000): Promise<number> {
  const start = Date.now();
  while (!(await fn())) {
    if (Date.now() - start > timeoutMs) assert.fail(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
  return Date.now() - start;
}

/** `berth daemon` on lab host i, joined to the lab's etcd cluster (advertising ADDR(i) unless told). */
export async function startHostDaemon(h: Host, etcd: EtcdCluster, i: number, advertise = ADDR(i)): Promise<Daemon> {
  const d = await startDaemon(h, {
    args: ['--cluster-store', `etcd://${etcd.members.map((m) => m.endpoint).join(',')}`, '--advertise-addr', advertise, '--cluster-lease-ttl', String(TTL), '--cluster-reclaim-after', String(RECLAIM_AFTER)],
  });
  await until(`daemon on ${h.name} joins the cluster`, async () => /cluster: joined/.test(d.proc.stderr()));
  return d;
}
