// bench/attach engine driver: berth's engine called in-process, one Node process for a whole
// benchmark phase. The harness (bench/attach/harness, backend `berth-engine`) starts it once
// inside the lab's host namespace (nsenter --net, BERTH_ROOT/BERTH_RUN in a fresh temp dir) and
// then sends one request per line on stdin:
//
//   add <i>   attachSandbox: /run/netns/<prefix>c<i> on network "bridge", eth0,
//             host port <base>+i -> 8080/tcp
//   del <i>   detachSandbox of the same container
//   quit      close the engine and exit
//
// and reads one answer per line on stdout: `<rc> <wall µs> <cpu µs> [error]`. Wall and CPU time
// (process.cpuUsage: user+sys of this process) are measured around the engine call only, so the
// pipe round trip to the harness is not in the numbers. The attaches and detaches are sequential,
// as in every other row of the benchmark.
//
// --network-opt KEY=VALUE (repeatable; the harness passes $BA_BERTH_ENGINE_ARGS): attach to a
// user-defined bridge network "ba-net" created with these options instead of the default
// network, e.g. allow_spoofing=true|false to measure what anti-spoofing costs an attach.
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { Engine } from '../../src/engine/context.js';
import { attachNetworkEndpoint, syncDefaultRoutes, Undo } from '../../src/engine/endpoints.js';
import { createNetwork } from '../../src/engine/networks.js';
import { attachSandbox, detachSandbox, type SandboxRequest } from '../../src/engine/sandboxes.js';

const { values } = parseArgs({
  options: {
    'netns-prefix': { type: 'string', default: 'ba-c' },
    'hostport-base': { type: 'string', default: '30000' },
    'container-port': { type: 'string', default: '8080' },
    'network-opt': { type: 'string', multiple: true, default: [] },
  },
});
const nsPrefix = values['netns-prefix'];
const hostPortBase = Number(values['hostport-base']);
const containerPort = Number(values['container-port']);
if (!/^[a-z][a-z0-9-]*$/.test(nsPrefix)) throw new Error(`bad --netns-prefix "${nsPrefix}"`);
if (!Number.isInteger(hostPortBase) || !Number.isInteger(containerPort)) throw new Error('bad port arguments');

const engine = new Engine();
const networkOpts = values['network-opt'];
let network = 'bridge';
let attach: (req: SandboxRequest) => Promise<unknown> = (req) => attachSandbox(engine, req);
if (networkOpts.length) {
  const options = Object.fromEntries(networkOpts.map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  network = 'ba-net';
  if (!engine.store.findNetwork(network)) await createNetwork(engine, {
    name: network, driver: 'bridge', subnets: ['172.30.0.0/16'], gateways: [], ipRanges: [], auxAddresses: {},
    ipv6: false, internal: false, attachable: false, options, labels: {},
  });
  // attachSandbox knows only the default network: the same steps on ba-net
  const record = engine.store.findNetwork(network);
  if (!record) throw new Error('ba-net was not created');
  attach = async (req) => {
    const undo = new Undo();
    try {
      await attachNetworkEndpoint(engine, record, req, undo);
      await syncDefaultRoutes(engine, req.containerId, req.netns);
    } catch (err) {
      await undo.run();
      throw err;
    }
  };
}

function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

async function timed(fn: () => Promise<unknown>): Promise<string> {
  const c0 = process.cpuUsage();
  const t0 = nowUs();
  let rc = 0;
  let msg = '';
  try {
    await fn();
  } catch (err) {
    rc = 1;
    msg = err instanceof Error ? err.message : String(err);
  }
  const t1 = nowUs();
  const c = process.cpuUsage(c0);
  if (rc) process.stderr.write(`berth-engine: ${msg}\n`);
  return `${rc} ${t1 - t0} ${c.user + c.system}${msg ? ` ${msg.replace(/\s+/g, ' ')}` : ''}`;
}

async function handle(line: string): Promise<string | undefined> {
  const [op, arg] = line.trim().split(/\s+/);
  if (op === 'quit') return undefined;
  const i = Number(arg);
  if (!Number.isInteger(i) || i < 1) return `2 0 0 bad request "${line}"`;
  const containerId = `${nsPrefix}${i}`;
  if (op === 'add') {
    return timed(() =>
      attach({
        containerId,
        netns: `/run/netns/${containerId}`,
        ifname: 'eth0',
        network,
        publish: [{ hostIp: undefined, hostPort: hostPortBase + i, containerPort, proto: 'tcp' }],
      }),
    );
  }
  if (op === 'del') return timed(() => detachSandbox(engine, containerId, 'eth0'));
  return `2 0 0 unknown op "${op}"`;
}

async function main(): Promise<void> {
  process.stdout.write('ready\n');
  const rl = createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of rl) {
    if (!line.trim()) continue;
    const answer = await handle(line);
    if (answer === undefined) break;
    process.stdout.write(`${answer}\n`);
  }
  rl.close();
  engine.close();
}

await main();
