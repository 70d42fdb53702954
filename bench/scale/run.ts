// bench/scale (issue 17): berth's overlay at scale on one machine, in the scale lab
// (test/e2e/scale-lab.ts: H lab hosts, a 3-member etcd, a daemon per host, 5 overlay networks,
// 2 of them encrypted, C containers). Measured there:
//   1. convergence: from the start of `berth run -d --network ov0 --ip X` on host 1 to the first
//      ICMP echo reply from X seen by a prober container on EVERY other host (each pings X every
//      --ping-ms, default 2, and retries ARP every 10 ms; its entry for X is deleted after the
//      trial); p50/p99 over T trials (and the same on an encrypted network), with the kernel's
//      backlog drops over the plain trials, and per trial the new container's ARP requests per
//      prober and the machine's ARP table overflows (a trial over 1 s leaves its neighbour tables
//      and the slowest prober's ping in slow-<trial>.txt);
//   2. etcd requests (gRPC calls handled, summed over the members' /metrics), revisions and watch
//      events sent per attach and per detach;
//   3. each daemon's RSS and CPU at rest (over --rest-seconds, all daemons at once);
//   4. FDB and neighbour entries per host (berth's static entries on the VXLAN devices);
//   5. a new host: from its daemon's start to joined, to its FDB holding every remote endpoint,
//      and to a container on it answering probers on every other host.
//
//   npm run build && node dist/bench/scale/run.js [--hosts 20] [--containers 1000] [--trials 200]
//       [--enc-trials 50] [--rest-seconds 10] [--ping-ms 2] [--cpu-prof-host I] [--out DIR]
//
// Everything happens in one lab (namespaces bt<tag>-bh*, removed at the end). Output: Markdown on
// stdout; results.json + summary.md under --out (default bench/scale/results/<UTC timestamp>).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { type BackgroundProcess, type Host, REPO_ROOT, fdb, neighs } from '../../test/lab/index.js';
import { cpuPercent, cpuTicks, memoryOf } from '../../test/e2e/daemon-helpers.js';
import { type ScaleLab, buildScaleLab, inParallel } from '../../test/e2e/scale-lab.js';
import { arg, wholeNumberArg } from '../args.js';

const num = wholeNumberArg;
const HOSTS = num('--hosts', 20, 2);
const CONTAINERS = num('--containers', 1000, 0);
const TRIALS = num('--trials', 200, 1);
const ENC_TRIALS = num('--enc-trials', 50, 0);
const REST_S = num('--rest-seconds', 10, 1);
// each prober's ping interval: 2 ms × 38 probers (20 hosts) overflows the kernel's per-CPU
// backlog on 2 cores, and a dropped ARP reply costs the new container a 1 s retransmit
const PING_MS = num('--ping-ms', 2, 1);
// host i's daemon is profiled (OUT/daemon-I.cpuprofile, written when the lab closes); -1: none
const PROF_HOST = Number(arg('--cpu-prof-host', '-1'));
const OUT = arg('--out', join(REPO_ROOT, 'bench', 'scale', 'results', new Date().toISOString().replace(/[:.]/g, '-')));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.max(0, Math.ceil(p * s.length) - 1)] ?? NaN;
};
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const log = (line: string) => console.error(`# ${new Date().toISOString().slice(11, 19)} ${line}`);

/** Packets the kernel dropped for a full per-CPU backlog since boot (machine-wide: other work too). */
function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .trim()
    .split('\n')
    .reduce((n, line) => n + parseInt(line.split(/\s+/)[1] ?? '0', 16), 0);
}

/** Pss and private memory (Private_Clean + Private_Dirty) of pid, MB, from /proc/PID/smaps_rollup. */
async function rollup(pid: number): Promise<{ pss: number; priv: number }> {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? NaN);
  return { pss: kb('Pss') / 1024, priv: (kb('Private_Clean') + kb('Private_Dirty')) / 1024 };
}

/** The network namespace path of a running container (its PID 1's). */
async function ctrNs(s: ScaleLab, i: number, name: string): Promise<string> {
  const [c] = JSON.parse((await s.cli(i, ['inspect', name], { check: true })).stdout) as { State: { Pid: number } }[];
  return `/proc/${c?.State.Pid}/ns/net`;
}

/** A prober container on host i in network net (ARP retried every 10 ms); its netns path. */
async function startProber(s: ScaleLab, i: number, net: string): Promise<string> {
  const name = `probe-${i}-${net}`;
  await s.cli(i, ['run', '-d', '--name', name, '--network', net, '--', 'sleep', 'infinity'], { check: true });
  const ns = await ctrNs(s, i, name);
  await (s.hosts[i] as Host).execOk(['nsenter', `--net=${ns}`, 'sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=10']);
  return ns;
}

/** Ping addr every PING_MS from each prober; resolves once all run (their header line printed). */
async function startPings(s: ScaleLab, probers: ReadonlyMap<number, string>, addr: string): Promise<Map<number, BackgroundProcess>> {
  const pings = new Map<number, BackgroundProcess>();
  await Promise.all(
    [...probers].map(async ([i, ns]) => {
      const p = await (s.hosts[i] as Host).spawn(['nsenter', `--net=${ns}`, 'ping', '-n', '-D', '-i', (PING_MS / 1000).toFixed(3), '-W', '1', addr]);
      pings.set(i, p);
    }),
  );
  await Promise.all([...pings.values()].map((p) => p.waitForOutput(/^PING /m, { timeoutMs: 10_000, stream: 'stdout' })));
  return pings;
}

/** Wait for every ping's first reply (unix seconds, ping -D); undefined for those without one by timeoutMs. */
async function firstReplies(pings: ReadonlyMap<number, BackgroundProcess>, timeoutMs: number): Promise<Map<number, number | undefined>> {
  const out = new Map<number, number | undefined>();
  const end = Date.now() + timeoutMs;
  while (out.size < pings.size && Date.now() < end) {
    for (const [i, p] of pings) {
      if (out.has(i)) continue;
      const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(p.stdout());
      if (m) {
        out.set(i, Number(m[1]));
        p.signal('SIGINT');
      }
    }
    await sleep(5);
  }
  for (const [i, p] of pings) {
    if (!out.has(i)) out.set(i, undefined);
    p.signal('SIGINT');
  }
  await Promise.all([...pings.values()].map((p) => p.exited));
  return out;
}

/** The kernel's ARP table counters (one table for every netns on the machine: other work too). */
interface ArpStat {
  /** allocations refused: gc_thresh3 non-permanent entries and nothing the forced GC could free */
  tableFulls: number;
  forcedGc: number;
  /** resolutions that failed (an entry went INCOMPLETE → FAILED) */
  resFailed: number;
}
function arpStat(): ArpStat {
  const rows = readFileSync('/proc/net/stat/arp_cache', 'utf8').trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  const col = (i: number) => rows.reduce((n, r) => n + parseInt(r[i] ?? '0', 16), 0);
  return { tableFulls: col(12), forcedGc: col(10), resFailed: col(6) };
}

/**
 * ARP requests per neighbour entry from `ip -s neigh` (the kernel's probes count starts at
 * ucast_solicit, 3, for an INCOMPLETE entry): a count over 1 is a retransmit.
 */
function arpRequests(text: string): number[] {
  return [...text.matchAll(/probes (\d+)/g)].map((m) => Number(m[1]) - 3);
}

/** What the data path did in one trial, for the tail (issue 17). */
export interface TrialDiag {
  /** ARP requests the new container sent per prober address (1 = answered at once) */
  ctrArp: number[];
  /** deltas of the machine's ARP table counters over the trial */
  arp: ArpStat;
  /** where the raw dumps of a slow trial went */
  dump?: string;
}

/** One convergence trial on net: berth run on host `from` with --ip addr; ms to the last prober's first reply. */
async function trial(s: ScaleLab, from: number, probers: ReadonlyMap<number, string>, net: string, addr: string, name: string): Promise<{ all: number; each: number[]; phases: Phases; diag: TrialDiag }> {
  const pings = await startPings(s, probers, addr);
  await sleep(20);
  const arp0 = arpStat();
  const t0 = Date.now() / 1000;
  await s.cli(from, ['run', '-d', '--name', name, '--network', net, '--ip', addr, '--', 'sleep', 'infinity'], { check: true });
  const replies = await firstReplies(pings, 5000);
  const arp1 = arpStat();
  const host = s.hosts[from] as Host;
  const ctrNeigh = (await host.execOk(['nsenter', `--net=${await ctrNs(s, from, name)}`, 'ip', '-s', '-4', 'neigh'])).stdout;
  const diag: TrialDiag = { ctrArp: arpRequests(ctrNeigh), arp: { tableFulls: arp1.tableFulls - arp0.tableFulls, forcedGc: arp1.forcedGc - arp0.forcedGc, resFailed: arp1.resFailed - arp0.resFailed } };
  const missing = [...replies].filter(([, t]) => t === undefined).map(([i]) => s.hosts[i]?.name);
  const each = [...replies.values()].map((t) => (t === undefined ? Infinity : (t - t0) * 1000));
  if (Math.max(...each) > 1000) {
    // a slow trial: the neighbour tables on both ends and the slowest prober's ping, for the tail
    const [slow] = [...replies].sort((a, b) => (b[1] ?? Infinity) - (a[1] ?? Infinity));
    const [si] = slow as [number, number | undefined];
    const sh = s.hosts[si] as Host;
    const neigh = async (h: Host, ns: string | undefined) => (await h.exec([...(ns ? ['nsenter', `--net=${ns}`] : []), 'ip', '-s', '-4', 'neigh'])).stdout;
    const lines = (pings.get(si)?.stdout() ?? '').split('\n').filter((l) => !/bytes from/.test(l)).slice(0, 60);
    diag.dump = join(OUT, `slow-${name}.txt`);
    writeFileSync(
      diag.dump,
      [
        `${name} ${addr}: t0 ${t0.toFixed(6)}; first replies (ms) ${[...replies].map(([i, t]) => `${s.hosts[i]?.name} ${t === undefined ? 'none' : ((t - t0) * 1000).toFixed(0)}`).join(', ')}`,
        `arp table deltas ${JSON.stringify(diag.arp)}`,
        `## new container on ${host.name}: ip -s -4 neigh\n${ctrNeigh}`,
        `## ${host.name} host netns: ip -s -4 neigh\n${await neigh(host, undefined)}`,
        `## slowest prober on ${sh.name}: ip -s -4 neigh\n${await neigh(sh, probers.get(si))}`,
        `## ${sh.name} host netns: ip -s -4 neigh\n${await neigh(sh, undefined)}`,
        `## slowest prober's ping (replies left out)\n${lines.join('\n')}`,
      ].join('\n\n'),
    );
  }
  // each prober's entry for this address goes with the trial: 19 probers × 200 addresses would sit
  // in the machine's one ARP table, whose cap all lab hosts share (scale-lab.ts, pinUnderlay)
  await Promise.all([...probers].map(([i, ns]) => (s.hosts[i] as Host).exec(['nsenter', `--net=${ns}`, 'ip', 'neigh', 'del', addr, 'dev', 'eth0'])));
  if (missing.length) throw new Error(`${name} (${addr} on ${net}): no reply within 5 s on ${missing.join(', ')}${diag.dump ? ` (dump ${diag.dump})` : ''}`);
  return { all: Math.max(...each), each, phases: phases(s, from, [...probers.keys()], name, t0 * 1000, Math.max(...each)), diag };
}

/** Where a trial's time went, from the daemons' BERTH_TRACE stamps (ms after t0; NaN if a stamp is missing). */
export interface Phases {
  /** the sending daemon put the endpoint in etcd */
  published: number;
  /** the last receiving daemon got the watch event */
  received: number;
  /** the last receiving daemon's kernel queue reached it */
  dequeued: number;
  /** the last receiving daemon had programmed FDB + neighbour entries */
  programmed: number;
  /** the last prober's first reply */
  replied: number;
}

function stamp(text: string, name: string, what: string): number {
  const m = new RegExp(`cluster: endpoint ${name} ${what} at (\\d+)`).exec(text);
  return m ? Number(m[1]) : NaN;
}

function phases(s: ScaleLab, from: number, to: readonly number[], name: string, t0: number, replied: number): Phases {
  const last = (what: string) => Math.max(...to.map((i) => stamp(s.daemons[i]?.proc.stderr() ?? '', name, what) - t0));
  return { published: stamp(s.daemons[from]?.proc.stderr() ?? '', name, 'published') - t0, received: last('received'), dequeued: last('dequeued'), programmed: last('programmed'), replied };
}

// ---- etcd metrics -------------------------------------------------------------------------------

interface EtcdCounters {
  /** unary gRPC calls handled, by method */
  calls: Map<string, number>;
  /** watch events sent (etcd_debugging_mvcc_events_total) */
  events: number;
  /** keys, by the first member */
  keys: number;
  revision: number;
  /** WAL fsync histogram, all members: upper bound (s) → cumulative count */
  fsync: Map<number, number>;
}

async function etcdCounters(s: ScaleLab): Promise<EtcdCounters> {
  const c: EtcdCounters = { calls: new Map(), events: 0, keys: 0, revision: 0, fsync: new Map() };
  for (const [k, m] of s.etcd.members.entries()) {
    const r = await m.host.execOk(['curl', '-s', '--max-time', '5', `http://${m.endpoint}/metrics`]);
    for (const line of r.stdout.split('\n')) {
      const call = /^grpc_server_handled_total\{grpc_code="[^"]*",grpc_method="([^"]+)",grpc_service="[^"]+",grpc_type="unary"\} (\S+)$/.exec(line);
      if (call) c.calls.set(call[1] as string, (c.calls.get(call[1] as string) ?? 0) + Number(call[2]));
      const fs = /^etcd_disk_wal_fsync_duration_seconds_bucket\{le="([^"]+)"\} (\S+)$/.exec(line);
      if (fs) {
        const le = fs[1] === '+Inf' ? Infinity : Number(fs[1]);
        c.fsync.set(le, (c.fsync.get(le) ?? 0) + Number(fs[2]));
      }
      const ev = /^etcd_debugging_mvcc_events_total (\S+)$/.exec(line);
      if (ev) c.events += Number(ev[1]);
      if (k === 0) {
        const keys = /^etcd_debugging_mvcc_keys_total (\S+)$/.exec(line);
        if (keys) c.keys = Number(keys[1]);
        const rev = /^etcd_debugging_mvcc_current_revision (\S+)$/.exec(line);
        if (rev) c.revision = Number(rev[1]);
      }
    }
  }
  return c;
}

/** Counters added up over windows (side 0: the starts, 1: the ends). */
function sum(ws: readonly [EtcdCounters, EtcdCounters][], side: 0 | 1): EtcdCounters {
  const c: EtcdCounters = { calls: new Map(), events: 0, keys: 0, revision: 0, fsync: new Map() };
  for (const w of ws) {
    const x = w[side];
    for (const [m, v] of x.calls) c.calls.set(m, (c.calls.get(m) ?? 0) + v);
    c.events += x.events;
    c.revision += x.revision;
  }
  return c;
}

/** Upper bound (ms) of the bucket holding quantile q of the fsyncs between a and b. */
function fsyncQuantile(a: EtcdCounters, b: EtcdCounters, q: number): number {
  const les = [...b.fsync.keys()].sort((x, y) => x - y);
  const total = (b.fsync.get(Infinity) ?? 0) - (a.fsync.get(Infinity) ?? 0);
  for (const le of les) if ((b.fsync.get(le) ?? 0) - (a.fsync.get(le) ?? 0) >= q * total) return le * 1000;
  return NaN;
}

function perOp(a: EtcdCounters, b: EtcdCounters, n: number): { calls: Record<string, number>; total: number; events: number; revisions: number } {
  const calls: Record<string, number> = {};
  let total = 0;
  for (const [m, v] of b.calls) {
    const d = (v - (a.calls.get(m) ?? 0)) / n;
    if (d > 0) calls[m] = Number(d.toFixed(2));
    total += d;
  }
  return { calls, total: Number(total.toFixed(2)), events: Number(((b.events - a.events) / n).toFixed(1)), revisions: Number(((b.revision - a.revision) / n).toFixed(2)) };
}

// ---- per-host state --------------------------------------------------------------------------------

/** berth's static entries on a host: FDB entries with a remote VTEP, permanent neighbours on vx-* devices. */
async function entries(h: Host): Promise<{ fdb: number; neigh: number }> {
  const f = (await fdb(h)).filter((e) => e.ifname.startsWith('vx-') && e.dst !== undefined);
  const n = (await neighs(h, 4)).filter((e) => e.dev.startsWith('vx-') && (e.state ?? []).includes('PERMANENT'));
  return { fdb: f.length, neigh: n.length };
}

/** Slow trials (over 1 s) against what their data path did. */
function tailLine(ds: readonly (TrialDiag & { all: number })[]): string {
  const retx = (d: TrialDiag) => d.ctrArp.some((n) => n > 1);
  const full = (d: TrialDiag) => d.arp.tableFulls > 0;
  const slow = ds.filter((d) => d.all > 1000);
  const fast = ds.filter((d) => d.all <= 1000);
  return `${slow.length} / ${slow.filter(retx).length} / ${slow.filter(full).length}; ${fast.filter(retx).length} / ${fast.filter(full).length} (of ${fast.length})`;
}

function phaseLine(ps: readonly Phases[]): string {
  const med = (k: keyof Phases) => pct(ps.map((x) => x[k]).filter((x) => !Number.isNaN(x)), 0.5).toFixed(1);
  return `${med('published')} / ${med('received')} / ${med('dequeued')} / ${med('programmed')} / ${med('replied')}`;
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const load0 = load();
  const t00 = Date.now();
  // BERTH_TRACE: the daemons stamp publish / receive / programmed (wall clock) for the breakdown
  const daemonEnvOf = (i: number): Record<string, string> =>
    i === PROF_HOST ? { NODE_OPTIONS: `--require ${join(REPO_ROOT, 'bench', 'scale', 'cpu-prof.cjs')}`, BERTH_CPU_PROF: join(OUT, `daemon-${i}.cpuprofile`) } : {};
  const s = await buildScaleLab({ hosts: HOSTS, containers: CONTAINERS, label: 'bench scale', log, daemonEnv: { BERTH_TRACE: '1' }, daemonEnvOf });
  const result: Record<string, unknown> = { hosts: HOSTS, containers: CONTAINERS, build: s.timings };
  const lines: string[] = [];
  try {
    const plain = s.networks.find((n) => !n.encrypted);
    const enc = s.networks.find((n) => n.encrypted);
    if (!plain) throw new Error('no plain network');
    // probers on every host but host 0, where the trials' containers start
    const probe = async (net: string) => {
      const m = new Map<number, string>();
      await inParallel([...Array(HOSTS - 1).keys()], 4, async (k) => {
        m.set(k + 1, await startProber(s, k + 1, net));
      });
      return m;
    };
    const plainProbers = await probe(plain.name);
    const encProbers = enc && ENC_TRIALS ? await probe(enc.name) : new Map<number, string>();
    log(`probers up; load ${load()}`);

    // 1+2. convergence; etcd counters around attaches and detaches
    const runTrials = async (net: string, third: number, probers: Map<number, string>, n: number) => {
      const conv: number[] = [];
      const pairs: number[] = [];
      const ph: Phases[] = [];
      const diags: (TrialDiag & { all: number })[] = [];
      const failures: string[] = [];
      // counters before/after each window of attaches and of detaches, summed over the windows
      const windows = { attach: [] as [EtcdCounters, EtcdCounters][], detach: [] as [EtcdCounters, EtcdCounters][] };
      let before = await etcdCounters(s);
      let names: string[] = [];
      for (let t = 0; t < n; t++) {
        const name = `t-${net}-${t}`;
        // addresses from .1 of the /20's 9th /24 on: far from what IPAM handed the containers
        // a trial without a reply everywhere within 5 s is counted and reported, not fatal
        const r = await trial(s, 0, probers, net, `10.${third}.${8 + Math.floor(t / 250)}.${(t % 250) + 1}`, name).catch((err: Error) => {
          failures.push(err.message);
          log(`trial failed: ${err.message}`);
          return undefined;
        });
        names.push(name);
        if (r) {
          conv.push(r.all);
          pairs.push(...r.each);
          ph.push(r.phases);
          diags.push({ all: r.all, ...r.diag });
        }
        // every 20 trials: counters for the 20 attaches, then remove them and count the detaches
        if (names.length === 20 || t === n - 1) {
          const mid = await etcdCounters(s);
          windows.attach.push([before, mid]);
          for (const x of names) {
            // a trial whose `berth run` failed left no container
            const r = await s.cli(0, ['rm', '-f', x]);
            if (r.code !== 0 && !/no such container/.test(r.stderr)) throw new Error(`berth rm -f ${x}: exit ${r.code}: ${r.stderr.trim()}`);
          }
          await sleep(300);
          windows.detach.push([mid, await etcdCounters(s)]);
          names = [];
          before = await etcdCounters(s);
          log(`${net}: ${t + 1}/${n} trials, p50 ${pct(conv, 0.5).toFixed(1)} ms, p99 ${pct(conv, 0.99).toFixed(1)} ms; load ${load()}`);
        }
      }
      return { conv, pairs, phases: ph, diags, failures, attach: perOp(sum(windows.attach, 0), sum(windows.attach, 1), n), detach: perOp(sum(windows.detach, 0), sum(windows.detach, 1), n) };
    };
    const third = (subnet: string) => Number(subnet.split('.')[1]);
    const loadTrials0 = load();
    const drops0 = backlogDrops();
    const disk0 = await etcdCounters(s);
    // the daemons' CPU over the plain trials: what one attach (and its detach) costs each host
    const ticks = () => Promise.all(s.daemons.map((d) => cpuTicks(d.proc.pid)));
    const ticks0 = await ticks();
    const p = await runTrials(plain.name, third(plain.subnet), plainProbers, TRIALS);
    const ticks1 = await ticks();
    // clock ticks are 10 ms: per trial, ms of CPU
    const cpuPerTrial = ticks1.map((x, i) => ((x - (ticks0[i] ?? 0)) * 10) / TRIALS);
    const disk1 = await etcdCounters(s);
    const drops = backlogDrops() - drops0;
    const fsync = { p50: fsyncQuantile(disk0, disk1, 0.5), p99: fsyncQuantile(disk0, disk1, 0.99), count: (disk1.fsync.get(Infinity) ?? 0) - (disk0.fsync.get(Infinity) ?? 0) };
    const loadTrials1 = load();
    const e = enc && ENC_TRIALS ? await runTrials(enc.name, third(enc.subnet), encProbers, ENC_TRIALS) : undefined;
    result.convergence = { plain: p, encrypted: e, load: [loadTrials0, loadTrials1], etcdWalFsyncMs: fsync, backlogDrops: drops, pingMs: PING_MS, daemonCpuMsPerTrial: cpuPerTrial };

    // 3. at rest: let the removals settle, then every daemon over the same window
    await sleep(5000);
    const loadRest = load();
    const counters0 = await etcdCounters(s);
    const rest = await Promise.all(
      s.daemons.map(async (d) => ({ cpu: await cpuPercent(d.proc.pid, REST_S * 1000), rss: (await memoryOf(d.proc.pid)).rssKb / 1024, ...(await rollup(d.proc.pid)) })),
    );
    const counters1 = await etcdCounters(s);
    const restCalls = perOp(counters0, counters1, REST_S);
    const etcdMem = await Promise.all(s.etcd.members.map(async (m) => (m.process ? (await memoryOf(m.process.pid)).rssKb / 1024 : NaN)));
    result.rest = { daemons: rest, load: loadRest, etcdCallsPerSecond: restCalls, etcdRssMb: etcdMem };

    // 4. entries per host
    const ent = await Promise.all(s.hosts.map((h) => entries(h)));
    result.entries = ent;
    const keys = (await etcdCounters(s)).keys;

    // 5. a new host: joined, synced (every remote endpoint of its networks in its FDB), reachable
    // the new host has no endpoint of its own: it should hold every endpoint of the cluster
    const expectFdb = CONTAINERS + plainProbers.size + encProbers.size;
    const t0 = Date.now();
    const added = await s.addHost();
    const joined = Date.now() - t0;
    let synced = NaN;
    let seen = 0;
    for (let w = 0; w < 300 && Number.isNaN(synced); w++) {
      seen = (await entries(added.host)).fdb;
      if (seen >= expectFdb) synced = Date.now() - t0;
      else await sleep(100);
    }
    if (Number.isNaN(synced)) log(`new host: FDB has ${seen} of ${expectFdb} entries after 30 s`);
    const addr = `10.${third(plain.subnet)}.15.250`;
    const reach = await trial(s, added.index, plainProbers, plain.name, addr, 'newhost-c');
    const reachable = Date.now() - t0;
    result.join = { joinMs: added.joinMs, joined, synced, fdbSeen: seen, expectFdb, firstContainerConvergence: reach.all, reachable };

    const mb = (x: number) => x.toFixed(1);
    const cpusOf = rest.map((r) => r.cpu);
    const rss = rest.map((r) => r.rss);
    const pss = rest.map((r) => r.pss);
    const priv = rest.map((r) => r.priv);
    const fdbs = ent.map((x) => x.fdb);
    const neighsN = ent.map((x) => x.neigh);
    const callsLine = (o: ReturnType<typeof perOp>) => `${o.total} (${Object.entries(o.calls).map(([k, v]) => `${k} ${v}`).join(', ')}), ${o.revisions} revisions, ${o.events} watch events sent`;
    lines.push(
      `### bench/scale — ${HOSTS} hosts, ${CONTAINERS} containers (+ ${2 * (HOSTS - 1)} probers), 5 overlay networks (2 encrypted)`,
      '',
      `Command (root): \`npm run build && node dist/bench/scale/run.js --hosts ${HOSTS} --containers ${CONTAINERS} --trials ${TRIALS} --enc-trials ${ENC_TRIALS} --rest-seconds ${REST_S} --ping-ms ${PING_MS}\`;`,
      `run ${new Date().toISOString()}, ${cpus().length} vCPU, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, kernel ${release()}; load average ${load0} at start, ${loadTrials0} → ${loadTrials1} over the plain trials, ${loadRest} at rest.`,
      `Lab build: hosts ${(s.timings.hosts / 1000).toFixed(1)} s, etcd ${(s.timings.etcd / 1000).toFixed(1)} s, daemons ${(s.timings.daemons / 1000).toFixed(1)} s, networks ${(s.timings.networks / 1000).toFixed(1)} s, containers ${(s.timings.containers / 1000).toFixed(1)} s.`,
      '',
      '| measure | value | target |',
      '|---|---|---|',
      `| convergence, plain overlay: \`berth run\` on ${s.hosts[0]?.name} → first reply on all ${HOSTS - 1} other hosts (${p.conv.length} trials, ${p.failures.length} without a reply everywhere within 5 s) | p50 ${pct(p.conv, 0.5).toFixed(1)} ms, p99 ${pct(p.conv, 0.99).toFixed(1)} ms, max ${Math.max(...p.conv).toFixed(1)} ms | p99 ≤ 100 ms |`,
      `| the same per host pair (${p.pairs.length} samples) | p50 ${pct(p.pairs, 0.5).toFixed(1)} ms, p99 ${pct(p.pairs, 0.99).toFixed(1)} ms | |`,
      ...(e ? [`| convergence, encrypted overlay (${e.conv.length} trials) | p50 ${pct(e.conv, 0.5).toFixed(1)} ms, p99 ${pct(e.conv, 0.99).toFixed(1)} ms, max ${Math.max(...e.conv).toFixed(1)} ms | |`] : []),
      `| where the time goes (median over trials, ms after \`berth run\` starts): endpoint in etcd / last host got the event / its kernel queue reached it / programmed / last first reply | ${phaseLine(p.phases)} | |`,
      ...(e ? [`| the same, encrypted | ${phaseLine(e.phases)} | |`] : []),
      `| the data path in the plain trials: over 1 s / of them with a container ARP retransmit / with an ARP table overflow; trials ≤ 1 s with a retransmit / an overflow | ${tailLine(p.diags)} | |`,
      `| the same, encrypted | ${e ? tailLine(e.diags) : '-'} | |`,
      `| etcd WAL fsync during the plain trials (bucket bounds, ${fsync.count} fsyncs; lab data dirs on the machine's disk) | p50 ≤ ${fsync.p50} ms, p99 ≤ ${fsync.p99} ms | |`,
      `| packets dropped for a full kernel backlog during the plain trials (/proc/net/softnet_stat, whole machine; probers ping every ${PING_MS} ms) | ${drops} | |`,
      `| daemon CPU per plain trial (its attach, detach and probes), ms: the sending host / each other host (median, max) / all hosts together | ${(cpuPerTrial[0] ?? NaN).toFixed(1)} / ${pct(cpuPerTrial.slice(1), 0.5).toFixed(1)}, ${Math.max(...cpuPerTrial.slice(1)).toFixed(1)} / ${cpuPerTrial.reduce((a, b) => a + b, 0).toFixed(1)} | |`,
      `| etcd calls per attach (all members) | ${callsLine(p.attach)} | |`,
      `| etcd calls per detach | ${callsLine(p.detach)} | |`,
      `| etcd at rest, per second | ${restCalls.total} unary calls, ${restCalls.events} watch events; ${keys} keys; member RSS ${etcdMem.map(mb).join(', ')} MB | |`,
      `| daemon RSS at rest (${rest.length} daemons) | median ${mb(pct(rss, 0.5))} MB, max ${mb(Math.max(...rss))} MB | ≤ 100 MB each |`,
      `| the same: Pss (node's shared file pages counted once over all node processes) / private (anonymous + private file pages) | Pss median ${mb(pct(pss, 0.5))}, max ${mb(Math.max(...pss))} MB; private median ${mb(pct(priv, 0.5))}, max ${mb(Math.max(...priv))} MB | |`,
      `| daemon CPU at rest over ${REST_S} s | median ${pct(cpusOf, 0.5).toFixed(2)} %, max ${Math.max(...cpusOf).toFixed(2)} % of a core | ≤ 1 % each |`,
      `| static FDB entries per host (remote endpoints) | min ${Math.min(...fdbs)}, max ${Math.max(...fdbs)} | |`,
      `| static neighbour entries per host | min ${Math.min(...neighsN)}, max ${Math.max(...neighsN)} | |`,
      `| new host: daemon start → joined / FDB synced / its container answers all ${HOSTS - 1} probers | ${added.joinMs} ms / ${synced} ms / ${reachable} ms (that container's convergence ${reach.all.toFixed(1)} ms) | |`,
    );
  } finally {
    // the daemons' logs (BERTH_TRACE stamps included) of the trials' sender and one receiver
    for (const i of [0, 1]) writeFileSync(join(OUT, `daemon-${i}.log`), s.daemons[i]?.proc.stderr() ?? '');
    const tc = Date.now();
    await s.close();
    result.closeMs = Date.now() - tc;
    lines.push('', `Lab teardown ${((Date.now() - tc) / 1000).toFixed(1)} s; whole run ${((Date.now() - t00) / 60000).toFixed(1)} min.`);
  }
  writeFileSync(join(OUT, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(OUT, 'summary.md'), `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
}

await main();
