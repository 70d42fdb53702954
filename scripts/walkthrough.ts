// berth's guided walkthrough: the four network modes, in a throwaway lab. A lab namespace plays
// the host, another plays the outside world; berth runs inside the host exactly as it would on
// a real machine. Nothing happens in the machine's own network namespace.
import { BERTH_CLIENT, Lab, type Host } from '../test/lab/index.js';

const tty = process.stdout.isTTY;
const bold = (s: string) => (tty ? `\x1b[1m${s}\x1b[0m` : s);
const dim = (s: string) => (tty ? `\x1b[2m${s}\x1b[0m` : s);
const step = (n: number, text: string) => console.log(`\n${bold(`${n}. ${text}`)}`);
const indent = (s: string) => s.trimEnd().split('\n').map((l) => `   ${l}`).join('\n');

/** Show a berth command as a user would type it, run it on the lab host, print its output. */
async function berth(host: Host, args: string[]): Promise<string> {
  const quote = (a: string) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`);
  console.log(dim(`   $ berth ${args.map(quote).join(' ')}`));
  const r = await host.berth(args, { timeoutMs: 60_000 });
  const out = `${r.stdout}${r.stderr}`;
  if (out.trim()) console.log(indent(out));
  if (r.code !== 0) throw new Error(`berth ${args.join(' ')} exited with ${r.code}`);
  return r.stdout.trim();
}

const node = process.execPath;
// a TCP server that answers every connection with the address it came from
const whoami = `require('net').createServer(s=>s.end('you are '+s.remoteAddress+'\\n')).listen(80)`;
const ask = (host: string, port: number) =>
  `const s=require('net').connect(${port},'${host}');s.on('data',d=>process.stdout.write(d));s.on('error',e=>{console.log(e.message);process.exit(1)})`;

const lab = await Lab.create({ label: 'walkthrough' });
try {
  step(1, 'A throwaway lab: a "host" and the "world" on one switch (the world has no route to containers)');
  const host = await lab.createHost('host');
  const world = await lab.createExternal('world');
  const sw = await lab.createSwitch('lan');
  await sw.plug(host, { ifname: 'eth0', address: '192.0.2.10/24' });
  await sw.plug(world, { ifname: 'eth0', address: '192.0.2.1/24' });
  console.log(indent(`host 192.0.2.10 (${host.netnsPath}), world 192.0.2.1`));

  step(2, 'bridge mode (the default): a container with its own namespace on berth0, publishing port 80 as 8080');
  await berth(host, ['run', '-d', '--name', 'web', '-p', '8080:80', '--', node, '-e', whoami]);
  await berth(host, ['ps']);
  await berth(host, ['port', 'web']);
  await new Promise((r) => setTimeout(r, 500)); // the server's own start-up
  console.log(dim('   world $ connect to 192.0.2.10:8080   (DNAT in the kernel, no proxy: the real client address arrives)'));
  console.log(indent((await world.exec([node, '-e', ask('192.0.2.10', 8080)])).stdout));
  console.log(dim('   a second container reaches the world; the world sees the host address (masquerade):'));
  await berth(host, ['run', '--rm', '--', 'ping', '-c', '1', '-W', '2', '192.0.2.1']);

  step(3, "host mode: no namespace of its own; the container sees the host's interfaces (and -p is ignored)");
  await berth(host, ['run', '--rm', '--network', 'host', '-p', '9999:9999', '--', 'ip', '-o', '-4', 'addr', 'show', 'eth0']);

  step(4, "container mode: join web's namespace; same address, talk over lo, but own hostname and processes");
  await berth(host, ['run', '--rm', '--network', 'container:web', '--', node, '-e', ask('127.0.0.1', 80)]);
  await berth(host, ['run', '--rm', '--network', 'container:web', '--', 'ps', '-e', '-o', 'pid,comm']);

  step(5, 'none mode: only lo (configure it yourself later with berth exec)');
  await berth(host, ['run', '--rm', '--network', 'none', '--', 'ip', '-o', 'link']);

  step(6, 'Remove web: its address, veth, published port and namespace go with it');
  await berth(host, ['rm', '-f', 'web']);
  await berth(host, ['ps', '-a']);

  step(7, 'The daemon: with `berth daemon` running, the installed `berth` (a thin native client) sends commands to it');
  console.log(dim('   $ berth daemon &'));
  const daemon = await host.spawnBerth(['daemon']);
  await daemon.waitForOutput('listening on', { stream: 'stderr', timeoutMs: 30_000 });
  const timed = async (argv: string[]): Promise<number> => {
    const times: number[] = [];
    for (let i = 0; i < 5; i++) {
      const start = performance.now();
      const r = await host.exec(argv, { timeoutMs: 60_000 });
      if (r.code !== 0) throw new Error(`${argv.join(' ')} exited with ${r.code}: ${r.stderr}`);
      times.push(performance.now() - start);
    }
    return times.sort((a, b) => a - b)[2] ?? NaN;
  };
  const run = ['run', '--rm', '--network', 'bridge', '--', 'true'];
  const direct = await timed(host.berthArgv(run));
  const via = await timed([BERTH_CLIENT, ...run]);
  const info = (await host.exec([BERTH_CLIENT, 'system', 'info'])).stdout.split('\n').find((l) => l.startsWith('Served by')) ?? '';
  console.log(dim('   $ berth system info | grep Served'));
  console.log(indent(info));
  console.log(indent(`berth run --rm --network bridge -- true, median of 5: ${direct.toFixed(0)} ms in-process, ${via.toFixed(0)} ms through the daemon`));
  await daemon.kill();
} finally {
  step(8, 'Removing the lab');
  await lab.close();
  console.log(indent('done; the machine itself was never touched.'));
}
