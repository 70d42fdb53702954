// bench/cni: CNI ADD and DEL latency through a real CNI runtime library (test/tools/cnitool on
// Debian's libcni 1.1.2), at N = 1, 50, 200 sandboxes attached one after the other and then
// detached, side by side in one run (for each N, every backend in turn):
//   berth-cni through the daemon   dist/berth-cni (the native client) -> `berth daemon`'s engine
//   berth-cni without a daemon     the same with BERTH_NO_DAEMON=1 and BERTH_CNI_ENGINE=off: a Node
//                                  process per call (key nodaemon)
//   warm engine                    BERTH_NO_DAEMON=1 with the warm CNI engine (src/cni/warm-engine.ts):
//                                  every timed call is served by the engine the untimed first call
//                                  left (conf "engine": {"idleSeconds": 600}, so that it outlives
//                                  the other rows' turns) (key warm)
//   cold engine                    BERTH_NO_DAEMON=1, the engine killed before each call: the first
//                                  call of a quiet host (in-process, then it starts the engine);
//                                  N = 1 only: at larger N every call after the first is warm (key cold)
//   CNI reference                  bridge + host-local + portmap (containernetworking-plugins 1.1.1)
//   netavark                       /usr/lib/podman/netavark setup/teardown, podman's JSON (not CNI:
//                                  execed per call by a Node loop, as podman would exec it)
// Every sandbox publishes one TCP port (host 3x000+k -> 8080). The CNI rows are timed inside
// cnitool around libcni's AddNetworkList/DelNetworkList (plugin execs included, cnitool's own
// start not); netavark's around a spawnSync (the loop's own spawn cost is measured and printed).
// Everything happens in one lab (a berth host h and N sandbox namespaces); the lab deletes it all.
//
// N = 1 is CYCLES (-c, default 10) cycles of one ADD and one DEL; each backend gets one untimed
// ADD+DEL first (berth's first ADD on a host creates the bridge and the nft table).
//
// Two more rows on request, to see where berth's time goes: floor-noport (through the daemon, no
// published port: no DNAT element, no loopback relay process) and floor-loopback (the reference
// loopback plugin alone: libcni plus one exec of a Go plugin that only sets lo up).
//
// Usage (root): npm run build && node dist/bench/cni/run.js [-n 1,50,200] [-c 10]
//   [-b daemon,nodaemon,warm,cold,reference,netavark,floor-noport,floor-loopback]
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type External, type Host, Lab } from '../../test/lab/index.js';
import { startDaemon, stopDaemon } from '../../test/e2e/daemon-helpers.js';
import { buildCnitool, cniBinDir, cniEnginePids, cnitoolMissing, missing, writeConflist } from '../../test/e2e/cni-runtimes-helpers.js';

const NETAVARK = '/usr/lib/podman/netavark';
const args = process.argv.slice(2);
const nIndex = args.indexOf('-n');
const SIZES = (nIndex >= 0 ? (args[nIndex + 1] ?? '') : '1,50,200').split(',').map(Number);
if (SIZES.some((n) => !Number.isInteger(n) || n < 1 || n > 250)) throw new Error(`-n: expected sizes 1-250 separated by commas, got ${args[nIndex + 1]}`);
const bIndex = args.indexOf('-b');
/** -b: only the rows whose key is listed (daemon, nodaemon, warm, cold, reference, netavark, floor-noport, floor-loopback) */
const ROWS = bIndex >= 0 ? (args[bIndex + 1] ?? '').split(',') : ['daemon', 'nodaemon', 'warm', 'cold', 'reference', 'netavark'];
const cIndex = args.indexOf('-c');
/** cycles at N = 1 (one sample per cycle); a larger N gives N samples in one cycle */
const CYCLES = cIndex >= 0 ? Number(args[cIndex + 1]) : 10;
if (!Number.isInteger(CYCLES) || CYCLES < 1) throw new Error(`-c: expected a number of cycles, got ${args[cIndex + 1]}`);

interface Stats {
  p50: number;
  p95: number;
}
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};
const stats = (xs: number[]): Stats => ({ p50: pct(xs, 50), p95: pct(xs, 95) });

/** podman's JSON for netavark 1.4 (NetworkOptions), as bench/attach's harness builds it; podman's IPAM picks the address. */
function netavarkJson(k: number, port: number): string {
  const ip = `10.89.${Math.floor((k + 2) / 256)}.${(k + 2) % 256}`;
  return JSON.stringify({
    container_id: `bench-c${k}`,
    container_name: `bench-c${k}`,
    port_mappings: [{ host_ip: '', container_port: 8080, host_port: port, range: 1, protocol: 'tcp' }],
    networks: { benchnet: { static_ips: [ip], interface_name: 'eth0' } },
    network_info: {
      benchnet: {
        name: 'benchnet',
        id: 'b'.repeat(64),
        driver: 'bridge',
        network_interface: 'nv-bench0',
        subnets: [{ subnet: '10.89.0.0/16', gateway: '10.89.0.1' }],
        ipv6_enabled: false,
        internal: false,
        dns_enabled: false,
        ipam_options: { driver: 'host-local' },
      },
    },
  });
}

/** In h: exec netavark OP for each (netns, json) of the file given; one line of milliseconds each. First line: the spawn cost of /bin/true (p50 of 20). */
const NETAVARK_LOOP = [
  "const {spawnSync}=require('child_process');const fs=require('fs');const [bin,cfg,op,file]=process.argv.slice(1);",
  'const t=()=>Number(process.hrtime.bigint())/1e6;const base=[];',
  "for(let i=0;i<20;i++){const a=t();spawnSync('/bin/true');base.push(t()-a);}base.sort((x,y)=>x-y);console.log('spawn '+base[10].toFixed(3));",
  "for(const [ns,json] of JSON.parse(fs.readFileSync(file,'utf8'))){const a=t();const r=spawnSync(bin,['--config',cfg,op,ns],{input:json});const ms=t()-a;",
  "if(r.status!==0){console.log('FAIL '+ns+' '+r.stderr);process.exit(1);}console.log(op+' '+ns+' '+ms.toFixed(3));}",
].join('');

interface Backend {
  key: string;
  name: string;
  portBase: number;
  /** the sizes this row is measured at (default: all) */
  sizes?: number[];
  run(op: 'add' | 'del', sandboxes: External[]): Promise<number[]>;
}

function parseTimes(out: string, op: string): number[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith(`${op} `))
    .map((l) => Number(l.split(' ')[2]));
}

async function main(): Promise<void> {
  const why = cnitoolMissing() ?? missing({ netavark: NETAVARK, 'the CNI reference plugins': '/usr/lib/cni/bridge' });
  if (why) throw new Error(`bench/cni cannot run: ${why}`);
  const cnitool = await buildCnitool();
  const lab = await Lab.create({ label: 'bench cni' });
  let daemon: Awaited<ReturnType<typeof startDaemon>> | undefined;
  try {
    const sw = await lab.createSwitch('under');
    const h: Host = await lab.createHost('h');
    const ext = await lab.createExternal('ext');
    await sw.plug(h, { ifname: 'eth0', address: '10.200.0.1/24' });
    await sw.plug(ext, { ifname: 'eth0', address: '10.200.0.2/24' });
    const dir = join(lab.dir, 'bench-cni');
    const bin = await cniBinDir(join(dir, 'bin'));
    const conf = join(dir, 'net.d');
    await writeConflist(conf, 'berth', '1.0.0', [{ type: 'berth', capabilities: { portMappings: true } }]);
    await writeConflist(conf, 'berth-noport', '1.0.0', [{ type: 'berth' }]);
    await writeConflist(conf, 'berth-warm', '1.0.0', [{ type: 'berth', capabilities: { portMappings: true }, engine: { idleSeconds: 600 } }]);
    await writeConflist(conf, 'loopback', '1.0.0', [{ type: 'loopback' }]);
    await writeConflist(conf, 'reference', '1.0.0', [
      { type: 'bridge', bridge: 'cni-bench0', isGateway: true, ipMasq: true, ipam: { type: 'host-local', ranges: [[{ subnet: '10.88.0.0/16' }]], routes: [{ dst: '0.0.0.0/0' }], dataDir: join(dir, 'host-local') } },
      { type: 'portmap', capabilities: { portMappings: true } },
    ]);
    await mkdir(join(dir, 'netavark'), { recursive: true });
    daemon = await startDaemon(h);
    const max = Math.max(...SIZES);
    const sandboxes: External[] = [];
    for (let k = 0; k < max; k++) sandboxes.push(await lab.createExternal(`s${k}`));

    const viaCnitool = (key: string, name: string, network: string, portBase: number, env: Record<string, string> = {}): Backend => ({
      key,
      name,
      portBase,
      async run(op, sbs) {
        const r = await h.exec([cnitool, 'timed', op, network, ...sbs.map((s) => s.netnsPath)], {
          env: { NETCONFPATH: conf, CNI_PATH: bin, CNI_CACHE_DIR: join(dir, 'cache'), CNITOOL_PORT_BASE: String(portBase), ...env },
          timeoutMs: 30 * 60_000,
        });
        if (r.code !== 0) throw new Error(`${name} ${op}: ${r.stderr}`);
        return parseTimes(r.stdout, op);
      },
    });
    let spawnCost = NaN;
    const netavark: Backend = {
      key: 'netavark',
      name: 'netavark 1.4.0 (NETAVARK_FW=iptables)',
      portBase: 33000,
      async run(op, sbs) {
        const file = join(dir, `netavark-${op}.json`);
        await writeFile(file, JSON.stringify(sbs.map((s, k) => [s.netnsPath, netavarkJson(k, 33000 + k)])));
        const r = await h.exec([process.execPath, '-e', NETAVARK_LOOP, NETAVARK, join(dir, 'netavark'), op === 'add' ? 'setup' : 'teardown', file], { env: { NETAVARK_FW: 'iptables' }, timeoutMs: 30 * 60_000 });
        if (r.code !== 0) throw new Error(`netavark ${op}: ${r.stdout}${r.stderr}`);
        spawnCost = Number(/^spawn (\S+)/m.exec(r.stdout)?.[1]);
        return parseTimes(r.stdout, op === 'add' ? 'setup' : 'teardown');
      },
    };
    // the cold row: no engine before each call (the one the previous call left is waited for,
    // so that it cannot come up late and serve the next call, and killed)
    const engineSock = join(h.runDir, 'cni-engine.sock');
    const noEngine = async () => {
      for (let k = 0; k < 100 && (await cniEnginePids(engineSock)).length === 0; k++) await new Promise((r) => setTimeout(r, 50));
      for (let k = 0; k < 20 && !existsSync(engineSock); k++) await new Promise((r) => setTimeout(r, 50));
      for (const pid of await cniEnginePids(engineSock)) process.kill(pid, 'SIGKILL');
      while ((await cniEnginePids(engineSock)).length) await new Promise((r) => setTimeout(r, 20));
    };
    const warmRow = viaCnitool('warm', 'berth-cni without a daemon, warm engine', 'berth-warm', 36000, { BERTH_NO_DAEMON: '1' });
    const coldEach = viaCnitool('cold', 'berth-cni without a daemon, cold (first call: no engine yet)', 'berth', 37000, { BERTH_NO_DAEMON: '1' });
    const coldRow: Backend = {
      ...coldEach,
      sizes: [1],
      async run(op, sbs) {
        const times: number[] = [];
        for (const sb of sbs) {
          await noEngine();
          times.push(...(await coldEach.run(op, [sb])));
        }
        return times;
      },
    };
    const backends: Backend[] = [
      viaCnitool('daemon', 'berth-cni through the daemon', 'berth', 30000),
      viaCnitool('nodaemon', 'berth-cni without a daemon, engine off (a Node process per call)', 'berth', 31000, { BERTH_NO_DAEMON: '1', BERTH_CNI_ENGINE: 'off' }),
      warmRow,
      coldRow,
      viaCnitool('reference', 'CNI reference bridge+host-local+portmap', 'reference', 32000),
      netavark,
      viaCnitool('floor-noport', 'floor: berth-cni through the daemon, no published port', 'berth-noport', 34000),
      viaCnitool('floor-loopback', 'floor: the loopback plugin alone (libcni + a Go plugin exec)', 'loopback', 35000),
    ].filter((b) => ROWS.includes(b.key));

    const rows: { backend: string; n: number; add: Stats; del: Stats; check: string }[] = [];
    const started = new Date().toISOString();
    const load0 = (await h.exec(['cat', '/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');
    for (const b of backends) for (const op of ['add', 'del'] as const) await b.run(op, sandboxes.slice(0, 1));
    for (const n of SIZES) {
      for (const b of backends) {
        if (b.sizes && !b.sizes.includes(n)) continue;
        const sbs = sandboxes.slice(0, n);
        const add: number[] = [];
        const del: number[] = [];
        let check = b.key === 'floor-loopback' ? 'n/a' : 'ok';
        for (let c = 0; c < (n === 1 ? CYCLES : 1); c++) {
          add.push(...(await b.run('add', sbs)));
          // the first and the last sandbox reach their gateway: the attachments are real
          // (the loopback floor plugs no interface: nothing to check)
          for (const sb of c === 0 && b.key !== 'floor-loopback' ? [sbs[0], sbs[sbs.length - 1]] : []) {
            const gw = /default via (\S+)/.exec((await sb?.exec(['ip', '-4', 'route', 'show', 'default']))?.stdout ?? '')?.[1];
            if (!gw || !(await sb?.ping(gw, { count: 1 }))) check = `no gateway from ${sb?.name}`;
          }
          del.push(...(await b.run('del', sbs)));
        }
        if (add.length !== del.length || add.length < n) throw new Error(`${b.name} at N=${n}: ${add.length} ADD and ${del.length} DEL timings`);
        rows.push({ backend: b.name, n, add: stats(add), del: stats(del), check });
        console.error(`# ${b.name} N=${n}: ADD p50 ${stats(add).p50.toFixed(1)} ms, DEL p50 ${stats(del).p50.toFixed(1)} ms, check ${check}`);
      }
    }
    const load1 = (await h.exec(['cat', '/proc/loadavg'])).stdout.split(' ').slice(0, 3).join(' ');

    const f = (x: number) => x.toFixed(1);
    const lines = [
      `bench/cni run ${started}, load average ${load0} at start, ${load1} at the end; netavark loop's own spawn cost (p50 of /bin/true): ${f(spawnCost)} ms`,
      '',
      '| backend | N | ADD p50 ms | ADD p95 | DEL p50 | DEL p95 | ADD p50 / reference | ADD p50 / netavark | check |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ];
    for (const r of rows) {
      const ref = rows.find((x) => x.n === r.n && x.backend.startsWith('CNI reference'));
      const nv = rows.find((x) => x.n === r.n && x.backend.startsWith('netavark'));
      lines.push(`| ${r.backend} | ${r.n} | ${f(r.add.p50)} | ${f(r.add.p95)} | ${f(r.del.p50)} | ${f(r.del.p95)} | ${ref ? (r.add.p50 / ref.add.p50).toFixed(2) : '-'} | ${nv ? (r.add.p50 / nv.add.p50).toFixed(2) : '-'} | ${r.check} |`);
    }
    console.log(lines.join('\n'));
  } finally {
    await stopDaemon(daemon);
    await lab.close();
  }
}

await main();
