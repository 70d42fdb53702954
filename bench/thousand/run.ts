// bench/thousand: N containers (default 1000) on one host through the daemon (issue 16, "Done
// when": attach p50 at N <= 1.2x its value at 10; daemon RSS <= 120 MB; every name resolves;
// `system check` <= 1 s; nft rule count constant; removing all N <= 30 s).
//
//   npm run build && node dist/bench/thousand/run.js [-n N] [--batch B] [--docker M] [--out DIR]
//
// One lab host (test/lab: netns bt<tag>-be-h, removed at the end) runs `berth daemon`; a
// user-defined bridge network be-net (10.80.0.0/20, room for 4093 endpoints) gets N containers,
// each `berth run -d` through the thin client (dist/berth) publishing one TCP port. Recorded:
// the wall time of every `run -d` (p50 over containers 1-10, N/2-10..N/2+10, N-10..N), the
// daemon's VmRSS and the rule count of `table inet berth` every 100 containers, `system check`
// time at 10, N/2 and N, every container's name resolved from the first one (embedded DNS), and
// then `rm -f` of all N ids in one command, timed. With --batch B, a second round creates N
// again and removes them B ids per command. With --docker M, Docker 20.10 (dockerd in the same
// lab host, busybox image, a Docker bridge network) gets M containers the same way as an anchor.
// Output: Markdown on stdout; results.json and summary.md under --out (default
// bench/thousand/results/<UTC timestamp>). With BERTH_TRACE set (passed on to the daemon, the
// client and berth-init), the runs of the three windows also get their berth-init steps (its
// stamps in the container's log) in ms after the bench started the command, median per window.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { BERTH_CLIENT, type Host, Lab, REPO_ROOT } from '../../test/lab/index.js';
import { killContainers, memoryOf, startDaemon, stopDaemon } from '../../test/e2e/daemon-helpers.js';
import { dockerCmd, dockerMissing, importBusybox, startDockerd, stopDockerd } from '../../test/e2e/docker-plugin-helpers.js';
import { RESOLVE_ALL } from './resolve-all.js';
import { arg } from '../args.js';

const N = Number(arg('-n', '1000'));
const BATCH = Number(arg('--batch', '0'));
const DOCKER = Number(arg('--docker', '0'));
const OUT = arg('--out', join(REPO_ROOT, 'bench', 'thousand', 'results', new Date().toISOString().replace(/[:.]/g, '-')));
if (!Number.isInteger(N) || N < 20 || N > 4000 || !Number.isInteger(BATCH) || BATCH < 0 || !Number.isInteger(DOCKER) || DOCKER < 0) {
  console.error('usage: node dist/bench/thousand/run.js [-n N (20..4000)] [--batch B] [--docker M] [--out DIR]');
  process.exit(2);
}
const whyNoDocker = DOCKER ? dockerMissing() : undefined;
if (whyNoDocker) {
  console.error(`bench/thousand: --docker: ${whyNoDocker}`);
  process.exit(1);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}
const load = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const log = (s: string) => console.error(`# ${new Date().toISOString().slice(11, 19)} ${s}`);
const f1 = (x: number) => x.toFixed(1);

/** Rules, chains and map/set elements of table inet berth in h. */
async function nftCounts(h: Host): Promise<{ rules: number; chains: number; elements: number }> {
  const r = await h.execOk(['nft', '-j', 'list', 'table', 'inet', 'berth']);
  const objs = (JSON.parse(r.stdout) as { nftables: Record<string, { elem?: unknown[] }>[] }).nftables;
  let rules = 0;
  let chains = 0;
  let elements = 0;
  for (const o of objs) {
    if (o.rule) rules++;
    if (o.chain) chains++;
    elements += (o.map?.elem ?? o.set?.elem ?? []).length;
  }
  return { rules, chains, elements };
}

/** The three windows of attach latencies: first 10, the 21 around the middle, last 11. */
function windows(ms: number[]): { label: string; xs: number[]; first: number; last: number }[] {
  const n = ms.length;
  const mid = Math.floor(n / 2);
  return [
    { label: `1-10`, xs: ms.slice(0, 10), first: 1, last: 10 },
    { label: `${mid - 10}-${mid + 10}`, xs: ms.slice(mid - 11, mid + 10), first: mid - 10, last: mid + 10 },
    { label: `${n - 10}-${n}`, xs: ms.slice(n - 11), first: n - 10, last: n },
  ];
}

/** berth-init's BERTH_TRACE stamps in a container's log: label -> ms after t0 (epoch ms). */
function initSteps(log: string, t0: number): Record<string, number> {
  const steps: Record<string, number> = {};
  for (const m of log.matchAll(/^\[berth-init \d+ (\d+\.\d+)\] (.+)$/gm)) steps[m[2] as string] = Number(m[1]) * 1000 - t0;
  return steps;
}

interface Round {
  attachMs: number[];
  /** with BERTH_TRACE: berth-init's steps of the runs in the three windows, by container number */
  steps: Record<number, Record<string, number>>;
  rss: { n: number; rssMb: number; hwmMb: number }[];
  nft: { n: number; rules: number; chains: number; elements: number }[];
  check: { n: number; ms: number; findings: number }[];
  rm: { ids: number; commands: number; totalMs: number; perCommandMs: number[] };
}

const lab = await Lab.create({ label: 'bench thousand' });
const result: { n: number; batch: number; load: { start: string; end?: string }; rounds: Round[]; dns?: Record<string, number>; docker?: Record<string, unknown> } = {
  n: N,
  batch: BATCH,
  load: { start: load() },
  rounds: [],
};
try {
  const h = await lab.createHost('be-h');
  const client = (args: string[], timeoutMs = 120_000) => h.exec([BERTH_CLIENT, ...args], { timeoutMs });
  const ok = async (args: string[], timeoutMs?: number) => {
    const r = await client(args, timeoutMs);
    if (r.code !== 0) throw new Error(`berth ${args.slice(0, 6).join(' ')}…: exit ${r.code}: ${r.stderr.slice(0, 2000)}`);
    return r;
  };
  const d = await startDaemon(h);
  try {
    await ok(['network', 'create', '--subnet', '10.80.0.0/20', 'be-net']);
    // warm-up, not counted: the first run loads the daemon's code paths
    await ok(['rm', '-f', (await ok(['run', '-d', '--network', 'be-net', '--', 'sleep', '1000000'])).stdout.trim()]);

    const round = async (r: number): Promise<{ round: Round; ids: string[] }> => {
      const out: Round = { steps: {}, attachMs: [], rss: [], nft: [], check: [], rm: { ids: N, commands: 0, totalMs: 0, perCommandMs: [] } };
      const ids: string[] = [];
      const checkAt = new Set([10, Math.floor(N / 2), N]);
      const mid = Math.floor(N / 2);
      const traced = (i: number) => process.env.BERTH_TRACE && (i <= 10 || Math.abs(i - mid) <= 10 || i >= N - 10);
      for (let i = 1; i <= N; i++) {
        const t0 = Date.now();
        const res = await ok(['run', '-d', '--name', `be${r}-${i}`, '--network', 'be-net', '-p', `${20000 + i}:80`, '--', 'sleep', '1000000']);
        ids.push(res.stdout.trim());
        if (traced(i)) out.steps[i] = { start: t0, ...initSteps(readFileSync(join(h.runDir, 'containers', res.stdout.trim(), 'log'), 'utf8'), t0), 'client exited': res.durationMs };
        out.attachMs.push(res.durationMs);
        if (i % 100 === 0 || i === 10 || i === N) {
          const m = await memoryOf(d.proc.pid);
          out.rss.push({ n: i, rssMb: m.rssKb / 1024, hwmMb: m.hwmKb / 1024 });
          out.nft.push({ n: i, ...(await nftCounts(h)) });
        }
        if (checkAt.has(i)) {
          const c = await client(['system', 'check', '--format', 'json']);
          if (c.code === null || c.code > 1) throw new Error(`system check: exit ${c.code}: ${c.stderr}`);
          out.check.push({ n: i, ms: c.durationMs, findings: (JSON.parse(c.stdout) as unknown[]).length });
        }
        if (i % 100 === 0) log(`round ${r}: ${i} containers, last run -d ${f1(res.durationMs)} ms, load ${load()}`);
      }
      return { round: out, ids };
    };

    for (const [r, batch] of (BATCH ? [[1, 0], [2, BATCH]] : [[1, 0]]) as [number, number][]) {
      const { round: out, ids } = await round(r);
      if (r === 1) {
        // every name, resolved from the first container through the embedded DNS
        const names = ids.map((_, i) => `be1-${i + 1}`);
        const res = await ok(['exec', ids[0] as string, '--', process.execPath, '--input-type=module', '-e', RESOLVE_ALL, ...names], 600_000);
        result.dns = JSON.parse(res.stdout) as Record<string, number>;
        log(`dns: ${JSON.stringify(result.dns)}`);
      }
      const chunks = batch ? Array.from({ length: Math.ceil(ids.length / batch) }, (_, k) => ids.slice(k * batch, (k + 1) * batch)) : [ids];
      const t0 = Date.now();
      for (const chunk of chunks) out.rm.perCommandMs.push((await ok(['rm', '-f', ...chunk], 600_000)).durationMs);
      out.rm.totalMs = Date.now() - t0;
      out.rm.commands = chunks.length;
      const left = await ok(['ps', '-a', '-q']);
      if (left.stdout.trim()) throw new Error(`containers left after rm -f: ${left.stdout.split('\n').length}`);
      const after = await nftCounts(h);
      log(`round ${r}: rm -f of ${N} in ${chunks.length} command(s): ${out.rm.totalMs} ms; nft after: ${JSON.stringify(after)}`);
      result.rounds.push(out);
    }
  } finally {
    // the daemon's own log, for a run that failed (it said why there)
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'daemon.log'), `exit: ${d.proc.running ? 'running' : 'gone'}\n${process.env.BERTH_TRACE ? d.proc.stderr() : d.proc.stderr().slice(-200_000)}`);
    await stopDaemon(d).catch(() => undefined);
    await killContainers(h);
  }

  if (DOCKER) {
    const dk = await startDockerd(h, 'be-dockerd');
    try {
      const img = await importBusybox(dk);
      const dok = async (args: string[]) => {
        const r = await dockerCmd(dk, args, 600_000);
        if (r.code !== 0) throw new Error(`docker ${args.slice(0, 6).join(' ')}: exit ${r.code}: ${r.stderr}`);
        return r;
      };
      await dok(['network', 'create', '-d', 'bridge', '--subnet', '10.81.0.0/20', 'be-dnet']);
      const ms: number[] = [];
      const ids: string[] = [];
      for (let i = 1; i <= DOCKER; i++) {
        const r = await dok(['run', '-d', '--network', 'be-dnet', '-p', `${20000 + i}:80`, img, 'sleep', '1000000']);
        ids.push(r.stdout.trim());
        ms.push(r.durationMs);
        if (i % 50 === 0) log(`docker: ${i} containers, load ${load()}`);
      }
      const t0 = Date.now();
      await dok(['rm', '-f', ...ids]);
      result.docker = { n: DOCKER, attachMs: ms, rmAllMs: Date.now() - t0 };
    } finally {
      await stopDockerd(dk);
    }
  }
} finally {
  await lab.close();
}
result.load.end = load();

// ---- the summary ---------------------------------------------------------------------------------
const md: string[] = [];
for (const [k, r] of result.rounds.entries()) {
  const w = windows(r.attachMs);
  const base = pct(w[0]?.xs ?? [], 50);
  md.push(`### Round ${k + 1}: ${N} × \`berth run -d -p\` through the thin client, then \`rm -f\` in ${r.rm.commands} command(s)`, '');
  md.push('| containers | `run -d` p50 ms | p95 ms | p50 / p50 at 1-10 |', '|---|---:|---:|---:|');
  for (const x of w) md.push(`| ${x.label} | **${f1(pct(x.xs, 50))}** | ${f1(pct(x.xs, 95))} | ${(pct(x.xs, 50) / base).toFixed(2)} |`);
  const traced = Object.keys(r.steps).map(Number);
  if (traced.length) {
    md.push('', 'berth-init steps (BERTH_TRACE), median ms after the bench started `run -d`:', '');
    const labels = Object.keys(r.steps[traced[0] as number] ?? {}).filter((l) => l !== 'start');
    md.push(`| containers | ${labels.join(' | ')} |`, `|---|${labels.map(() => '---:').join('|')}|`);
    for (const x of w) {
      const nums = traced.filter((i) => i >= x.first && i <= x.last);
      md.push(`| ${x.label} | ${labels.map((l) => f1(pct(nums.map((i) => r.steps[i]?.[l] ?? NaN), 50))).join(' | ')} |`);
    }
  }
  md.push('', '| containers | daemon VmRSS MB | VmHWM MB | nft rules | chains | map/set elements |', '|---:|---:|---:|---:|---:|---:|');
  for (const [i, m] of r.rss.entries()) {
    const nf = r.nft[i];
    md.push(`| ${m.n} | ${f1(m.rssMb)} | ${f1(m.hwmMb)} | ${nf?.rules ?? ''} | ${nf?.chains ?? ''} | ${nf?.elements ?? ''} |`);
  }
  md.push('', `\`system check\`: ${r.check.map((c) => `${f1(c.ms)} ms at ${c.n} (${c.findings} findings)`).join(', ')}.`);
  const per = r.rm.perCommandMs;
  md.push(`\`rm -f\` of all ${N}: **${(r.rm.totalMs / 1000).toFixed(1)} s** in ${r.rm.commands} command(s)${r.rm.commands > 1 ? ` (per command p50 ${f1(pct(per, 50))} ms, max ${f1(Math.max(...per))} ms)` : ''}.`, '');
}
if (result.dns) md.push(`DNS: ${result.dns.resolved}/${result.dns.names} names resolved from one container (${result.dns.server}), sequentially in ${f1(result.dns.totalMs ?? NaN)} ms, p50 ${f1(result.dns.p50Ms ?? NaN)} ms, p99 ${f1(result.dns.p99Ms ?? NaN)} ms per name.`, '');
if (result.docker) {
  const dm = result.docker.attachMs as number[];
  const w = windows(dm);
  md.push(`Docker 20.10 anchor, ${DOCKER} × \`docker run -d -p\` (busybox) on a Docker bridge network: p50 ${w.map((x) => `${f1(pct(x.xs, 50))} ms at ${x.label}`).join(', ')}; \`docker rm -f\` of all ${DOCKER} in one command ${((result.docker.rmAllMs as number) / 1000).toFixed(1)} s.`, '');
}
md.push(`${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, kernel ${release()}, load average ${result.load.start} at start, ${result.load.end} at the end.`);
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'results.json'), `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(join(OUT, 'summary.md'), `${md.join('\n')}\n`);
console.log(md.join('\n'));
