// bench/plug/ab: the endpoint plug path of two builds side by side, in one process, alternating
// call by call: `attachEndpoint` of a bridge endpoint into a fresh sandbox, and
// `ensureDefaultNetwork` of an existing default network (what every CNI ADD and `berth run`
// pays first). Wall time and the process's CPU time per call (CPU includes the kernel's work
// done in our sendmsg calls), and the rtnetlink requests per attach (Rtnl.prototype.call
// wrapped, so a build without a request counter is counted the same way).
//
// It runs inside a lab host (berth's "host" namespace is the one the process is in): the outer
// process makes the lab and re-runs itself there with --inner.
//
// Usage (root): npm run build && node dist/bench/plug/ab.js --base DIR [-n 150]
//   DIR: another built checkout of berth (e.g. `git archive <rev> | tar -x -C DIR`, node_modules
//   linked, `npm run build` there). Without --base the build compares with itself.
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Lab, REPO_ROOT } from '../../test/lab/index.js';
import type * as BridgeMod from '../../src/drivers/bridge/bridge.js';
import type * as SpoofMod from '../../src/drivers/bridge/spoof-guard.js';
import type * as ContextMod from '../../src/engine/context.js';
import type * as NetworksMod from '../../src/engine/networks.js';
import type * as NetnsMod from '../../src/kernel/netns.js';
import type * as RtnlMod from '../../src/kernel/rtnl.js';

const { values } = parseArgs({ options: { base: { type: 'string', default: REPO_ROOT }, n: { type: 'string', default: '150' }, inner: { type: 'boolean', default: false } } });
const N = Number(values.n);
if (!Number.isInteger(N) || N < 2 || N > 250) throw new Error(`-n: expected 2-250 calls per build, got ${values.n}`);

interface Build {
  label: string;
  bridge: typeof BridgeMod;
  netns: typeof NetnsMod;
  ensureDefaultNetwork: (typeof NetworksMod)['ensureDefaultNetwork'];
  engine: InstanceType<(typeof ContextMod)['Engine']>;
  requests: () => number;
}

async function load(root: string, label: string, stateDir: string): Promise<Build> {
  const at = <T>(p: string): Promise<T> => import(join(root, 'dist', 'src', p)) as Promise<T>;
  const bridge = await at<typeof BridgeMod>('drivers/bridge/bridge.js');
  const netns = await at<typeof NetnsMod>('kernel/netns.js');
  const rtnl = await at<typeof RtnlMod>('kernel/rtnl.js');
  const context = await at<typeof ContextMod>('engine/context.js');
  const networks = await at<typeof NetworksMod>('engine/networks.js');
  let requests = 0;
  const proto = rtnl.Rtnl.prototype as unknown as { call: (...a: unknown[]) => unknown };
  const call = proto.call;
  proto.call = function (this: unknown, ...a: unknown[]) {
    requests++;
    return call.apply(this, a);
  };
  const engine = new context.Engine({ BERTH_ROOT: join(stateDir, 'root'), BERTH_RUN: join(stateDir, 'run') });
  engine.ensureRunDirs();
  return { label, bridge, netns, ensureDefaultNetwork: networks.ensureDefaultNetwork, engine, requests: () => requests };
}

const p = (xs: number[], q: number): string => ([...xs].sort((a, b) => a - b)[Math.floor(xs.length * q)] ?? NaN).toFixed(2);

async function inner(): Promise<void> {
  const dir = mkdtempSync('/tmp/berth-bench-plug-');
  try {
    const builds = [await load(values.base, 'base', join(dir, 'a')), await load(REPO_ROOT, 'this build', join(dir, 'b'))];
    const spec = { ifname: 'br-plugab', gateways: ['10.9.0.1/16'], nat4: [], nat6: [], internal: false, inbound: 'nat' as const, subnets: ['10.9.0.0/16'] };
    await builds[0]!.bridge.ensureBridge(null, spec, { tunnelSubnet: '198.18.0.0/16' });
    // the bridge table of the anti-spoofing guard, as on any host with a guarded port: the
    // default network's check looks for both of berth's tables
    (await import(join(REPO_ROOT, 'dist', 'src', 'drivers', 'bridge', 'spoof-guard.js')) as typeof SpoofMod).syncSpoofGuard(null, []);
    const rows = builds.map(() => ({ wall: [] as number[], cpu: [] as number[], reqs: [] as number[], dnWall: [] as number[], dnCpu: [] as number[] }));
    for (const b of builds) await b.ensureDefaultNetwork(b.engine);
    for (let i = 0; i < N; i++) {
      for (const k of i % 2 ? [1, 0] : [0, 1]) {
        const b = builds[k]!;
        const row = rows[k]!;
        const ns = b.netns.createNetns(join(dir, 'ns'), `s${k}-${i}`);
        const r0 = b.requests();
        let c0 = process.cpuUsage();
        let t0 = process.hrtime.bigint();
        await b.bridge.attachEndpoint(null, { bridge: 'br-plugab', netns: ns, ifname: 'eth0', hostIfname: `vpab${k}x${i}`, addresses: [`10.9.${k}.${(i % 250) + 2}/16`], defaultGateways: [], alias: 'berth:bench:plug' });
        row.wall.push(Number(process.hrtime.bigint() - t0) / 1e6);
        let c = process.cpuUsage(c0);
        row.cpu.push((c.user + c.system) / 1000);
        row.reqs.push(b.requests() - r0);
        await b.bridge.detachEndpoint(null, `vpab${k}x${i}`);
        b.netns.deleteNetns(ns);
        c0 = process.cpuUsage();
        t0 = process.hrtime.bigint();
        await b.ensureDefaultNetwork(b.engine);
        row.dnWall.push(Number(process.hrtime.bigint() - t0) / 1e6);
        c = process.cpuUsage(c0);
        row.dnCpu.push((c.user + c.system) / 1000);
      }
    }
    console.log(`| build | attachEndpoint wall p50 / p90 ms | CPU p50 ms | rtnetlink requests | ensureDefaultNetwork wall p50 ms | CPU p50 ms |`);
    console.log('|---|---:|---:|---:|---:|---:|');
    for (const [k, b] of builds.entries()) {
      const r = rows[k]!;
      console.log(`| ${b.label} (${k ? REPO_ROOT : values.base}) | ${p(r.wall, 0.5)} / ${p(r.wall, 0.9)} | ${p(r.cpu, 0.5)} | ${p(r.reqs, 0.5)} | ${p(r.dnWall, 0.5)} | ${p(r.dnCpu, 0.5)} |`);
    }
    for (const b of builds) b.engine.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function outer(): Promise<void> {
  const lab = await Lab.create({ label: 'bench plug ab' });
  try {
    const h = await lab.createHost('h');
    const load0 = (await h.exec(['cat', '/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
    const r = await h.exec([process.execPath, fileURLToPath(import.meta.url), '--inner', '--base', values.base, '-n', String(N)], { check: true, timeoutMs: 900_000 });
    const load1 = (await h.exec(['cat', '/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
    console.log(`bench/plug/ab ${new Date().toISOString()}, ${N} calls per build alternating, load average ${load0} at start, ${load1} at the end\n`);
    process.stdout.write(r.stdout);
  } finally {
    await lab.close();
  }
}

await (values.inner ? inner() : outer());
