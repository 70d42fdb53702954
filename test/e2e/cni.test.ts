// End to end, berth as a CNI plugin: the in-process plugin (bin/berth-cni) and the native one
// (dist/berth-cni) that hands each call to the daemon. A runtime's sandbox is a lab namespace;
// ADD plugs it into the default bridge with a published port, CHECK confirms, DEL releases
// (twice: idempotent); bad calls answer with CNI's error JSON. Both plugins, same assertions.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type External, REPO_ROOT, runIn } from '../lab/index.js';
import { sleep, startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { type BasicLab, H_ADDR, basicLab } from './helpers.js';

const T = { timeout: 90_000 };
const CONF = (hostPort: number) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'lab', type: 'berth', runtimeConfig: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] } });

interface CniResult {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway: string; interface: number }[];
  code?: number;
  msg?: string;
}

const plugins = [
  { name: 'in-process plugin (bin/berth-cni)', argv: [process.execPath, join(REPO_ROOT, 'bin', 'berth-cni')], daemon: false },
  // no daemon yet: the client runs the in-process plugin from its V8 startup snapshot (dist/berth-cni.blob)
  { name: 'native plugin without a daemon (dist/berth-cni)', argv: [join(REPO_ROOT, 'dist', 'berth-cni')], daemon: false },
  { name: 'native plugin via the daemon (dist/berth-cni)', argv: [join(REPO_ROOT, 'dist', 'berth-cni')], daemon: true },
];

void describe('berth as a CNI plugin', () => {
  let L: BasicLab;
  let daemon: Daemon | undefined;

  before(async () => {
    L = await basicLab('e2e cni');
  });
  after(async () => {
    await stopDaemon(daemon);
    await L?.lab.close();
  });

  plugins.forEach((plugin, i) => {
    test(`${plugin.name}: ADD, CHECK, DEL (twice), bad calls`, T, async () => {
      if (plugin.daemon) daemon ??= await startDaemon(L.h);
      const sb: External = await L.lab.createExternal(`sb${i}`);
      const hostPort = 8080 + i;
      const call = (command: string, env: Record<string, string> = {}, input = CONF(hostPort)) =>
        L.h.exec(plugin.argv, {
          input,
          env: { CNI_COMMAND: command, CNI_CONTAINERID: `cni-test-${i}`, CNI_NETNS: sb.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...env },
        });

      const version = await call('VERSION', {}, '');
      assert.equal(version.code, 0, version.stdout + version.stderr);
      assert.ok((JSON.parse(version.stdout) as { supportedVersions: string[] }).supportedVersions.includes('1.0.0'));

      const add = await call('ADD');
      assert.equal(add.code, 0, add.stdout + add.stderr);
      const r = JSON.parse(add.stdout) as CniResult;
      assert.equal(r.cniVersion, '1.0.0');
      assert.equal(r.interfaces[1]?.sandbox, sb.netnsPath);
      const ip = r.ips[0]?.address.split('/')[0] ?? '';
      assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
      assert.ok(await sb.ping(r.ips[0]?.gateway ?? '', { count: 1 }), 'the sandbox reaches its gateway');

      // the published port: a server in the sandbox, a client in the external namespace
      const server = await sb.spawn([process.execPath, '-e', "require('net').createServer(c=>c.end('hello from sandbox\\n')).listen(80,()=>console.log('up'))"]);
      await server.waitForOutput('up', { timeoutMs: 10_000 });
      const got = await runIn(L.ext, [process.execPath, '-e', `require('net').connect(${hostPort},'${H_ADDR}').on('data',d=>{process.stdout.write(d);process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(1)})`], { timeoutMs: 10_000 });
      assert.equal(got.stdout, 'hello from sandbox\n', got.stderr);
      // the host's own 127.0.0.1 reaches it through berth's relay (no route_localnet), which holds the port
      const local = await L.h.exec([process.execPath, '-e', `require('net').connect(${hostPort},'127.0.0.1').on('data',d=>{process.stdout.write(d);process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(1)})`], { timeoutMs: 10_000 });
      assert.equal(local.stdout, 'hello from sandbox\n', local.stderr);
      const taken = await L.h.exec([process.execPath, '-e', `require('net').createServer().on('error',e=>console.log(e.code)).listen(${hostPort},'127.0.0.1',()=>{console.log('bound');process.exit(0)})`], { timeoutMs: 10_000 });
      assert.equal(taken.stdout.trim(), 'EADDRINUSE', 'a host service cannot take the published port on 127.0.0.1');
      await server.kill();

      const check = await call('CHECK');
      assert.equal(check.code, 0, check.stdout + check.stderr);
      // the relay gone (killed): CHECK says so, naming it (through the daemon: the host's one relay)
      const [relayDir] = await readdir(join(L.h.runDir, 'relays'));
      const pidFile = plugin.daemon ? join(L.h.runDir, 'relay', 'pid') : join(L.h.runDir, 'relays', relayDir ?? '', 'pid');
      const relayPid = Number((await readFile(pidFile, 'utf8')).split('\n')[0]);
      process.kill(relayPid, 'SIGKILL');
      for (let k = 0; k < 100 && existsSync(`/proc/${relayPid}/stat`) && !/\) Z/.test(await readFile(`/proc/${relayPid}/stat`, 'utf8').catch(() => '')); k++) await sleep(20);
      const drifted = await call('CHECK');
      assert.equal(drifted.code, 1, drifted.stdout + drifted.stderr);
      assert.match((JSON.parse(drifted.stdout) as CniResult).msg ?? '', /loopback relay of its published ports is not running/);

      for (const round of [1, 2]) {
        const del = await call('DEL');
        assert.equal(del.code, 0, `DEL #${round}: ${del.stdout}${del.stderr}`);
      }
      const links = await runIn(sb, ['ip', '-o', 'link', 'show']);
      assert.doesNotMatch(links.stdout, /eth0/, 'DEL removed the sandbox interface');
      const ps = await L.h.exec(['nft', 'list', 'map', 'inet', 'berth', 'pub4']);
      assert.doesNotMatch(ps.stdout, new RegExp(`\\b${hostPort}\\b`), 'DEL removed the published port');
      const freed = await L.h.exec([process.execPath, '-e', `const s=require('net').createServer().on('error',e=>console.log(e.code)).listen(${hostPort},'127.0.0.1',()=>{console.log('bound');s.close()})`], { timeoutMs: 10_000 });
      assert.equal(freed.stdout.trim(), 'bound', 'DEL ended the relay: the port is free on the host');

      const noNetns = await call('ADD', { CNI_NETNS: '' });
      assert.equal(noNetns.code, 1);
      assert.equal((JSON.parse(noNetns.stdout) as CniResult).code, 4);
      assert.match((JSON.parse(noNetns.stdout) as CniResult).msg ?? '', /CNI_NETNS is not set/);
      const badJson = await call('ADD', {}, '{not json');
      assert.equal(badJson.code, 1);
      assert.equal((JSON.parse(badJson.stdout) as CniResult).code, 6);
    });
  });
});
