// bench/docker: what berth's Docker network driver costs dockerd, against Docker's own `bridge`
// driver, side by side in one run in one lab (issue 14): `docker network connect` (+ disconnect)
// of a running container, and `docker run --rm IMAGE true`, on a berth network (-d berth: the
// remote plugin, berth's bridge, veth handed to dockerd) and on a Docker bridge network.
// Alternating samples, so both see the same machine load; wall time of each docker CLI call.
//
//   npm run build && node dist/bench/docker/run.js [--reps N] [--out DIR]
//
// The lab (test/lab namespaces bt<tag>-*, all removed at the end): host h runs `berth daemon
// --docker-plugin` and dockerd 20.10 (--bridge none --iptables=false, see
// test/e2e/docker-plugin-helpers.ts). Output: Markdown on stdout; results.json under --out
// (default bench/docker/results/<UTC timestamp>).
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '../../test/lab/index.js';
import { dockerCmd, dockerMissing, dockerOk, pluginLab, type Dockerd } from '../../test/e2e/docker-plugin-helpers.js';
import { arg } from '../args.js';

const REPS = Number(arg('--reps', '30'));
const OUT = arg('--out', join(REPO_ROOT, 'bench', 'docker', 'results', new Date().toISOString().replace(/[:.]/g, '-')));
if (!Number.isInteger(REPS) || REPS < 2) {
  console.error('usage: node dist/bench/docker/run.js [--reps N>=2] [--out DIR]');
  process.exit(2);
}
const why = dockerMissing();
if (why) {
  console.error(`bench/docker: ${why}`);
  process.exit(1);
}

/** Wall time of one docker call (ms); fails the run if the call fails. */
async function timed(d: Dockerd, args: string[]): Promise<number> {
  const r = await dockerCmd(d, args);
  if (r.code !== 0) throw new Error(`docker ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return r.durationMs;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
}

const load = loadavg()[0] ?? 0;
const P = await pluginLab('bench-docker');
const samples: Record<string, number[]> = { 'connect berth': [], 'connect bridge': [], 'disconnect berth': [], 'disconnect bridge': [], 'run berth': [], 'run bridge': [] };
try {
  const { d, img, driver } = P;
  // a home network for each idle container, and the network it is connected to and from
  await dockerOk(d, ['network', 'create', '-d', driver, '--subnet', '10.61.0.0/24', 'b-home']);
  await dockerOk(d, ['network', 'create', '-d', driver, '--subnet', '10.62.0.0/24', 'b-net']);
  await dockerOk(d, ['network', 'create', '-d', 'bridge', '--subnet', '10.63.0.0/24', 'd-home']);
  await dockerOk(d, ['network', 'create', '-d', 'bridge', '--subnet', '10.64.0.0/24', 'd-net']);
  await dockerOk(d, ['run', '-d', '--name', 'idle-b', '--network', 'b-home', img, 'sleep', '100000']);
  await dockerOk(d, ['run', '-d', '--name', 'idle-d', '--network', 'd-home', img, 'sleep', '100000']);
  // one warm-up round each (image layers, plugin discovery), not counted
  await timed(d, ['run', '--rm', '--network', 'b-net', img, 'true']);
  await timed(d, ['run', '--rm', '--network', 'd-net', img, 'true']);
  for (let i = 0; i < REPS; i++) {
    // alternate which goes first, so neither always runs right after the other
    const order = i % 2 ? (['berth', 'bridge'] as const) : (['bridge', 'berth'] as const);
    for (const who of order) {
      const [net, ctr] = who === 'berth' ? ['b-net', 'idle-b'] : ['d-net', 'idle-d'];
      samples[`connect ${who}`]?.push(await timed(d, ['network', 'connect', net, ctr]));
      samples[`disconnect ${who}`]?.push(await timed(d, ['network', 'disconnect', net, ctr]));
      samples[`run ${who}`]?.push(await timed(d, ['run', '--rm', '--network', net, img, 'true']));
    }
  }
  await dockerCmd(d, ['rm', '-f', 'idle-b', 'idle-d']);
} finally {
  await P.close();
}

const rows = ['connect', 'disconnect', 'run'].map((op) => {
  const b = samples[`${op} berth`] ?? [];
  const k = samples[`${op} bridge`] ?? [];
  return { op, berth: { p50: pct(b, 50), p95: pct(b, 95) }, bridge: { p50: pct(k, 50), p95: pct(k, 95) }, ratio50: pct(b, 50) / pct(k, 50), ratio95: pct(b, 95) / pct(k, 95) };
});
const label: Record<string, string> = { connect: '`docker network connect` (running container)', disconnect: '`docker network disconnect`', run: '`docker run --rm IMG true`' };
const f = (x: number) => x.toFixed(1);
const md = [
  `| operation | berth p50 ms | berth p95 ms | Docker bridge p50 ms | Docker bridge p95 ms | ratio p50 | ratio p95 |`,
  `|---|---|---|---|---|---|---|`,
  ...rows.map((r) => `| ${label[r.op] ?? r.op} | ${f(r.berth.p50)} | ${f(r.berth.p95)} | ${f(r.bridge.p50)} | ${f(r.bridge.p95)} | **${r.ratio50.toFixed(2)}** | ${r.ratio95.toFixed(2)} |`),
  '',
  `${REPS} alternating samples per cell; ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, kernel ${release()}, load average ${load.toFixed(2)} at start.`,
].join('\n');
mkdirSync(OUT, { recursive: true });
writeFileSync(join(OUT, 'results.json'), `${JSON.stringify({ reps: REPS, load, samples, rows }, null, 2)}\n`);
writeFileSync(join(OUT, 'summary.md'), `${md}\n`);
console.log(md);
