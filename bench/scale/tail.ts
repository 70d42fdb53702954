// bench/scale/tail: a small reproduction of bench/scale's convergence tail (issue 17), with the
// evidence: a few lab hosts, probers that ping an address before it exists (exactly as
// bench/scale's probers do), then `berth run --ip` of that address on host 1; per trial the first
// reply on each prober host, the prober's and the new container's neighbour-table transitions
// (`ip monitor neigh` in their netns), and ARP/ICMP on the sender's overlay bridge (tcpdump).
//
//   npm run build && node dist/bench/scale/tail.js [--hosts 3] [--trials 10] [--ping-ms 2] [--out DIR]
//
// Output: one line per trial on stdout, the raw captures under --out (default
// bench/scale/results/tail-<UTC>).
//
// What it showed (session 6): no tail at 3 hosts, even with 20 probers (--probers-per-host 10)
// and 5–39 k backlog drops per trial: every new container resolved each prober with one ARP
// request. The tail needs what only the 20-host lab has: enough neighbour entries in the
// machine's one ARP table to pass its cap (see scale-lab.ts, pinUnderlay).

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { type BackgroundProcess, type Host, REPO_ROOT } from '../../test/lab/index.js';
import { buildScaleLab, type ScaleLab } from '../../test/e2e/scale-lab.js';
import { arg, wholeNumberArg } from '../args.js';

const num = wholeNumberArg;
const HOSTS = num('--hosts', 3, 2);
const TRIALS = num('--trials', 10, 1);
const PING_MS = num('--ping-ms', 2, 1);
const PER_HOST = num('--probers-per-host', 1, 1);
const OUT = arg('--out', join(REPO_ROOT, 'bench', 'scale', 'results', `tail-${new Date().toISOString().replace(/[:.]/g, '-')}`));
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const log = (line: string) => console.error(`# ${new Date().toISOString().slice(11, 23)} ${line}`);
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');

async function pidOf(s: ScaleLab, i: number, name: string): Promise<number> {
  const [c] = JSON.parse((await s.cli(i, ['inspect', name], { check: true })).stdout) as { State: { Pid: number } }[];
  if (!c?.State.Pid) throw new Error(`no pid for ${name}`);
  return c.State.Pid;
}

/** Packets the kernel dropped for a full per-CPU backlog since boot (whole machine). */
function backlogDrops(): number {
  return readFileSync('/proc/net/softnet_stat', 'utf8')
    .trim()
    .split('\n')
    .reduce((n, line) => n + parseInt(line.split(/\s+/)[1] ?? '0', 16), 0);
}

/** From `ip -s neigh`: how many ARP requests each entry took (the kernel's probes count starts at ucast_solicit, 3). */
function arpSent(text: string): string {
  const counts = [...text.matchAll(/probes (\d+)/g)].map((m) => Number(m[1]) - 3);
  const hist = new Map<number, number>();
  for (const c of counts) hist.set(c, (hist.get(c) ?? 0) + 1);
  return [...hist].sort((a, b) => a[0] - b[0]).map(([c, n]) => `${n}×${c}`).join(' ');
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  const s = await buildScaleLab({ hosts: HOSTS, containers: 0, networks: 1, encrypted: 0, label: 'bench scale tail', log });
  const bg: BackgroundProcess[] = [];
  try {
    const net = s.networks[0]?.name as string;
    const [nw] = JSON.parse((await s.cli(0, ['network', 'inspect', net], { check: true })).stdout) as { Id: string }[];
    const bridge = `ov-${nw?.Id.slice(0, 12)}`;
    // prober k lives on host 1 + k mod (HOSTS-1); the key is k, the value [host, pid]
    const probers = new Map<number, [number, number]>();
    for (let k = 0; k < (HOSTS - 1) * PER_HOST; k++) {
      const i = 1 + (k % (HOSTS - 1));
      const name = `probe-${k}`;
      await s.cli(i, ['run', '-d', '--name', name, '--network', net, '--', 'sleep', 'infinity'], { check: true });
      const pid = await pidOf(s, i, name);
      await (s.hosts[i] as Host).execOk(['nsenter', `--net=/proc/${pid}/ns/net`, 'sysctl', '-qw', 'net.ipv4.neigh.eth0.retrans_time_ms=10']);
      probers.set(k, [i, pid]);
    }
    for (let t = 0; t < TRIALS; t++) {
      const addr = `10.140.8.${t + 1}`;
      const name = `t${t}`;
      const h0 = s.hosts[0] as Host;
      const dump = await h0.spawn(['tcpdump', '-n', '-l', '-tt', '-i', bridge, 'arp or icmp']);
      const mons = new Map<number, BackgroundProcess>();
      for (const [k, [i, pid]] of probers) if (k < 2) mons.set(k, await (s.hosts[i] as Host).spawn(['nsenter', `--net=/proc/${pid}/ns/net`, 'ip', '-ts', 'monitor', 'neigh']));
      await sleep(300);
      const pings = new Map<number, BackgroundProcess>();
      for (const [k, [i, pid]] of probers) pings.set(k, await (s.hosts[i] as Host).spawn(['nsenter', `--net=/proc/${pid}/ns/net`, 'ping', '-n', '-D', '-i', (PING_MS / 1000).toFixed(3), '-W', '1', addr]));
      await sleep(20);
      const drops0 = backlogDrops();
      const t0 = Date.now() / 1000;
      await s.cli(0, ['run', '-d', '--name', name, '--network', net, '--ip', addr, '--', 'sleep', 'infinity'], { check: true });
      const tRun = Date.now() / 1000;
      // the new container's neighbour table as it changes
      const cpid = await pidOf(s, 0, name);
      const cmon = await h0.spawn(['nsenter', `--net=/proc/${cpid}/ns/net`, 'ip', '-ts', 'monitor', 'neigh']);
      const first = new Map<number, number>();
      const end = Date.now() + 6000;
      while (first.size < pings.size && Date.now() < end) {
        for (const [i, p] of pings) {
          const m = /^\[(\d+\.\d+)\] \d+ bytes from/m.exec(p.stdout());
          if (m && !first.has(i)) first.set(i, Number(m[1]));
        }
        await sleep(5);
      }
      await sleep(200);
      const drops = backlogDrops() - drops0;
      const cneigh = (await h0.execOk(['nsenter', `--net=/proc/${cpid}/ns/net`, 'ip', '-s', 'neigh'])).stdout;
      for (const p of [...pings.values(), ...mons.values(), cmon, dump]) p.signal('SIGINT');
      await Promise.all([...pings.values(), ...mons.values(), cmon, dump].map((p) => p.exited));
      const ms = (x: number | undefined) => (x === undefined ? 'none' : `${((x - t0) * 1000).toFixed(0)}`);
      const line = `trial ${t} ${addr}: run returned ${((tRun - t0) * 1000).toFixed(0)} ms; first reply per prober (ms): ${[...probers.keys()].map((k) => ms(first.get(k))).join(' ')}; new container's ARP requests per prober address (neigh probes - 3): ${arpSent(cneigh)}; backlog drops ${drops}; load ${load()}`;
      console.log(line);
      const file = join(OUT, `trial-${t}.txt`);
      const parts = [`${line}\nt0 ${t0.toFixed(6)}`, `## tcpdump ${bridge} on ${h0.name}\n${dump.stdout()}`, `## new container neigh monitor\n${cmon.stdout()}`, `## new container ip -s neigh\n${cneigh}`];
      for (const [k, p] of pings) parts.push(`## ping of prober ${k}\n${p.stdout().split('\n').slice(0, 80).join('\n')}`, `## prober ${k} neigh monitor\n${mons.get(k)?.stdout() ?? '(not watched)'}`);
      writeFileSync(file, parts.join('\n\n'));
    }
  } finally {
    for (const p of bg) p.signal('SIGINT');
    await s.close();
  }
}

await main();
