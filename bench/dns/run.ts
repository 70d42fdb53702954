// bench/dns: queries per second and latency of berth's embedded DNS side by side with
// aardvark-dns (podman's resolver) serving the same names on the same network, in one run.
// Root only; everything happens in a lab (test/lab) that this script creates and deletes.
//
//   node dist/bench/dns/run.js --out DIR [--containers 20] [--rounds 3] [--seconds 10]
//        [--scenarios local-2k,local-max,fwd-max,nx-max] [--no-reference]
//        [--aardvark /usr/lib/podman/aardvark-dns] [--aardvark-port 5354] [--cpu-prof]
// (bench/dns/run.sh freezes a copy of the build and calls this; see bench/dns/README.md.)
//
// The lab: a berth host `h` running `berth daemon`, a user-defined network `benchnet`
// (10.90.0.0/24, gateway 10.90.0.1) with N containers `ctrNN` (alias `svcNN`) and one `client`
// container, every container with `--dns 10.200.0.2`: a fake upstream resolver (responder.ts)
// in an external namespace `up` of the lab. aardvark-dns gets the same names, generated from
// `berth network inspect` and `berth inspect`, and listens on the same gateway address on
// another port (berth's DNS is fixed to port 53); a third server, the reference, is a
// do-almost-nothing Node responder on the gateway too. dnsperf runs in the client container's
// network namespace (the servers tell clients apart by source address), against one server at a
// time, the servers taking turns in every round.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { type BackgroundProcess, BERTH_BIN, type Host, Lab, LAB_ENV_MARKER, REPO_ROOT, run, runIn } from '../../test/lab/index.js';
import { killContainers } from '../../test/e2e/daemon-helpers.js';

const HERE = dirname(fileURLToPath(import.meta.url));
const NODE = process.execPath;
const SUBNET = '10.90.0.0/24';
const GATEWAY = '10.90.0.1';
const H_ADDR = '10.200.0.1';
const UP_ADDR = '10.200.0.2';
const NETWORK = 'benchnet';
const REFERENCE_PORT = 5355;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (s: string): void => {
  process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
};

// ---- options -----------------------------------------------------------------------------------

const { values: opt } = parseArgs({
  options: {
    out: { type: 'string' },
    containers: { type: 'string', default: '20' },
    rounds: { type: 'string', default: '3' },
    seconds: { type: 'string', default: '10' },
    scenarios: { type: 'string' },
    'no-reference': { type: 'boolean', default: false },
    aardvark: { type: 'string', default: '/usr/lib/podman/aardvark-dns' },
    'aardvark-port': { type: 'string', default: '5354' },
    'cpu-prof': { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
  },
});

function int(name: string, v: string | undefined, min: number, max: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`bench/dns: --${name} ${String(v)}: expected an integer from ${min} to ${max}\n`);
    process.exit(2);
  }
  return n;
}

interface Scenario {
  id: string;
  title: string;
  /** which question file: local names, forwarded names, names the upstream does not know */
  questions: 'local' | 'fwd' | 'nx';
  args: string[];
}

// dnsperf keeps -q queries outstanding; at small -q (1-10) its sender sleeps between bursts here
// (1 in flight: ~280 qps at 0.18 ms latency against a trivial responder), so a closed loop with
// few queries in flight measures dnsperf, not the server. Latency at light load is therefore
// measured open loop, at a fixed offered rate (-Q) that every server sustains.
const SCENARIOS: Scenario[] = [
  { id: 'local-2k', title: 'local names (A), fixed offered load 2 000 qps', questions: 'local', args: ['-c', '1', '-q', '100', '-Q', '2000'] },
  { id: 'local-max', title: 'local names (A), 100 in flight, 4 sockets', questions: 'local', args: ['-c', '4', '-q', '100'] },
  { id: 'fwd-max', title: 'forwarded names (A, upstream answers), 100 in flight, 4 sockets', questions: 'fwd', args: ['-c', '4', '-q', '100'] },
  { id: 'nx-max', title: 'unknown names (forwarded, upstream NXDOMAIN), 100 in flight, 4 sockets', questions: 'nx', args: ['-c', '4', '-q', '100'] },
];

if (opt.help || !opt.out) {
  process.stderr.write(`usage: node dist/bench/dns/run.js --out DIR [--containers N] [--rounds R] [--seconds S]
       [--scenarios ${SCENARIOS.map((s) => s.id).join(',')}] [--no-reference]
       [--aardvark PATH] [--aardvark-port PORT] [--cpu-prof]\n`);
  process.exit(opt.help ? 0 : 2);
}
const N = int('containers', opt.containers, 1, 200);
const ROUNDS = int('rounds', opt.rounds, 1, 20);
const SECONDS = int('seconds', opt.seconds, 1, 120);
const AARDVARK_PORT = int('aardvark-port', opt['aardvark-port'], 1024, 65535);
const AARDVARK = opt.aardvark;
const wanted = opt.scenarios ? opt.scenarios.split(',') : SCENARIOS.map((s) => s.id);
for (const w of wanted) {
  if (!SCENARIOS.some((s) => s.id === w)) {
    process.stderr.write(`bench/dns: unknown scenario ${w}: expected some of ${SCENARIOS.map((s) => s.id).join(',')}\n`);
    process.exit(2);
  }
}
const scenarios = SCENARIOS.filter((s) => wanted.includes(s.id));
const OUT = resolve(opt.out);
if (process.getuid?.() !== 0) {
  process.stderr.write('bench/dns: must run as root (it builds network namespaces)\n');
  process.exit(1);
}
mkdirSync(join(OUT, 'runs'), { recursive: true });

// ---- small helpers -------------------------------------------------------------------------------

interface Server {
  id: 'berth' | 'aardvark' | 'reference';
  label: string;
  port: number;
  /** the process whose CPU time is measured */
  pid: number;
}

const CLK_TCK = 100;

/** utime + stime of a process (all its threads), in seconds. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whole-machine CPU busy % over ms (read-only /proc/stat): how much else was running. */
async function busyPct(ms: number): Promise<number> {
  const read = () => {
    const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').trim().split(/\s+/).slice(1, 9).map(Number);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    return { busy: f.reduce((a, b) => a + b, 0) - idle, total: f.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await sleep(ms);
  const b = read();
  return b.total > a.total ? Math.round((100 * (b.busy - a.busy)) / (b.total - a.total)) : 0;
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

function pct(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
}

function median(xs: number[]): number {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

async function waitUntil(what: string, timeoutMs: number, cond: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(100);
  }
}

// ---- one dnsperf run -------------------------------------------------------------------------------

interface RunResult {
  scenario: string;
  server: Server['id'];
  round: number;
  sent: number;
  completed: number;
  lost: number;
  qps: number;
  rcodes: string;
  /** latencies of completed queries, ms */
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
  /** CPU seconds the server process used during the run */
  cpu: number;
  /** wall seconds of the dnsperf run */
  wall: number;
  loadBefore: string;
  /** machine CPU busy % in the second before the run (the bench idle) */
  busyBefore: number;
}

async function dnsperf(clientNetns: string, server: Server, sc: Scenario, file: string, round: number, seconds = SECONDS): Promise<RunResult> {
  const argv = ['nsenter', `--net=${clientNetns}`, '--', 'dnsperf', '-s', GATEWAY, '-p', String(server.port), '-d', file, '-l', String(seconds), ...sc.args, '-v'];
  const busyBefore = await busyPct(1000);
  const loadBefore = loadavg();
  const cpu0 = cpuSeconds(server.pid);
  const t0 = performance.now();
  const child: ChildProcess = spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let lat = new Float64Array(1 << 16);
  let n = 0;
  let sum = 0;
  const text: string[] = [];
  let stderr = '';
  child.stderr?.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on('line', (l) => {
    // "> NOERROR name A 0.000123": one line per completed query (-v)
    if (l.startsWith('> ')) {
      const sp = l.lastIndexOf(' ');
      const ms = Number(l.slice(sp + 1)) * 1000;
      if (n === lat.length) {
        const bigger = new Float64Array(lat.length * 2);
        bigger.set(lat);
        lat = bigger;
      }
      lat[n++] = ms;
      sum += ms;
    } else {
      text.push(l);
    }
  });
  const code = await new Promise<number | null>((res) => child.on('close', (c) => res(c)));
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpuSeconds(server.pid) - cpu0;
  const raw = text.join('\n');
  writeFileSync(join(OUT, 'runs', `${sc.id}-${server.id}-r${round}.txt`), `${argv.join(' ')}\n\n${raw}\n${stderr}`);
  if (code !== 0) throw new Error(`dnsperf exited ${String(code)} (${argv.join(' ')}):\n${stderr}\n${raw.slice(-2000)}`);
  const num = (re: RegExp) => Number(re.exec(raw)?.[1] ?? NaN);
  const sorted = lat.subarray(0, n).sort();
  return {
    scenario: sc.id,
    server: server.id,
    round,
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    qps: num(/Queries per second:\s+([\d.]+)/),
    rcodes: /Response codes:\s+(.*)/.exec(raw)?.[1]?.trim() ?? '',
    p50: pct(sorted, 0.5),
    p90: pct(sorted, 0.9),
    p99: pct(sorted, 0.99),
    p999: pct(sorted, 0.999),
    max: n ? (sorted[n - 1] as number) : NaN,
    mean: n ? sum / n : NaN,
    cpu,
    wall,
    loadBefore,
    busyBefore,
  };
}

// ---- aardvark-dns ---------------------------------------------------------------------------------

interface InspectedContainer {
  Id: string;
  Name: string;
  HostConfig?: { Dns?: string[] };
  NetworkSettings: { SandboxKey: string; Networks: Record<string, { Aliases?: string[] | null; IPAddress: string; GlobalIPv6Address: string }> };
}

interface InspectedNetwork {
  Name: string;
  IPAM: { Config: { Subnet: string; Gateway?: string }[] };
  Containers: Record<string, { Name: string; IPv4Address: string; IPv6Address: string }>;
}

/**
 * aardvark-dns 1.4.0's configuration for one network (src/config/mod.rs of that release): a
 * file named after the network; first line the comma-separated listen addresses, then a space
 * and the network's DNS servers (comma-separated); then one line per container:
 * `ID IPV4S IPV6S NAMES [DNS_SERVERS]` (comma-separated lists, an empty field for none).
 * Names: the container name, its aliases and its 12-hex short id, as podman writes them (berth
 * answers the full id too: no stub resolver can ask for a 64-character label).
 */
function aardvarkConfig(net: InspectedNetwork, ctrs: InspectedContainer[]): string {
  const gateways = net.IPAM.Config.map((c) => c.Gateway).filter((g): g is string => !!g);
  const upstreams = new Set(ctrs.flatMap((c) => c.HostConfig?.Dns ?? []));
  const lines = [`${gateways.join(',')}${upstreams.size ? ` ${[...upstreams].join(',')}` : ''}`];
  for (const c of ctrs) {
    const ep = c.NetworkSettings.Networks[net.Name];
    if (!ep) continue;
    const names = [c.Name.replace(/^\//, ''), ...(ep.Aliases ?? []), c.Id.slice(0, 12)];
    const dns = c.HostConfig?.Dns ?? [];
    lines.push([c.Id, ep.IPAddress, ep.GlobalIPv6Address, names.join(','), ...(dns.length ? [dns.join(',')] : [])].join(' '));
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Start aardvark-dns in h. 1.4.0 always forks: the parent exits once the child serves, and the
 * child writes its PID to CONFIG_DIR/aardvark.pid. Its output goes to a file (the forked child
 * would otherwise hold our pipes open).
 */
async function startAardvark(h: Host, lab: Lab, configDir: string, logFile: string): Promise<{ pid: number; start: string }> {
  const fd = openSync(logFile, 'a');
  try {
    const argv = ['nsenter', `--net=${h.netnsPath}`, '--', AARDVARK, '--config', configDir, '-p', String(AARDVARK_PORT), 'run'];
    const child = spawn(argv[0] as string, argv.slice(1), {
      stdio: ['ignore', fd, fd],
      env: { ...process.env, [LAB_ENV_MARKER]: lab.tag, RUST_LOG: 'warn' },
    });
    const code = await new Promise<number | null>((res, rej) => {
      child.once('error', rej);
      child.once('exit', (c) => res(c));
    });
    if (code !== 0) throw new Error(`aardvark-dns exited ${String(code)}: ${readFileSync(logFile, 'utf8')}`);
  } finally {
    closeSync(fd);
  }
  const pid = Number((await readFile(join(configDir, 'aardvark.pid'), 'utf8')).trim());
  const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  if (!comm.startsWith('aardvark')) throw new Error(`aardvark.pid names ${pid} (${comm}), not aardvark-dns`);
  // it must live in the lab host, not anywhere else
  if (statSync(`/proc/${pid}/ns/net`).ino !== statSync(h.netnsPath).ino) throw new Error(`aardvark-dns ${pid} is not in ${h.nsName}`);
  return { pid, start: startTime(pid) as string };
}

async function stopPid(pid: number, start: string): Promise<void> {
  const alive = () => startTime(pid) === start;
  if (!alive()) return;
  process.kill(pid, 'SIGTERM');
  for (let i = 0; i < 30 && alive(); i++) await sleep(100);
  if (alive()) process.kill(pid, 'SIGKILL');
}

// ---- main ------------------------------------------------------------------------------------------

async function version(argv: string[]): Promise<string> {
  const r = await run(argv, { timeoutMs: 20_000 });
  return `${r.stdout}${r.stderr}`.split('\n').find((l) => /\d+\.\d+/.test(l) && !/syslog/.test(l))?.trim() ?? '?';
}

async function main(): Promise<void> {
  const meta: Record<string, string> = {
    date_utc: new Date().toISOString(),
    kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    cpus: String((readFileSync('/proc/cpuinfo', 'utf8').match(/^processor/gm) ?? []).length),
    node: process.version,
    berth: await version([NODE, BERTH_BIN, '--version']),
    berth_code: REPO_ROOT,
    aardvark: await version([AARDVARK, '--version']),
    dnsperf: await version(['dnsperf', '-h']),
    load_at_start: loadavg(),
    command: `node ${process.argv.slice(1).join(' ')}`,
  };
  log(`results -> ${OUT}`);
  const lab = await Lab.create({ label: 'bench-dns' });
  let daemon: BackgroundProcess | undefined;
  let aardvark: { pid: number; start: string } | undefined;
  let h: Host | undefined;
  try {
    const sw = await lab.createSwitch('under');
    h = await lab.createHost('h');
    const up = await lab.createExternal('up');
    await sw.plug(h, { ifname: 'eth0', address: `${H_ADDR}/24` });
    await sw.plug(up, { ifname: 'eth0', address: `${UP_ADDR}/24` });
    const responder = join(HERE, 'responder.js');
    const upstream = await up.spawn([NODE, responder, UP_ADDR, '53', 'upstream']);
    await upstream.waitForOutput('ready');

    const prof = opt['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', join(OUT, 'cpu-prof')] : [];
    daemon = await h.spawn([NODE, ...prof, BERTH_BIN, 'daemon']);
    await daemon.waitForOutput(/listening on /, { timeoutMs: 30_000 });
    await h.berthOk(['network', 'create', '--subnet', SUBNET, NETWORK]);
    const host = h;
    await waitUntil(`berth's DNS on ${GATEWAY}:53`, 15_000, async () => (await host.exec(['ss', '-Hlun', 'src', `${GATEWAY}:53`])).stdout.trim() !== '');
    log(`berth daemon (pid ${daemon.pid}) serves ${GATEWAY}:53; starting ${N} containers and a client`);
    const names: string[] = [];
    for (let i = 1; i <= N; i++) {
      const nn = String(i).padStart(2, '0');
      names.push(`ctr${nn}`);
      await h.berthOk(['run', '-d', '--name', `ctr${nn}`, '--network', NETWORK, '--network-alias', `svc${nn}`, '--dns', UP_ADDR, '--', 'sleep', '86400'], { timeoutMs: 30_000 });
    }
    await h.berthOk(['run', '-d', '--name', 'client', '--network', NETWORK, '--dns', UP_ADDR, '--', 'sleep', '86400'], { timeoutMs: 30_000 });

    // the same data for aardvark-dns, from what berth reports
    const net = (await h.berthJson<InspectedNetwork[]>(['network', 'inspect', NETWORK]))[0] as InspectedNetwork;
    const ctrs = await h.berthJson<InspectedContainer[]>(['inspect', ...names, 'client']);
    const client = ctrs.find((c) => c.Name === '/client') as InspectedContainer;
    const clientNetns = client.NetworkSettings.SandboxKey;
    const configDir = join(lab.dir, 'aardvark');
    mkdirSync(configDir);
    const config = aardvarkConfig(net, ctrs);
    writeFileSync(join(configDir, NETWORK), config);
    writeFileSync(join(OUT, 'aardvark-config.txt'), config);
    aardvark = await startAardvark(h, lab, configDir, join(OUT, 'aardvark.log'));
    log(`aardvark-dns (pid ${aardvark.pid}) serves ${GATEWAY}:${AARDVARK_PORT}`);
    const servers: Server[] = [
      { id: 'berth', label: `berth daemon (${GATEWAY}:53)`, port: 53, pid: daemon.pid },
      { id: 'aardvark', label: `aardvark-dns ${(meta.aardvark ?? '').replace(/^aardvark-dns\s*/, '')} (${GATEWAY}:${AARDVARK_PORT})`, port: AARDVARK_PORT, pid: aardvark.pid },
    ];
    if (!opt['no-reference']) {
      const ref = await h.spawn([NODE, responder, GATEWAY, String(REFERENCE_PORT), 'echo']);
      await ref.waitForOutput('ready');
      servers.push({ id: 'reference', label: `reference: do-nothing Node responder (${GATEWAY}:${REFERENCE_PORT})`, port: REFERENCE_PORT, pid: ref.pid });
    }
    if (readFileSync(`/proc/${daemon.pid}/comm`, 'utf8').trim() !== 'node') throw new Error(`pid ${daemon.pid} is not the daemon's node process`);

    // question files (dnsperf input) and the answers every server must give
    const expected = new Map<string, { rcode: string; answers: string[] }>();
    const files: Record<Scenario['questions'], string> = { local: join(OUT, 'q-local.txt'), fwd: join(OUT, 'q-fwd.txt'), nx: join(OUT, 'q-nx.txt') };
    const local: string[] = [];
    for (const c of ctrs.filter((x) => x.Name !== '/client')) {
      const ep = c.NetworkSettings.Networks[NETWORK];
      const alias = ep?.Aliases?.[0];
      if (!ep || !alias) throw new Error(`${c.Name}: no endpoint or alias on ${NETWORK}`);
      for (const n of [c.Name.slice(1), alias]) {
        local.push(`${n} A`);
        expected.set(`${n} A`, { rcode: 'NOERROR', answers: [ep.IPAddress] });
      }
    }
    const fwd = local.map((_, i) => `h${i + 1}.up.test A`);
    for (const q of fwd) expected.set(q, { rcode: 'NOERROR', answers: ['192.0.2.1'] });
    const nx = local.map((_, i) => `nosuch${i + 1}.example A`);
    for (const q of nx) expected.set(q, { rcode: 'NXDOMAIN', answers: [] });
    writeFileSync(files.local, `${local.join('\n')}\n`);
    writeFileSync(files.fwd, `${fwd.join('\n')}\n`);
    writeFileSync(files.nx, `${nx.join('\n')}\n`);
    writeFileSync(join(OUT, 'q-all.txt'), `${[...local, ...fwd, ...nx].join('\n')}\n`);

    // every server gives the expected answers before any load (the reference: local names only)
    await sleep(600); // the daemon follows the store every 250 ms
    const check = await runIn(clientNetns, [NODE, join(HERE, 'check.js'), join(OUT, 'q-all.txt'), ...servers.map((s) => `${GATEWAY}:${s.port}`)], { timeoutMs: 120_000, check: true });
    writeFileSync(join(OUT, 'check.json'), check.stdout);
    const got = JSON.parse(check.stdout) as Record<string, Record<string, { rcode?: string; answers?: string[]; error?: string }>>;
    const wrong: string[] = [];
    for (const s of servers) {
      for (const [q, expectedAnswer] of expected) {
        let want = expectedAnswer;
        if (s.id === 'reference' && !local.includes(q)) continue;
        // the reference looks nothing up: one fixed record for every name
        if (s.id === 'reference') want = { rcode: 'NOERROR', answers: ['192.0.2.1'] };
        const r = got[`${GATEWAY}:${s.port}`]?.[q];
        const ok = r && !r.error && r.rcode === want.rcode && JSON.stringify(r.answers) === JSON.stringify(want.answers);
        if (!ok) wrong.push(`${s.id}: ${q}: got ${JSON.stringify(r)}, expected ${JSON.stringify(want)}`);
      }
    }
    if (wrong.length) throw new Error(`the servers do not give the expected answers:\n  ${wrong.slice(0, 20).join('\n  ')}`);
    log(`check: every server answers the ${expected.size} questions as expected`);

    // warm-up: a few seconds of each server on the local names
    for (const s of servers) await dnsperf(clientNetns, s, { ...(SCENARIOS[1] as Scenario), id: 'warmup' }, files.local, 0, 3);

    const results: RunResult[] = [];
    for (let round = 1; round <= ROUNDS; round++) {
      for (const sc of scenarios) {
        const order = servers.filter((s) => s.id !== 'reference' || sc.questions === 'local');
        if (round % 2 === 0) order.reverse();
        for (const s of order) {
          const r = await dnsperf(clientNetns, s, sc, files[sc.questions], round);
          results.push(r);
          log(
            `round ${round} ${sc.id} ${s.id}: ${r.qps.toFixed(0)} qps, p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, lost ${r.lost}/${r.sent}, cpu ${(r.cpu / r.wall * 100).toFixed(0)}%, machine busy before ${r.busyBefore}%, load ${r.loadBefore}`,
          );
        }
      }
    }
    meta.load_at_end = loadavg();
    writeFileSync(join(OUT, 'results.json'), `${JSON.stringify({ meta, servers, scenarios, results }, null, 2)}\n`);
    writeFileSync(join(OUT, 'summary.md'), summary(meta, servers, results));
    log(`done: ${join(OUT, 'summary.md')}`);
    process.stdout.write(readFileSync(join(OUT, 'summary.md'), 'utf8'));
  } finally {
    if (aardvark) await stopPid(aardvark.pid, aardvark.start).catch((e: Error) => log(`stopping aardvark-dns: ${e.message}`));
    if (h) await killContainers(h).catch((e: Error) => log(`stopping containers: ${e.message}`));
    if (daemon) {
      const r = await daemon.kill(10_000).catch((e: Error) => log(`stopping the daemon: ${e.message}`));
      if (r) writeFileSync(join(OUT, 'daemon.log'), r.stderr);
    }
    await lab.close();
  }
}

// ---- the summary -----------------------------------------------------------------------------------

function summary(meta: Record<string, string>, servers: Server[], results: RunResult[]): string {
  const f = (x: number, d = 0) => (Number.isNaN(x) ? '–' : x.toLocaleString('en-US', { minimumFractionDigits: d, maximumFractionDigits: d }));
  const out: string[] = ['# bench/dns summary', '', '```'];
  for (const [k, v] of Object.entries(meta)) out.push(`${k}: ${v}`);
  out.push('```', '');
  out.push(`${N} containers (name \`ctrNN\`, alias \`svcNN\`) on \`${NETWORK}\`; dnsperf ${SECONDS} s per run, ${ROUNDS} rounds, servers alternating in each round.`);
  out.push('qps: median of the rounds (min–max); latency percentiles: median over the rounds of each run\'s percentile, every completed query of the run counted (dnsperf -v);');
  out.push('server CPU: the server process\'s CPU time (all threads) during the runs per answered query, and as a share of one core.', '');
  out.push('| scenario | server | qps | p50 ms | p99 ms | p99.9 ms | lost / sent | server CPU µs/query | server CPU % | qps vs aardvark | p99 vs aardvark |');
  out.push('|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  const ids = [...new Set(results.map((r) => r.scenario))];
  for (const sc of ids) {
    const title = SCENARIOS.find((s) => s.id === sc)?.title ?? sc;
    const agg = (server: string) => {
      const rs = results.filter((r) => r.scenario === sc && r.server === server);
      if (rs.length === 0) return undefined;
      const qs = rs.map((r) => r.qps);
      const completed = rs.reduce((a, r) => a + r.completed, 0);
      const cpu = rs.reduce((a, r) => a + r.cpu, 0);
      const wall = rs.reduce((a, r) => a + r.wall, 0);
      return {
        qps: median(qs),
        qmin: Math.min(...qs),
        qmax: Math.max(...qs),
        p50: median(rs.map((r) => r.p50)),
        p99: median(rs.map((r) => r.p99)),
        p999: median(rs.map((r) => r.p999)),
        lost: rs.reduce((a, r) => a + r.lost, 0),
        sent: rs.reduce((a, r) => a + r.sent, 0),
        usPerQuery: completed ? (cpu / completed) * 1e6 : NaN,
        cpuPct: wall ? (cpu / wall) * 100 : NaN,
      };
    };
    const base = agg('aardvark');
    for (const s of servers) {
      const a = agg(s.id);
      if (!a) continue;
      const vs = base && s.id !== 'aardvark' ? `${(a.qps / base.qps).toFixed(2)}×` : s.id === 'aardvark' ? '1.00×' : '–';
      const vsP = base && s.id !== 'aardvark' ? `${(a.p99 / base.p99).toFixed(2)}×` : s.id === 'aardvark' ? '1.00×' : '–';
      out.push(
        `| ${title} | ${s.label} | ${f(a.qps)} (${f(a.qmin)}–${f(a.qmax)}) | ${f(a.p50, 3)} | ${f(a.p99, 3)} | ${f(a.p999, 3)} | ${a.lost} / ${a.sent} | ${f(a.usPerQuery, 1)} | ${f(a.cpuPct)} | ${vs} | ${vsP} |`,
      );
    }
  }
  out.push('', '## Every run', '', '| round | scenario | server | qps | p50 ms | p99 ms | max ms | lost / sent | rcodes | server CPU s | machine busy % before | load before |', '|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---|');
  for (const r of results) {
    out.push(`| ${r.round} | ${r.scenario} | ${r.server} | ${f(r.qps)} | ${f(r.p50, 3)} | ${f(r.p99, 3)} | ${f(r.max, 1)} | ${r.lost} / ${r.sent} | ${r.rcodes} | ${f(r.cpu, 2)} | ${r.busyBefore} | ${r.loadBefore} |`);
  }
  out.push('');
  return `${out.join('\n')}\n`;
}

main().catch((e: unknown) => {
  log(`FAILED: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  process.exitCode = 1;
});
