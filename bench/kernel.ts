// bench/kernel: berth's kernel layer (rtnetlink in-process) against spawning `ip` once per
// operation, for the operations of attaching an endpoint: create a veth whose peer is born in
// a container namespace, add an address, set it up, attach it to a bridge; and delete it.
// Everything happens in throwaway namespaces this script creates and deletes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { addAddress } from '../src/kernel/addresses.js';
import { createBridge, createVeth, deleteLink, getLink, setLinkUp, setMaster } from '../src/kernel/links.js';
import { createNetns, deleteNetns, openNetns, withNetns } from '../src/kernel/netns.js';
import { Rtnl } from '../src/kernel/rtnl.js';

const { values } = parseArgs({ options: { cycles: { type: 'string', default: '200' }, json: { type: 'boolean', default: false } } });
const cycles = Number(values.cycles);
const OPS = ['veth create (peer in netns)', 'address add', 'link up', 'bridge attach', 'veth delete'] as const;
type Op = (typeof OPS)[number];

const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};

const dir = mkdtempSync(join(tmpdir(), 'berth-bench-'));
const host = createNetns(dir, 'host');
const ctr = createNetns(dir, 'ctr');

function ip(args: string[]): void {
  // born inside the bench's host namespace, like any `ip` call a runtime would make there
  const r = withNetns(host, () => spawnSync('ip', args, { encoding: 'utf8' }));
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

async function main(): Promise<void> {
  const nl = Rtnl.open(host);
  const ctrNs = openNetns(ctr);
  await createBridge(nl, { name: 'bench0' });
  const bridge = await getLink(nl, 'bench0');
  await setLinkUp(nl, bridge.index);
  const samples: Record<'berth' | 'ip', Record<Op, number[]>> = {
    berth: Object.fromEntries(OPS.map((o) => [o, []])) as unknown as Record<Op, number[]>,
    ip: Object.fromEntries(OPS.map((o) => [o, []])) as unknown as Record<Op, number[]>,
  };
  const time = async (who: 'berth' | 'ip', op: Op, fn: () => unknown): Promise<void> => {
    const t0 = now();
    await fn();
    samples[who][op].push(now() - t0);
  };

  for (let i = 0; i < cycles; i++) {
    // alternate the order so neither side always runs on a warmer machine
    for (const who of i % 2 ? (['ip', 'berth'] as const) : (['berth', 'ip'] as const)) {
      const name = `vb${who[0]}${i}`;
      const cidr = `10.77.${Math.floor(i / 250)}.${(i % 250) + 2}/16`;
      if (who === 'berth') {
        await time(who, 'veth create (peer in netns)', () => createVeth(nl, { name, peerName: `e${name}`, peerNetnsFd: ctrNs.fd }));
        const { index } = await getLink(nl, name);
        await time(who, 'address add', () => addAddress(nl, index, cidr));
        await time(who, 'link up', () => setLinkUp(nl, index));
        await time(who, 'bridge attach', () => setMaster(nl, index, bridge.index));
        await time(who, 'veth delete', () => deleteLink(nl, name));
      } else {
        await time(who, 'veth create (peer in netns)', () => ip(['link', 'add', name, 'type', 'veth', 'peer', 'name', `e${name}`, 'netns', ctr]));
        await time(who, 'address add', () => ip(['addr', 'add', cidr, 'dev', name]));
        await time(who, 'link up', () => ip(['link', 'set', name, 'up']));
        await time(who, 'bridge attach', () => ip(['link', 'set', name, 'master', 'bench0']));
        await time(who, 'veth delete', () => ip(['link', 'del', name]));
      }
    }
  }
  ctrNs.close();
  nl.close();

  const rows = OPS.map((op) => {
    const b = pct(samples.berth[op], 50);
    const p = pct(samples.ip[op], 50);
    return { op, berthP50: b, berthP95: pct(samples.berth[op], 95), ipP50: p, ipP95: pct(samples.ip[op], 95), ratio: p / b };
  });
  if (values.json) {
    process.stdout.write(`${JSON.stringify({ cycles, rows }, null, 2)}\n`);
    return;
  }
  const f = (x: number) => x.toFixed(3);
  console.log(`cycles: ${cycles} (each: both tools, alternating order)\n`);
  console.log('| operation | berth p50 ms | berth p95 ms | `ip` p50 ms | `ip` p95 ms | ip/berth (p50) |');
  console.log('|---|---:|---:|---:|---:|---:|');
  for (const r of rows) console.log(`| ${r.op} | ${f(r.berthP50)} | ${f(r.berthP95)} | ${f(r.ipP50)} | ${f(r.ipP95)} | ${r.ratio.toFixed(1)}× |`);
}

try {
  await main();
} finally {
  deleteNetns(host);
  deleteNetns(ctr);
  rmSync(dir, { recursive: true, force: true });
}
