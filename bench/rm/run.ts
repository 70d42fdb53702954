// bench/rm: `rm -f` of a running container and `stop` of one that exits on SIGTERM (issue 16),
// side by side in one run in one lab: berth through the daemon (the thin client dist/berth),
// berth in-process with no daemon (bin/berth, BERTH_NO_DAEMON=1, so the on-exit hook has no daemon
// either), and Docker 20.10 (`docker rm -f`, `docker stop`) on a Docker bridge network.
// Alternating samples, so all see the same machine load; wall time of each CLI call.
//
//   npm run build && node dist/bench/rm/run.js [--reps N] [--out DIR]
//
// The lab (test/lab namespaces bt<tag>-*, all removed at the end): host h runs `berth daemon` and
// dockerd (see test/e2e/docker-plugin-helpers.ts). Every container is started untimed on a bridge
// network (berth's default network, a Docker bridge network), then the timed command ends it.
// Output: Markdown on stdout; results.json and summary.md under --out (default
// bench/rm/results/<UTC timestamp>).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { BERTH_BIN, BERTH_CLIENT, REPO_ROOT } from '../../test/lab/index.js';
import { dockerCmd, dockerMissing, dockerOk, pluginLab } from '../../test/e2e/docker-plugin-helpers.js';
import { arg } from '../args.js';

const REPS = Number(arg('--reps', '20'));
const OUT = arg('--out', join(REPO_ROOT, 'bench', 'rm', 'results', new Date().toISOString().replace(/[:.]/g, '-')));
if (!Number.isInteger(REPS) || REPS < 2) {
  console.error('usage: node dist/bench/rm/run.js [--reps N>=2] [--out DIR]');
  process.exit(2);
}
const why = dockerMissing();
if (why) {
  console.error(`bench/rm: ${why}`);
  process.exit(1);
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

// a process that exits on SIGTERM (PID 1 of a namespace ignores signals it has no handler for);
// it says "ready" once its handler is set, and stop is timed only after that
const TERMINABLE = ['sh', '-c', 'trap "exit 0" TERM; echo ready; sleep 100000 & wait'];
type Who = 'client' | 'in-process' | 'docker';
const WHO: Who[] = ['client', 'in-process', 'docker'];

const load = loadavg()[0] ?? 0;
const P = await pluginLab('bench-rm');
const samples: Record<string, number[]> = {};
const add = (k: string, v: number) => (samples[k] ??= []).push(v);
try {
  const { d, img } = P;
  const h = P.L.h;
  await dockerOk(d, ['network', 'create', '-d', 'bridge', '--subnet', '10.65.0.0/24', 'd-net']);
  const cli = (who: Who, args: string[]) => {
    if (who === 'docker') return dockerCmd(d, args);
    if (who === 'client') return h.exec([BERTH_CLIENT, ...args]);
    return h.exec([process.execPath, BERTH_BIN, ...args], { env: { BERTH_NO_DAEMON: '1' } });
  };
  const ok = async (who: Who, args: string[]): Promise<{ out: string; ms: number }> => {
    const r = await cli(who, args);
    if (r.code !== 0) throw new Error(`${who} ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
    return { out: r.stdout.trim(), ms: r.durationMs };
  };
  const start = async (who: Who, cmd: string[]): Promise<string> =>
    (await ok(who, who === 'docker' ? ['run', '-d', '--network', 'd-net', img, ...cmd] : ['run', '-d', '--network', 'bridge', '--', ...cmd])).out;
  // warm-up (image, default network, nft table), not counted
  for (const who of WHO) await ok(who, ['rm', '-f', await start(who, ['sleep', '100000'])]);
  for (let i = 0; i < REPS; i++) {
    // rotate which goes first, so none always runs right after another
    const order = [...WHO.slice(i % 3), ...WHO.slice(0, i % 3)];
    for (const who of order) {
      add(`rm-f ${who}`, (await ok(who, ['rm', '-f', await start(who, ['sleep', '100000'])])).ms);
      const id = await start(who, TERMINABLE);
      for (let t = 0; !(await ok(who, ['logs', id])).out.includes('ready'); t++) {
        if (t > 500) throw new Error(`${who}: container ${id} did not get ready`);
        await new Promise((r) => setTimeout(r, 10));
      }
      add(`stop ${who}`, (await ok(who, ['stop', id])).ms);
      await ok(who, ['rm', id]);
    }
  }
} finally {
  await P.close();
}

const label: Record<string, string> = { 'rm-f': '`rm -f` of a running `sleep` container', stop: '`stop` of a container that exits on SIGTERM' };
const whoLabel: Record<Who, string> = { client: 'berth, thin client + daemon', 'in-process': 'berth in-process, no daemon', docker: 'Docker 20.10 (dockerd)' };
const f = (x: number) => x.toFixed(1);
const rows = ['rm-f', 'stop'].flatMap((op) => {
  const docker50 = pct(samples[`${op} docker`] ?? [], 50);
  return WHO.map((who) => {
    const xs = samples[`${op} ${who}`] ?? [];
    return { op, who, n: xs.length, p50: pct(xs, 50), p95: pct(xs, 95), vsDocker: pct(xs, 50) / docker50 };
  });
});
const md = [
  '| operation | who | samples | p50 ms | p95 ms | p50 / Docker p50 |',
  '|---|---|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${label[r.op] ?? r.op} | ${whoLabel[r.who]} | ${r.n} | **${f(r.p50)}** | ${f(r.p95)} | ${r.vsDocker.toFixed(2)} |`),
  '',
  `${REPS} rotating samples per cell (wall time of the CLI call from the bench, nsenter included); ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, kernel ${release()}, load average ${load.toFixed(2)} at start.`,
].join('\n');
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'results.json'), `${JSON.stringify({ reps: REPS, load, samples, rows }, null, 2)}\n`);
writeFileSync(join(OUT, 'summary.md'), `${md}\n`);
console.log(md);
