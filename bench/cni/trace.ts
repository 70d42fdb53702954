// bench/cni/trace: where the daemon's CNI ADD and DEL go. Starts `berth daemon` with
// BERTH_TRACE=1 in a lab host, attaches and detaches N sandboxes through libcni (cnitool) with
// and without a published port, and prints, per step between two trace points, the median and
// p95 of its duration over the calls (the daemon's trace lines are "[trace T ms] label").
//
// Usage (root): npm run build && node dist/bench/cni/trace.js [-n 30] [--alternate]
import { join } from 'node:path';
import { type External, Lab } from '../../test/lab/index.js';
import { startDaemon, stopDaemon } from '../../test/e2e/daemon-helpers.js';
import { buildCnitool, cniBinDir, writeConflist } from '../../test/e2e/cni-runtimes-helpers.js';

const args = process.argv.slice(2);
const nIndex = args.indexOf('-n');
const N = nIndex >= 0 ? Number(args[nIndex + 1]) : 30;
if (!Number.isInteger(N) || N < 1 || N > 250) throw new Error(`-n: expected 1-250 sandboxes, got ${args[nIndex + 1]}`);
/** --alternate: N cycles of ADD then DEL of one sandbox (bench/cni's N = 1) instead of N ADDs then N DELs */
const ALTERNATE = args.includes('--alternate');

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.max(0, Math.ceil((p / 100) * xs.length) - 1)] ?? NaN;

/** Per call (from "cni: request" to "cni: answered"): the steps between consecutive trace points. */
function steps(traceText: string): Map<string, number[]> {
  const points = [...traceText.matchAll(/^\[trace ([\d.]+) ms\] (.*)$/gm)].map((m) => ({ t: Number(m[1]), label: m[2] ?? '' }));
  const out = new Map<string, number[]>();
  let prev: { t: number; label: string } | undefined;
  for (const p of points) {
    if (p.label === 'cni: request') {
      prev = p;
      continue;
    }
    if (!prev) continue;
    const key = `${prev.label} -> ${p.label}`;
    out.set(key, [...(out.get(key) ?? []), p.t - prev.t]);
    prev = p.label === 'cni: answered' ? undefined : p;
  }
  return out;
}

async function main(): Promise<void> {
  const cnitool = await buildCnitool();
  const lab = await Lab.create({ label: 'bench cni trace' });
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  try {
    const h = await lab.createHost('h');
    const dir = join(lab.dir, 'bench-cni-trace');
    const bin = await cniBinDir(join(dir, 'bin'));
    const conf = join(dir, 'net.d');
    await writeConflist(conf, 'berth', '1.0.0', [{ type: 'berth', capabilities: { portMappings: true } }]);
    await writeConflist(conf, 'berth-noport', '1.0.0', [{ type: 'berth' }]);
    daemon = await startDaemon(h, { env: { BERTH_TRACE: '1' } });
    const sandboxes: External[] = [];
    for (let k = 0; k < N; k++) sandboxes.push(await lab.createExternal(`s${k}`));
    const cni = async (op: 'add' | 'del', network: string, sbs: External[]) => {
      const r = await h.exec([cnitool, 'timed', op, network, ...sbs.map((s) => s.netnsPath)], {
        env: { NETCONFPATH: conf, CNI_PATH: bin, CNI_CACHE_DIR: join(dir, 'cache'), CNITOOL_PORT_BASE: '30000' },
        timeoutMs: 10 * 60_000,
      });
      if (r.code !== 0) throw new Error(`${network} ${op}: ${r.stderr}`);
      return r.stdout
        .split('\n')
        .filter((l) => l.startsWith(`${op} `))
        .map((l) => Number(l.split(' ')[2]));
    };
    // warm: the first ADD creates the bridge and the nft table
    await cni('add', 'berth', sandboxes.slice(0, 1));
    await cni('del', 'berth', sandboxes.slice(0, 1));
    if (ALTERNATE) {
      // as bench/cni at N = 1: each ADD right after the DEL of the same sandbox, one cnitool per call
      const before = daemon.proc.stderr().length;
      const times: Record<'add' | 'del', number[]> = { add: [], del: [] };
      for (let c = 0; c < N; c++) for (const op of ['add', 'del'] as const) times[op].push(...(await cni(op, 'berth', sandboxes.slice(0, 1))));
      const traced = steps(daemon.proc.stderr().slice(before));
      console.log(`\nberth ADD then DEL, alternating: libcni ADD p50 ${pct(times.add, 50).toFixed(1)} ms, DEL p50 ${pct(times.del, 50).toFixed(1)} (${N} cycles)`);
      for (const [key, xs] of traced) console.log(`  ${pct(xs, 50).toFixed(2).padStart(7)} ${pct(xs, 95).toFixed(2).padStart(7)}  ${key} (${xs.length})`);
    }
    for (const network of ALTERNATE ? [] : ['berth-noport', 'berth']) {
      for (const op of ['add', 'del'] as const) {
        const before = daemon.proc.stderr().length;
        const times = await cni(op, network, sandboxes);
        const traced = steps(daemon.proc.stderr().slice(before));
        console.log(`\n${network} ${op.toUpperCase()}: libcni p50 ${pct(times, 50).toFixed(1)} ms, p95 ${pct(times, 95).toFixed(1)} (N=${N})`);
        for (const [key, xs] of traced) console.log(`  ${pct(xs, 50).toFixed(2).padStart(7)} ${pct(xs, 95).toFixed(2).padStart(7)}  ${key} (${xs.length})`);
      }
    }
  } finally {
    await stopDaemon(daemon);
    await lab.close();
  }
}

await main();
