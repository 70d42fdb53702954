// The scale lab (issue 17): N lab hosts on one underlay switch, a 3-member etcd cluster on the
// first three, a `berth daemon --cluster-store …` on every host, M overlay networks (the first E
// of them `-o encrypted`: wireguard-go per host) and C containers spread evenly over hosts and
// networks, started with `berth run -d` through each host's thin client. Used by bench/scale (20
// hosts × 1,000 containers) and by end-to-end tests (4–6 hosts); sizes come from the caller or
// from BERTH_SCALE_HOSTS / BERTH_SCALE_CONTAINERS (scaleSizeFromEnv).
//
//   const s = await buildScaleLab({ hosts: 6, containers: 100 });
//   try { … s.hosts[0], s.networks[0].name, s.containers … await s.addHost() … }
//   finally { await s.close(); }
//
// Everything lives in one Lab (netns bt<tag>-bh01…, its temp dir): close() removes all of it,
// containers, daemons, etcd and wireguard-go included.
import { type EtcdCluster, type ExecOptions, type ExecResult, type Host, Lab, type Switch, startEtcdCluster, BERTH_CLIENT } from '../lab/index.js';
import { findLabs, sweepLabs } from '../lab/sweep.js';
import { type Daemon, startDaemon } from './daemon-helpers.js';
import { ADDR, until } from './overlay-helpers.js';

export interface ScaleLabOptions {
  /** lab hosts (1–200); etcd runs on the first min(3, hosts) */
  hosts: number;
  /** containers, spread round-robin over hosts, then over networks */
  containers: number;
  /** overlay networks (default 5) */
  networks?: number;
  /** how many of the networks are `-o encrypted` (default 2, at most networks) */
  encrypted?: number;
  /** `berth run -d` calls in flight at once over the lab (default 4) */
  parallel?: number;
  /** the daemons' --cluster-lease-ttl, seconds (default: berth's own, 15) */
  leaseTtlSeconds?: number;
  /** extra environment of the daemons (e.g. BERTH_TRACE: '1') */
  daemonEnv?: Record<string, string>;
  /** extra environment of host i's daemon only, over daemonEnv (e.g. to compare settings side by side) */
  daemonEnvOf?: (i: number) => Record<string, string>;
  /** recorded in the lab's owner.json */
  label?: string;
  /** progress lines (default: none) */
  log?: (line: string) => void;
}

export interface ScaleNetwork {
  name: string;
  subnet: string;
  encrypted: boolean;
}

export interface ScaleContainer {
  name: string;
  /** index into hosts */
  host: number;
  network: string;
}

export interface ScaleLab {
  readonly lab: Lab;
  readonly underlay: Switch;
  readonly etcd: EtcdCluster;
  /** hosts in order; hosts[i] has underlay address ADDR(i) (overlay-helpers) */
  readonly hosts: Host[];
  /** daemons[i] runs on hosts[i] */
  readonly daemons: Daemon[];
  readonly networks: readonly ScaleNetwork[];
  readonly containers: ScaleContainer[];
  /** Timings of the build, ms. */
  readonly timings: { hosts: number; etcd: number; daemons: number; networks: number; containers: number };
  /**
   * Create and plug one more host and start its daemon; resolves once it has joined the cluster,
   * with joinMs from the daemon's start to its "cluster: joined" line.
   */
  addHost(): Promise<{ host: Host; daemon: Daemon; index: number; joinMs: number }>;
  /** `berth` through host i's thin client (its daemon serves it). */
  cli(i: number, args: readonly string[], opts?: ExecOptions): Promise<ExecResult>;
  /** Remove everything (idempotent). */
  close(): Promise<void>;
}

/** Host name of index i: bh01, bh02, … (the helper's lab prefix). */
export const scaleHostName = (i: number): string => `bh${String(i + 1).padStart(2, '0')}`;
/** Subnet of network j: 10.(140+j).0.0/20, room for 4,000 endpoints each. */
export const scaleSubnet = (j: number): string => `10.${140 + j}.0.0/20`;

/** Sizes from BERTH_SCALE_HOSTS and BERTH_SCALE_CONTAINERS, else the defaults given. */
export function scaleSizeFromEnv(defaults: { hosts: number; containers: number }): { hosts: number; containers: number } {
  const read = (name: string, fallback: number, max: number): number => {
    const raw = process.env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`invalid ${name}="${raw}": expected a whole number from 1 to ${max}`);
    return n;
  };
  return { hosts: read('BERTH_SCALE_HOSTS', defaults.hosts, 200), containers: read('BERTH_SCALE_CONTAINERS', defaults.containers, 5000) };
}

/** Run fn over items with at most `limit` in flight; rejects with the first failure after all settle. */
export async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const errors: unknown[] = [];
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) {
      await fn(items[i] as T, i).catch((e: unknown) => void errors.push(e));
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (errors.length) throw errors[0];
}

function check(opts: ScaleLabOptions): Required<Omit<ScaleLabOptions, 'leaseTtlSeconds' | 'label' | 'log' | 'daemonEnv' | 'daemonEnvOf'>> {
  const networks = opts.networks ?? 5;
  const encrypted = opts.encrypted ?? Math.min(2, networks);
  const parallel = opts.parallel ?? 4;
  const whole = (v: number, lo: number, hi: number, what: string) => {
    if (!Number.isInteger(v) || v < lo || v > hi) throw new Error(`buildScaleLab: ${what} ${v}: expected a whole number from ${lo} to ${hi}`);
  };
  whole(opts.hosts, 1, 200, 'hosts');
  whole(opts.containers, 0, 5000, 'containers');
  whole(networks, 1, 50, 'networks');
  whole(encrypted, 0, networks, 'encrypted');
  whole(parallel, 1, 64, 'parallel');
  return { hosts: opts.hosts, containers: opts.containers, networks, encrypted, parallel };
}

/**
 * Remove what crashed scale labs left (owner process gone, hosts named bh…): other labs, live or
 * not, are left alone. Returns the tags swept.
 */
export async function sweepScaleLabs(log: (line: string) => void = () => undefined): Promise<string[]> {
  const tags = [...(await findLabs()).byTag]
    .filter(([tag, e]) => tag !== '' && e.state === 'dead' && e.netns.some((n) => /^bt[0-9a-f]{4}-bh\d{2,3}$/.test(n)))
    .map(([tag]) => tag);
  if (!tags.length) return [];
  const r = await sweepLabs({ tags, log });
  if (r.errors.length) throw new Error(`sweeping crashed scale labs ${tags.join(', ')}: ${r.errors.join('; ')}`);
  log(`swept crashed scale labs ${tags.join(', ')}: ${r.removedNetns.length} netns, ${r.killed.length} processes`);
  return tags;
}

/**
 * Permanent underlay neighbours between `fresh` and every host (both ways). Every lab host's
 * neighbour entries live in the one kernel ARP table of this machine, whose non-permanent entries
 * are capped machine-wide (gc_thresh3, 1024; the machine's sysctl, not the lab's to raise): 20
 * hosts' underlay entries (380) plus the probers' took it over the cap, and the kernel then
 * refused new entries and evicted live ones ("neighbor table overflow", bench/scale's 1–5 s
 * tail). Separate machines each have their own table; permanent entries are outside the cap.
 */
async function pinUnderlay(all: readonly Host[], fresh: readonly Host[]): Promise<void> {
  const macOf = async (h: Host) => ((JSON.parse((await h.execOk(['ip', '-j', 'link', 'show', 'eth0'])).stdout) as { address: string }[])[0]?.address ?? '');
  const macs = new Map<Host, string>();
  await inParallel(all, 8, async (h) => void macs.set(h, await macOf(h)));
  const line = (peer: Host) => `neigh replace ${ADDR(all.indexOf(peer))} lladdr ${macs.get(peer)} dev eth0 nud permanent`;
  await inParallel(all, 8, async (h) => {
    const peers = fresh.includes(h) ? all.filter((p) => p !== h) : fresh.filter((p) => p !== h);
    if (peers.length) await h.execOk(['ip', '-batch', '-'], { input: `${peers.map(line).join('\n')}\n` });
  });
}

/** Build the lab (see the file comment). On any failure the lab is closed before the error is thrown. */
export async function buildScaleLab(opts: ScaleLabOptions): Promise<ScaleLab> {
  const o = check(opts);
  const log = opts.log ?? (() => undefined);
  await sweepScaleLabs(log);
  const lab = await Lab.create({ label: opts.label ?? `scale lab ${o.hosts} hosts ${o.containers} containers` });
  try {
    return await build(lab, o, opts, log);
  } catch (e) {
    await lab.close().catch((ce: unknown) => log(`scale lab cleanup: ${(ce as Error).message}`));
    throw e;
  }
}

async function build(lab: Lab, o: ReturnType<typeof check>, opts: ScaleLabOptions, log: (line: string) => void): Promise<ScaleLab> {
  const mark = () => {
    const t = Date.now();
    return () => Date.now() - t;
  };
  let t = mark();
  const underlay = await lab.createSwitch('under');
  const hosts: Host[] = [];
  const makeHost = async (i: number): Promise<Host> => {
    const h = await lab.createHost(scaleHostName(i));
    await underlay.plug(h, { ifname: 'eth0', address: `${ADDR(i)}/24` });
    return h;
  };
  // creating namespaces is mostly kernel and spawn time: a few at once
  const made: Host[] = new Array<Host>(o.hosts);
  await inParallel([...Array(o.hosts).keys()], 8, async (i) => {
    made[i] = await makeHost(i);
  });
  hosts.push(...made);
  await pinUnderlay(hosts, hosts);
  const timings = { hosts: t(), etcd: 0, daemons: 0, networks: 0, containers: 0 };
  log(`scale lab ${lab.tag}: ${o.hosts} hosts in ${timings.hosts} ms`);

  t = mark();
  const etcd = await startEtcdCluster(lab, hosts.slice(0, Math.min(3, hosts.length)));
  timings.etcd = t();

  const store = `etcd://${etcd.members.map((m) => m.endpoint).join(',')}`;
  const startOn = async (h: Host, i: number): Promise<Daemon> => {
    const args = ['--cluster-store', store, '--advertise-addr', ADDR(i)];
    if (opts.leaseTtlSeconds !== undefined) args.push('--cluster-lease-ttl', String(opts.leaseTtlSeconds));
    const env = { ...opts.daemonEnv, ...opts.daemonEnvOf?.(i) };
    const d = await startDaemon(h, { args, timeoutMs: 60_000, env });
    await until(`daemon on ${h.name} joins the cluster`, async () => /cluster: joined/.test(d.proc.stderr()), 60_000);
    return d;
  };
  t = mark();
  const daemons: Daemon[] = new Array<Daemon>(o.hosts);
  await inParallel(hosts, 4, async (h, i) => {
    daemons[i] = await startOn(h, i);
  });
  timings.daemons = t();
  log(`scale lab ${lab.tag}: etcd in ${timings.etcd} ms, ${o.hosts} daemons joined in ${timings.daemons} ms`);

  const cli = (i: number, args: readonly string[], eo: ExecOptions = {}): Promise<ExecResult> => {
    const h = hosts[i];
    if (!h) throw new Error(`scale lab: no host ${i}`);
    return h.exec([BERTH_CLIENT, ...args], eo);
  };

  t = mark();
  const networks: ScaleNetwork[] = [];
  for (let j = 0; j < o.networks; j++) {
    const n: ScaleNetwork = { name: `ov${j}`, subnet: scaleSubnet(j), encrypted: j >= o.networks - o.encrypted };
    await cli(j % o.hosts, ['network', 'create', '-d', 'overlay', '--subnet', n.subnet, '--attachable', ...(n.encrypted ? ['-o', 'encrypted'] : []), n.name], { check: true });
    networks.push(n);
  }
  // every host mirrors every network before containers start on it
  await inParallel(hosts, 4, async (_h, i) => {
    let missing: string[] = [];
    const start = Date.now();
    while (Date.now() - start < 120_000) {
      const r = await cli(i, ['network', 'ls', '--format', 'json']);
      const names = new Set(r.code === 0 ? (JSON.parse(r.stdout) as { Name: string }[]).map((x) => x.Name) : []);
      missing = networks.filter((n) => !names.has(n.name)).map((n) => n.name);
      if (!missing.length) return;
      await new Promise((res) => setTimeout(res, 200));
    }
    const tail = daemons[i]?.proc.stderr().split('\n').filter((l) => !l.startsWith('[trace ')).slice(-15).join('\n  ');
    throw new Error(`${scaleHostName(i)} lacks networks ${missing.join(', ')} after 120 s; its daemon's last lines:\n  ${tail}`);
  });
  timings.networks = t();

  // container k: host k mod H, network (k div H) mod M, so every host has every network
  const containers: ScaleContainer[] = [];
  for (let k = 0; k < o.containers; k++) {
    const net = networks[Math.floor(k / o.hosts) % networks.length] as ScaleNetwork;
    containers.push({ name: `c${k}`, host: k % o.hosts, network: net.name });
  }
  t = mark();
  let done = 0;
  const retries: string[] = [];
  await inParallel(containers, o.parallel, async (c) => {
    // etcd answering late on a loaded machine fails a run cleanly ("cluster store unreachable"):
    // removed and tried again, up to 3 times, and counted
    for (let attempt = 1; ; attempt++) {
      const r = await cli(c.host, ['run', '-d', '--name', c.name, '--network', c.network, '--', 'sleep', 'infinity'], { timeoutMs: 120_000 });
      if (r.code === 0) break;
      if (attempt >= 3 || !/cluster store unreachable/.test(r.stderr)) throw new Error(`berth run ${c.name} on ${scaleHostName(c.host)} (${c.network}): exit ${r.code}: ${r.stderr.trim()}`);
      retries.push(`${c.name}: ${r.stderr.trim()}`);
      await cli(c.host, ['rm', '-f', c.name]);
    }
    if (++done % 100 === 0) log(`scale lab ${lab.tag}: ${done}/${containers.length} containers`);
  });
  timings.containers = t();
  log(`scale lab ${lab.tag}: ${o.networks} networks in ${timings.networks} ms, ${containers.length} containers in ${timings.containers} ms (${retries.length} runs retried)`);
  for (const r of retries) log(`scale lab ${lab.tag}: retried ${r}`);

  const addHost = async (): Promise<{ host: Host; daemon: Daemon; index: number; joinMs: number }> => {
    const index = hosts.length;
    const host = await makeHost(index);
    hosts.push(host);
    await pinUnderlay(hosts, [host]);
    const t0 = Date.now();
    const daemon = await startOn(host, index);
    const joinMs = Date.now() - t0;
    daemons.push(daemon);
    return { host, daemon, index, joinMs };
  };

  return { lab, underlay, etcd, hosts, daemons, networks, containers, timings, addHost, cli, close: () => lab.close() };
}
