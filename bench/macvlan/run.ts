// bench/macvlan: TCP throughput (iperf3) from a LAN peer to a container on a macvlan network
// (the peer reaches the container's own address through the switch) versus to a container on
// the default bridge through a published port (the host's address, DNAT, berth0, a veth), in
// one run, in one lab: alternating repetitions, so both paths see the same machine load.
//
//   npm run build && node dist/bench/macvlan/run.js [--reps N] [--seconds S] [--out DIR]
//
// The lab (test/lab: namespaces bt<tag>-*, all removed at the end, the machine's own network
// namespace untouched): switch `lan`; `peer` 192.168.80.1/24 (iperf3 client); host `h` with
// eth1 192.168.80.10/24, the macvlan parent. Output: a Markdown section on stdout, and
// results.json + summary.md under --out (default bench/macvlan/results/<UTC timestamp>).
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, release } from 'node:os';
import { join } from 'node:path';
import { Lab, REPO_ROOT, type Host } from '../../test/lab/index.js';
import { arg } from '../args.js';

const IPERF = '/usr/bin/iperf3';
const PEER = '192.168.80.1';
const HOST = '192.168.80.10';

const REPS = Number(arg('--reps', '5'));
const SECONDS = Number(arg('--seconds', '5'));
const OUT = arg('--out', join(REPO_ROOT, 'bench', 'macvlan', 'results', new Date().toISOString().replace(/[:.]/g, '-')));
if (!Number.isInteger(REPS) || REPS < 1 || !Number.isInteger(SECONDS) || SECONDS < 1) {
  console.error('usage: node dist/bench/macvlan/run.js [--reps N>=1] [--seconds S>=1] [--out DIR]');
  process.exit(2);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A detached iperf3 server container; resolves once it listens. */
async function iperfServer(h: Host, name: string, args: string[], port: number): Promise<void> {
  const id = (await h.berthOk(['run', '-d', '--name', name, ...args, '--', IPERF, '-s', '--forceflush', '-p', String(port)])).stdout.trim();
  const log = join(h.runDir, 'containers', id, 'log');
  for (let i = 0; i < 200; i++) {
    let text = '';
    try {
      text = readFileSync(log, 'utf8');
    } catch {
      // not written yet
    }
    if (text.includes('Server listening')) return;
    await sleep(50);
  }
  throw new Error(`iperf3 server in ${name} did not start`);
}

interface Sample {
  path: 'macvlan' | 'bridge';
  rep: number;
  gbps: number;
  retransmits: number;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  const lab = await Lab.create({ label: 'bench macvlan' });
  try {
    const sw = await lab.createSwitch('lan');
    const h = await lab.createHost('h');
    const peer = await lab.createExternal('peer');
    await sw.plug(peer, { ifname: 'eth0', address: `${PEER}/24` });
    await sw.plug(h, { ifname: 'eth1', address: `${HOST}/24` });
    await h.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '192.168.80.0/24', '--gateway', PEER, '--ip-range', '192.168.80.128/28', '-o', 'parent=eth1', 'mvb']);
    await iperfServer(h, 'cm', ['--network', 'mvb'], 5201);
    await iperfServer(h, 'cb', ['-p', '5202:5202'], 5202);
    const [inspected] = JSON.parse((await h.berthOk(['inspect', 'cm'])).stdout) as { NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }[];
    const cmIp = inspected?.NetworkSettings.Networks.mvb?.IPAddress;
    if (!cmIp) throw new Error('cm has no macvlan address');
    const targets = { macvlan: { host: cmIp, port: 5201 }, bridge: { host: HOST, port: 5202 } } as const;

    const samples: Sample[] = [];
    const load0 = loadavg()[0] ?? 0;
    for (let rep = 1; rep <= REPS; rep++) {
      // alternate which path goes first, so a drift in machine load hits both alike
      const order: ('macvlan' | 'bridge')[] = rep % 2 ? ['macvlan', 'bridge'] : ['bridge', 'macvlan'];
      for (const path of order) {
        const t = targets[path];
        const r = await peer.execOk([IPERF, '-c', t.host, '-p', String(t.port), '-t', String(SECONDS), '-J'], { timeoutMs: (SECONDS + 30) * 1000 });
        const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number }; sum_sent: { retransmits?: number } } };
        const s: Sample = { path, rep, gbps: j.end.sum_received.bits_per_second / 1e9, retransmits: j.end.sum_sent.retransmits ?? 0 };
        samples.push(s);
        console.error(`rep ${rep} ${path}: ${s.gbps.toFixed(2)} Gbit/s (${s.retransmits} retransmits)`);
      }
    }
    const of = (p: Sample['path']) => samples.filter((s) => s.path === p).map((s) => s.gbps);
    const mv = median(of('macvlan'));
    const br = median(of('bridge'));
    const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(', ');
    const cmd = `node dist/bench/macvlan/run.js --reps ${REPS} --seconds ${SECONDS}`;
    const md = [
      '## bench/macvlan: LAN peer → macvlan container vs → bridge container (published port)',
      '',
      `TCP throughput, one iperf3 stream (${SECONDS} s per sample, ${REPS} alternating repetitions per path), from a`,
      'LAN peer namespace on a lab switch to an iperf3 server in a berth container on host `h`:',
      '- **macvlan**: container on `network create -d macvlan -o parent=eth1` (eth1 = h\'s veth to the switch);',
      '  the peer connects to the container\'s own LAN address; frames go switch → eth1 → macvlan child.',
      '- **bridge**: container on the default bridge with `-p 5202:5202`; the peer connects to h\'s address;',
      '  eth1 → nft DNAT → forward → berth0 → veth → container.',
      '',
      '```sh',
      `npm run build && ${cmd}`,
      '```',
      '',
      '| path | median Gbit/s | samples (Gbit/s) |',
      '|---|---|---|',
      `| macvlan (own address) | ${mv.toFixed(2)} | ${fmt(of('macvlan'))} |`,
      `| bridge + published port | ${br.toFixed(2)} | ${fmt(of('bridge'))} |`,
      '',
      `Ratio macvlan / bridge (medians): **${(mv / br).toFixed(2)}×**.`,
      '',
      `Machine: ${cpus().length} × ${cpus()[0]?.model ?? '?'}, kernel ${release()}, load average ${load0.toFixed(2)} at start;`,
      'all namespaces are veth-connected on one machine, so absolute numbers measure the kernel\'s per-packet',
      'path cost (CPU), not a NIC.',
      '',
    ].join('\n');
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'results.json'), `${JSON.stringify({ reps: REPS, seconds: SECONDS, samples, medians: { macvlan: mv, bridge: br }, ratio: mv / br }, null, 2)}\n`);
    writeFileSync(join(OUT, 'summary.md'), md);
    process.stdout.write(md);
    await h.berth(['rm', '-f', 'cm', 'cb']);
    await h.berth(['network', 'rm', 'mvb']);
  } finally {
    await lab.close();
  }
}

await main();
