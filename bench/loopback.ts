// bench/loopback: what the port relay costs (issue 11 items 2 and 3). The host's own connections
// to a published port on 127.0.0.1 go through berth-init's relay; from the host's other
// addresses they are DNATed in nft as before. Measured in one lab host (never the machine's own
// namespace; the lab deletes everything it made):
//   1. `berth run -d` and `berth rm -f` with 1, 1,000 and 10,000 published ports (a range), and
//      the relay's descriptors, memory and idle CPU;
//   2. 1,000 sequential connect + 1-byte echo round trips, and 256 MB bulk, to 127.0.0.1:PORT
//      (relay) and to the host's address:PORT (nft DNAT) from the host.
// Usage (root): npm run build && node dist/bench/loopback.js
import { readFileSync, readdirSync } from 'node:fs';
import { Lab } from '../test/lab/index.js';

const NODE = process.execPath;
const H_ADDR = '10.200.0.1';

/** In the container: port 80 echoes, port 81 reads everything and answers with the byte count. */
const SERVER = [
  "const net=require('net');",
  'net.createServer(c=>c.pipe(c)).listen(80);',
  "net.createServer(c=>{let n=0;c.on('data',d=>n+=d.length);c.on('end',()=>c.end(String(n)))}).listen(81,()=>console.log('ready'));",
].join('');

/** On the host: ARGS addr echoPort sinkPort. Prints JSON {p50, p99, mbps}. */
const CLIENT = `
const net = require('net');
const [addr, echo, sink] = process.argv.slice(1);
const once = () => new Promise((resolve, reject) => {
  const t = process.hrtime.bigint();
  const c = net.connect(Number(echo), addr, () => c.write('x'));
  c.once('data', () => { c.destroy(); resolve(Number(process.hrtime.bigint() - t) / 1e6); });
  c.on('error', reject);
});
const bulk = (bytes) => new Promise((resolve, reject) => {
  const chunk = Buffer.alloc(65536, 1);
  const t = process.hrtime.bigint();
  const c = net.connect(Number(sink), addr);
  let sent = 0, got = '';
  const pump = () => { while (sent < bytes) { sent += chunk.length; if (!c.write(chunk)) return c.once('drain', pump); } c.end(); };
  c.on('connect', pump);
  c.on('data', (d) => (got += d));
  c.on('end', () => resolve({ s: Number(process.hrtime.bigint() - t) / 1e9, got: Number(got) }));
  c.on('error', reject);
});
(async () => {
  const times = [];
  for (let i = 0; i < 1000; i++) times.push(await once());
  times.sort((a, b) => a - b);
  const b = await bulk(256 * 1024 * 1024);
  console.log(JSON.stringify({ p50: times[500], p99: times[990], mbps: (b.got / 1e6) / b.s }));
})();
`;

function relayOf(shimPid: number): number | undefined {
  // the shim's children: the container's PID 1 and the relay (the one in the shim's own namespaces)
  const kids = readFileSync(`/proc/${shimPid}/task/${shimPid}/children`, 'utf8').trim().split(/\s+/).map(Number);
  return kids.find((k) => readFileSync(`/proc/${k}/cmdline`, 'utf8').startsWith(readFileSync(`/proc/${shimPid}/cmdline`, 'utf8').split('\0')[0] ?? ''));
}

function procStat(pid: number): { fds: number; rssKb: number; cpuTicks: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return {
    fds: readdirSync(`/proc/${pid}/fd`).length,
    rssKb: Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0),
    cpuTicks: Number(f[11]) + Number(f[12]),
  };
}

const ms = (t: bigint) => Number(process.hrtime.bigint() - t) / 1e6;

async function main(): Promise<void> {
  const lab = await Lab.create({ label: 'bench loopback' });
  try {
    const sw = await lab.createSwitch('under');
    const h = await lab.createHost('h');
    await sw.plug(h, { ifname: 'eth0', address: `${H_ADDR}/24` });
    console.log('| published ports | `run -d` ms | `rm -f` ms | relay fds | relay RSS kB | relay CPU over 5 s idle (ticks) |');
    console.log('|---:|---:|---:|---:|---:|---:|');
    for (const n of [1, 1000, 10000]) {
      const first = 20000;
      const t0 = process.hrtime.bigint();
      const id = (await h.berthOk(['run', '-d', '-p', n === 1 ? `${first}:80` : `${first}-${first + n - 1}:${first}-${first + n - 1}`, '--', 'sleep', '600'])).stdout.trim();
      const runMs = ms(t0);
      const [info] = JSON.parse((await h.berthOk(['inspect', id])).stdout) as { State: { Pid: number } }[];
      const shim = Number(readFileSync(`/proc/${info?.State.Pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[1]);
      const relay = relayOf(shim);
      const a = relay ? procStat(relay) : undefined;
      await new Promise((r) => setTimeout(r, 5000));
      const b = relay ? procStat(relay) : undefined;
      const t1 = process.hrtime.bigint();
      await h.berthOk(['rm', '-f', id]);
      console.log(`| ${n} | ${runMs.toFixed(0)} | ${ms(t1).toFixed(0)} | ${a?.fds ?? '-'} | ${a?.rssKb ?? '-'} | ${a && b ? b.cpuTicks - a.cpuTicks : '-'} |`);
    }
    const id = (await h.berthOk(['run', '-d', '-p', '18080:80', '-p', '18081:81', '--', NODE, '-e', SERVER])).stdout.trim();
    for (let i = 0; i < 100 && !readFileSync(`${h.runDir}/containers/${id}/log`, 'utf8').includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
    console.log('\n| path from the host | connect+echo p50 ms | p99 ms | bulk MB/s |');
    console.log('|---|---:|---:|---:|');
    for (const [what, addr] of [['127.0.0.1 (relay)', '127.0.0.1'], [`${H_ADDR} (nft DNAT)`, H_ADDR]] as const) {
      const r = JSON.parse((await h.execOk([NODE, '-e', CLIENT, addr, '18080', '18081'], { timeoutMs: 300_000 })).stdout) as { p50: number; p99: number; mbps: number };
      console.log(`| ${what} | ${r.p50.toFixed(3)} | ${r.p99.toFixed(3)} | ${r.mbps.toFixed(0)} |`);
    }
    await h.berthOk(['rm', '-f', id]);
  } finally {
    await lab.close();
  }
}

await main();
