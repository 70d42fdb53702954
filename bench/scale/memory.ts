// bench/scale/memory.ts (issue 17): where an overlay daemon's resident memory goes, and what
// launcher settings change it, side by side in one scale lab (test/e2e/scale-lab.ts): host i's
// daemon runs with variant i mod V (extra environment), every host gets the same share of
// containers, then each daemon is read at rest from /proc/PID/smaps: Rss, Pss, private
// (anonymous + private file pages), the node binary's shared file pages, the [heap] (glibc main
// arena), other anonymous mappings (V8 spaces, thread arenas, stacks) by size.
//
//   npm run build && node dist/bench/scale/memory.js [--hosts 4] [--containers 200] [--churn 40]
//       [--variants base,arena2]
//
// --churn: after the lab is built, that many run/rm pairs per host (the scale bench's trials leave
// each daemon with a history of bursts: the young generation grows under them).
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { buildScaleLab, inParallel } from '../../test/e2e/scale-lab.js';
import { cpuPercent } from '../../test/e2e/daemon-helpers.js';
import { arg, wholeNumberArg } from '../args.js';

const num = (name: string, fallback: number): number => wholeNumberArg(name, fallback);
/** Variants by name: the extra environment of the daemon (the launcher passes it on to node). */
const VARIANTS: Record<string, Record<string, string>> = {
  base: {},
  arena2: { MALLOC_ARENA_MAX: '2' },
  semi1: { NODE_OPTIONS: '--max-semi-space-size=1' },
  both: { MALLOC_ARENA_MAX: '2', NODE_OPTIONS: '--max-semi-space-size=1' },
  trim: { MALLOC_ARENA_MAX: '2', MALLOC_TRIM_THRESHOLD_: '131072', MALLOC_MMAP_THRESHOLD_: '131072' },
  pool1: { UV_THREADPOOL_SIZE: '1' },
  tun: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=131072:glibc.malloc.mmap_threshold=131072' },
  tuntrim: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=2:glibc.malloc.trim_threshold=131072' },
  tun1: { GLIBC_TUNABLES: 'glibc.malloc.arena_max=1:glibc.malloc.trim_threshold=131072:glibc.malloc.mmap_threshold=131072' },
};
const HOSTS = Math.max(1, num('--hosts', 4));
const CONTAINERS = num('--containers', 200);
const CHURN = num('--churn', 40);
const names = arg('--variants', 'base,arena2').split(',');
for (const n of names) if (!VARIANTS[n]) {
  console.error(`unknown variant ${n}: expected ${Object.keys(VARIANTS).join(', ')}`);
  process.exit(2);
}
const log = (line: string) => console.error(`# ${new Date().toISOString().slice(11, 19)} ${line}`);

interface Breakdown { rss: number; pss: number; priv: number; nodeFile: number; otherFile: number; heap: number; anonBig: number; anonSmall: number; stacks: number; threads: number }

/** kB figures of pid's mappings, from /proc/PID/smaps. */
async function breakdown(pid: number): Promise<Breakdown> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  const threads = Number(/^Threads:\s+(\d+)/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  const b: Breakdown = { rss: 0, pss: 0, priv: 0, nodeFile: 0, otherFile: 0, heap: 0, anonBig: 0, anonSmall: 0, stacks: 0, threads };
  let name = '';
  let size = 0;
  for (const line of text.split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) {
      name = head[1] ?? '';
      continue;
    }
    const f = /^(\w+):\s+(\d+) kB/.exec(line);
    if (!f) continue;
    const v = Number(f[2]);
    if (f[1] === 'Size') size = v;
    else if (f[1] === 'Rss') {
      b.rss += v;
      if (name.startsWith('/') && /\/node$/.test(name)) b.nodeFile += v;
      else if (name.startsWith('/')) b.otherFile += v;
      else if (name === '[heap]') b.heap += v;
      else if (name.startsWith('[stack')) b.stacks += v;
      else if (name === '' && size >= 8192) b.anonBig += v;
      else if (name === '') b.anonSmall += v;
    } else if (f[1] === 'Pss') b.pss += v;
    else if (f[1] === 'Private_Clean' || f[1] === 'Private_Dirty') b.priv += v;
  }
  return b;
}

/** The 25 mappings of pid with the most Rss: range size, perms, Rss, name. */
async function largest(pid: number): Promise<string> {
  const text = await readFile(`/proc/${pid}/smaps`, 'utf8');
  const maps: { head: string; rss: number }[] = [];
  for (const line of text.split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) maps.push({ head: `${((parseInt(head[2] ?? '0', 16) - parseInt(head[1] ?? '0', 16)) / 1024).toFixed(0)} kB ${head[3]} ${head[4]}`, rss: 0 });
    const f = /^Rss:\s+(\d+) kB/.exec(line);
    const last = maps[maps.length - 1];
    if (f && last) last.rss = Number(f[1]);
  }
  return maps.sort((a, b) => b.rss - a.rss).slice(0, 25).map((m) => `  rss ${m.rss} kB: ${m.head}`).join('\n');
}

const s = await buildScaleLab({ hosts: HOSTS, containers: CONTAINERS, label: 'bench scale memory', log, daemonEnvOf: (i) => VARIANTS[names[i % names.length] as string] ?? {} });
try {
  log(`lab built; churn ${CHURN} run/rm per host`);
  await inParallel([...Array(HOSTS).keys()], HOSTS, async (i) => {
    const net = s.networks[i % s.networks.length]?.name ?? 'ov0';
    for (let k = 0; k < CHURN; k++) {
      await s.cli(i, ['run', '-d', '--name', `m${i}-${k}`, '--network', net, '--', 'sleep', 'infinity'], { check: true, timeoutMs: 120_000 });
      await s.cli(i, ['rm', '-f', `m${i}-${k}`], { check: true, timeoutMs: 120_000 });
    }
  });
  log('at rest 10 s');
  await new Promise((r) => setTimeout(r, 10_000));
  const load = loadavg().map((x) => x.toFixed(2)).join(' ');
  const rows = await Promise.all(s.daemons.map(async (d, i) => ({ i, variant: names[i % names.length], cpu: await cpuPercent(d.proc.pid, 10_000), ...(await breakdown(d.proc.pid)) })));
  const mb = (kb: number) => (kb / 1024).toFixed(1);
  console.log(`hosts ${HOSTS}, containers ${CONTAINERS}, churn ${CHURN}/host, load ${load}`);
  console.log('| host | variant | Rss | Pss | private | node file | other files | [heap] | anon >=8M | anon <8M | threads | CPU % |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  // the largest anonymous mappings of host 0's daemon and of the next variant's (what they are)
  for (const i of [0, 1].filter((x) => x < HOSTS)) console.error(`host ${i} (${names[i % names.length]}) largest mappings:\n${await largest(s.daemons[i]?.proc.pid ?? 0)}`);
  for (const r of rows) console.log(`| ${r.i} | ${r.variant} | ${mb(r.rss)} | ${mb(r.pss)} | ${mb(r.priv)} | ${mb(r.nodeFile)} | ${mb(r.otherFile)} | ${mb(r.heap)} | ${mb(r.anonBig)} | ${mb(r.anonSmall)} | ${r.threads} | ${r.cpu.toFixed(2)} |`);
} finally {
  await s.close();
}
