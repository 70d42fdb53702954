// End to end: the published ports of CNI sandboxes plugged in through the daemon are bound by
// the host's ONE relay process (berth-init --relay-host, src/engine/host-relay.ts), not by a
// process per endpoint. 20 sandboxes → one relay; the host's 127.0.0.1 reaches them through it; a
// port a host process holds fails the ADD naming it, with nothing left; the relay outlives a
// daemon restart; killed, `system check` names the missing bindings and --repair re-makes them;
// a binding for an endpoint that is gone is found and released; the last DEL and the daemon's
// stop leave no relay behind.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, type External, REPO_ROOT } from '../lab/index.js';
import { api, sleep, startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { type BasicLab, basicLab } from './helpers.js';

const T = { timeout: 240_000 };
const SANDBOXES = 20;
const BASE_PORT = 9100;
const conf = (hostPort: number) =>
  JSON.stringify({ cniVersion: '1.0.0', name: 'lab', type: 'berth', runtimeConfig: { portMappings: [{ hostPort, containerPort: 80, protocol: 'tcp' }] } });

/** berth-init processes serving this host's state (relays started for it), by argv. */
function relayProcesses(runDir: string): { pid: number; argv: string[] }[] {
  const found: { pid: number; argv: string[] }[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const argv = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv[0]?.endsWith('berth-init') && argv.some((a) => a.startsWith(runDir)) && !/\) Z/.test(readFileSync(`/proc/${name}/stat`, 'utf8'))) found.push({ pid: Number(name), argv });
    } catch {
      // ended meanwhile
    }
  }
  return found;
}

void describe('CNI through the daemon: one host relay for every published port', () => {
  let L: BasicLab;
  let daemon: Daemon | undefined;
  const sandboxes: External[] = [];
  const servers: BackgroundProcess[] = [];

  before(async () => {
    L = await basicLab('e2e cni host relay');
  });
  after(async () => {
    for (const s of servers) await s.kill();
    await stopDaemon(daemon);
    await L?.lab.close();
  });

  const call = (command: string, k: number, hostPort = BASE_PORT + k) =>
    L.h.exec([join(REPO_ROOT, 'dist', 'berth-cni')], {
      input: conf(hostPort),
      env: { CNI_COMMAND: command, CNI_CONTAINERID: `relay-test-${k}`, CNI_NETNS: sandboxes[k]?.netnsPath ?? '/nonexistent', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
    });
  const fromHostLoopback = async (port: number) =>
    (await L.h.exec([process.execPath, '-e', `require('net').connect(${port},'127.0.0.1').on('data',d=>{process.stdout.write(d);process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(1)})`], { timeoutMs: 10_000 })).stdout;
  const serve = async (k: number) => {
    const server = await sandboxes[k]!.spawn([process.execPath, '-e', `require('net').createServer(c=>c.end('hello from ${k}\\n')).listen(80,()=>console.log('up'))`]);
    await server.waitForOutput('up', { timeoutMs: 10_000 });
    servers.push(server);
  };
  const relayCtl = (text: string) =>
    L.h.exec([process.execPath, '-e', `const s=require('net').connect(process.argv[1]);let o='';s.on('data',d=>{o+=d;if(o.endsWith('\\n')){process.stdout.write(o);process.exit(0)}});s.write(process.argv[2])`, join(L.h.runDir, 'relay', 'control.sock'), text], { timeoutMs: 10_000 });

  void test(`${SANDBOXES} sandboxes with a published port: one relay process, reached from 127.0.0.1`, T, async () => {
    daemon = await startDaemon(L.h);
    for (let k = 0; k < SANDBOXES; k++) {
      sandboxes.push(await L.lab.createExternal(`sb${k}`));
      const add = await call('ADD', k);
      assert.equal(add.code, 0, `ADD ${k}: ${add.stdout}${add.stderr}`);
    }
    const relays = relayProcesses(L.h.runDir);
    assert.equal(relays.length, 1, `one relay process for ${SANDBOXES} sandboxes, got: ${relays.map((r) => r.argv.join(' ')).join('\n')}`);
    assert.ok(relays[0]?.argv.includes('--relay-host'), 'it is the host relay');
    await serve(0);
    await serve(SANDBOXES - 1);
    assert.equal(await fromHostLoopback(BASE_PORT), 'hello from 0\n');
    assert.equal(await fromHostLoopback(BASE_PORT + SANDBOXES - 1), `hello from ${SANDBOXES - 1}\n`);
    const taken = await L.h.exec([process.execPath, '-e', `require('net').createServer().on('error',e=>console.log(e.code)).listen(${BASE_PORT + 1},'127.0.0.1',()=>{console.log('bound');process.exit(0)})`], { timeoutMs: 10_000 });
    assert.equal(taken.stdout.trim(), 'EADDRINUSE', 'the relay holds the published port on 127.0.0.1');
  });

  void test('a port a host process holds fails the ADD, naming it; nothing is left', T, async () => {
    const k = SANDBOXES;
    sandboxes.push(await L.lab.createExternal(`sb${k}`));
    const busyPort = BASE_PORT + 500;
    const holder = await L.h.spawn([process.execPath, '-e', `require('net').createServer().listen(${busyPort},'127.0.0.1',()=>console.log('up'))`]);
    servers.push(holder);
    await holder.waitForOutput('up', { timeoutMs: 10_000 });
    const relaysBefore = await readdir(join(L.h.runDir, 'relays'));
    const add = await call('ADD', k, busyPort);
    assert.notEqual(add.code, 0, add.stdout);
    assert.match((JSON.parse(add.stdout) as { msg?: string }).msg ?? '', new RegExp(String(busyPort)));
    assert.deepEqual(await readdir(join(L.h.runDir, 'relays')), relaysBefore, 'no relay record left');
    const pub = await L.h.exec(['nft', 'list', 'map', 'inet', 'berth', 'pub4']);
    assert.doesNotMatch(pub.stdout, new RegExp(`\\b${busyPort}\\b`), 'no published port left');
    const links = await sandboxes[k]!.exec(['ip', '-o', 'link', 'show']);
    assert.doesNotMatch(links.stdout, /eth0/, 'no interface left in the sandbox');
  });

  void test('the relay outlives a daemon restart; killed, system check names it and --repair re-makes it', T, async () => {
    const [before] = relayProcesses(L.h.runDir);
    await stopDaemon(daemon);
    assert.equal(await fromHostLoopback(BASE_PORT), 'hello from 0\n', 'the loopback works with the daemon stopped');
    daemon = await startDaemon(L.h);
    assert.deepEqual(relayProcesses(L.h.runDir).map((r) => r.pid), [before?.pid], 'the same relay serves the new daemon');
    assert.doesNotMatch(daemon.proc.stderr(), /repair: .*relay/, 'the daemon found nothing to repair');

    process.kill(before?.pid ?? 0, 'SIGKILL');
    for (let i = 0; i < 100 && relayProcesses(L.h.runDir).length; i++) await sleep(20);
    const check = await L.h.berth(['system', 'check']);
    assert.equal(check.code, 1, `system check finds the missing relay: ${check.stdout}${check.stderr}`);
    assert.equal((check.stdout.match(/loopback relay of its published ports is not running/g) ?? []).length, SANDBOXES, check.stdout);
    const cniCheck = await call('CHECK', 0);
    assert.equal(cniCheck.code, 1, cniCheck.stdout);
    assert.match(cniCheck.stdout, /loopback relay of its published ports is not running/);
    await L.h.berthOk(['system', 'check', '--repair']);
    assert.equal(relayProcesses(L.h.runDir).length, 1, 'repair started one relay');
    assert.equal(await fromHostLoopback(BASE_PORT), 'hello from 0\n');
    assert.equal((await call('CHECK', SANDBOXES - 1)).code, 0);
    const clean = await L.h.berth(['system', 'check']);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  });

  void test('a binding whose endpoint is gone is found and released', T, async () => {
    const orphanPort = BASE_PORT + 600;
    const added = await relayCtl(`add ${'e'.repeat(64)} 1\ntcp 127.0.0.1 ${orphanPort} 172.17.0.250 80\n`);
    assert.equal(added.stdout.trim(), 'ok', added.stderr);
    const check = await L.h.berth(['system', 'check']);
    assert.equal(check.code, 1, check.stdout);
    assert.match(check.stdout, /host port relay eeeeeeeeeeee.*endpoint that is gone/);
    await L.h.berthOk(['system', 'check', '--repair']);
    const free = await L.h.exec([process.execPath, '-e', `const s=require('net').createServer().on('error',e=>console.log(e.code)).listen(${orphanPort},'127.0.0.1',()=>{console.log('bound');s.close()})`], { timeoutMs: 10_000 });
    assert.equal(free.stdout.trim(), 'bound', 'the orphan port is free');
  });

  void test("/berth/v1/cni sees CNI_NETNS through the caller's pid from the socket (SO_PEERCRED), not the body's", T, async () => {
    const k = SANDBOXES;
    const env = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'relay-test-peer', CNI_NETNS: sandboxes[k]!.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
    // a pid that is no process: trusted, the daemon would look for /proc/999999999/root/... and refuse (404)
    const add = await api(daemon!.sock, 'POST', '/berth/v1/cni', { env, stdin: conf(BASE_PORT + 700), pid: 999_999_999 });
    assert.equal(add.status, 200, add.text);
    assert.match(add.text, /"ips"/, 'the ADD ran in the daemon and answered a result');
    const del = await api(daemon!.sock, 'POST', '/berth/v1/cni', { env: { ...env, CNI_COMMAND: 'DEL' }, stdin: conf(BASE_PORT + 700), pid: 1 });
    assert.equal(del.status, 200, del.text);
  });

  void test('DEL releases each port; the daemon stopping ends the idle relay', T, async () => {
    for (let k = 0; k < SANDBOXES; k++) {
      const del = await call('DEL', k);
      assert.equal(del.code, 0, `DEL ${k}: ${del.stdout}${del.stderr}`);
    }
    assert.equal((await relayCtl('list\n')).stdout, '.\n', 'the relay binds nothing');
    const free = await L.h.exec([process.execPath, '-e', `const s=require('net').createServer().on('error',e=>console.log(e.code)).listen(${BASE_PORT},'127.0.0.1',()=>{console.log('bound');s.close()})`], { timeoutMs: 10_000 });
    assert.equal(free.stdout.trim(), 'bound');
    await stopDaemon(daemon);
    daemon = undefined;
    for (let i = 0; i < 100 && relayProcesses(L.h.runDir).length; i++) await sleep(20);
    assert.deepEqual(relayProcesses(L.h.runDir), [], 'no relay left');
  });
});
