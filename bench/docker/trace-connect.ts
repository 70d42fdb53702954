// Where a berth `docker network connect` spends its time: the plugin calls dockerd makes and
// berth's steps inside them, from the berth daemon's BERTH_TRACE lines (issue 14).
//
//   npm run build && node dist/bench/docker/trace-connect.js [--reps N]
//
// One lab as bench/docker/run.ts (pluginLab); the daemon runs with BERTH_TRACE=1. Prints, per
// traced step, the median time from the previous trace line over the reps.
import { dockerMissing, dockerOk, pluginLab } from '../../test/e2e/docker-plugin-helpers.js';

const i = process.argv.indexOf('--reps');
const REPS = i > 0 ? Number(process.argv[i + 1]) : 10;
if (!Number.isInteger(REPS) || REPS < 1) {
  console.error('usage: node dist/bench/docker/trace-connect.js [--reps N>=1]');
  process.exit(2);
}
const why = dockerMissing();
if (why) {
  console.error(`bench/docker: ${why}`);
  process.exit(1);
}
process.env.BERTH_TRACE = '1';
const P = await pluginLab('trace-docker');
const steps = new Map<string, number[]>();
try {
  const { d, img, driver } = P;
  await dockerOk(d, ['network', 'create', '-d', driver, '--subnet', '10.61.0.0/24', 'b-home']);
  await dockerOk(d, ['network', 'create', '-d', driver, '--subnet', '10.62.0.0/24', 'b-net']);
  await dockerOk(d, ['run', '-d', '--name', 'idle-b', '--network', 'b-home', img, 'sleep', '100000']);
  for (let r = 0; r < REPS; r++) {
    const from = P.berthd?.proc.stderr().length ?? 0;
    await dockerOk(d, ['network', 'connect', 'b-net', 'idle-b']);
    const lines = (P.berthd?.proc.stderr() ?? '').slice(from).split('\n');
    let prev: number | undefined;
    for (const l of lines) {
      const m = /^\[trace ([0-9.]+) ms\] (.*)$/.exec(l);
      if (!m) continue;
      const t = Number(m[1]);
      // the step's name without the call's body
      const name = (m[2] ?? '').replace(/ \{.*$/, '').slice(0, 80);
      if (prev !== undefined) steps.set(name, [...(steps.get(name) ?? []), t - prev]);
      prev = t;
    }
    await dockerOk(d, ['network', 'disconnect', 'b-net', 'idle-b']);
  }
  await dockerOk(d, ['rm', '-f', 'idle-b']);
} finally {
  process.env.BERTH_TRACE = '';
  await P.close();
}
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;
console.log(`| step (time since the previous trace line) | n | p50 ms |\n|---|---|---|`);
for (const [name, xs] of steps) console.log(`| ${name} | ${xs.length} | ${med(xs).toFixed(2)} |`);
