// End to end, berth-cni on berth networks other than the default bridge, in-process and through
// the daemon: a macvlan network on the host's LAN NIC (the LAN reaches the sandbox directly, DEL
// removes the child from the runtime's netns) and a user-defined bridge with a published port.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type External, REPO_ROOT, runIn } from '../lab/index.js';
import { startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { type BasicLab, EXT_ADDR, H_ADDR, basicLab } from './helpers.js';

const T = { timeout: 120_000 };

interface CniOut {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  code?: number;
  msg?: string;
}

const plugins = [
  { name: 'in-process', argv: [process.execPath, join(REPO_ROOT, 'bin', 'berth-cni')], daemon: false },
  { name: 'through the daemon', argv: [join(REPO_ROOT, 'dist', 'berth-cni')], daemon: true },
];

void describe('berth-cni on every kind of local berth network', () => {
  let L: BasicLab;
  let daemon: Daemon | undefined;

  before(async () => {
    L = await basicLab('e2e cni-networks');
    await L.h.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '10.200.0.0/24', '--gateway', EXT_ADDR, '--ip-range', '10.200.0.128/28', '-o', 'parent=eth0', 'lan']);
    await L.h.berthOk(['network', 'create', '--subnet', '10.78.0.0/24', 'apps']);
  });
  after(async () => {
    await stopDaemon(daemon);
    await L?.lab.close();
  });

  plugins.forEach((plugin, i) => {
    test(`${plugin.name}: macvlan and a user-defined bridge`, T, async () => {
      if (plugin.daemon) daemon ??= await startDaemon(L.h);
      const call = async (command: string, id: string, sb: External, conf: unknown) => {
        const r = await L.h.exec(plugin.argv, { input: JSON.stringify(conf), env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: sb.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', CNI_ARGS: `K8S_POD_NAME=${id}` } });
        return { status: r.code ?? -1, out: (r.stdout.trim() ? JSON.parse(r.stdout) : {}) as CniOut, stderr: r.stderr };
      };

      const mv = await L.lab.createExternal(`mv${i}`);
      const mvConf = { cniVersion: '1.0.0', name: 'lan', type: 'berth', network: 'lan' };
      const add = await call('ADD', `mv${i}`, mv, mvConf);
      assert.equal(add.status, 0, JSON.stringify(add.out) + add.stderr);
      assert.equal(add.out.interfaces.length, 1, 'a macvlan child only: no host end');
      const ip = add.out.ips[0]?.address.split('/')[0] ?? '';
      assert.match(ip, /^10\.200\.0\.(12[89]|13\d|14[0-3])$/, `${ip} is in the ip-range`);
      const kind = await runIn(mv, ['ip', '-d', '-o', 'link', 'show', 'eth0']);
      assert.match(kind.stdout, /macvlan/);
      assert.ok(await L.ext.ping(ip, { count: 1 }), 'the LAN reaches the sandbox directly');
      const check = await call('CHECK', `mv${i}`, mv, { ...mvConf, prevResult: add.out });
      assert.equal(check.status, 0, JSON.stringify(check.out));
      assert.equal((await call('DEL', `mv${i}`, mv, mvConf)).status, 0);
      const gone = await runIn(mv, ['ip', '-o', 'link', 'show']);
      assert.doesNotMatch(gone.stdout, /eth0/, 'DEL removed the macvlan child from the runtime\'s netns');

      const app = await L.lab.createExternal(`app${i}`);
      const hostPort = 8290 + i;
      const appConf = { cniVersion: '1.1.0', name: 'apps', type: 'berth', network: 'apps', runtimeConfig: { portMappings: [{ hostPort, containerPort: 80 }] } };
      const a = await call('ADD', `app${i}`, app, appConf);
      assert.equal(a.status, 0, JSON.stringify(a.out) + a.stderr);
      assert.match(a.out.ips[0]?.address ?? '', /^10\.78\.0\.\d+\/24$/);
      assert.ok(await app.ping(EXT_ADDR, { count: 1 }), 'the sandbox reaches the outside (NAT)');
      const server = await app.spawn([process.execPath, '-e', "require('net').createServer(c=>c.end('apps\\n')).listen(80,()=>console.log('up'))"]);
      await server.waitForOutput('up', { timeoutMs: 10_000 });
      const got = await runIn(L.ext, [process.execPath, '-e', `require('net').connect(${hostPort},'${H_ADDR}').on('data',d=>{process.stdout.write(d);process.exit(0)}).on('error',e=>{console.log(e.code);process.exit(1)})`], { timeoutMs: 10_000 });
      assert.equal(got.stdout, 'apps\n', 'the published port is reached from outside');
      await server.kill();
      const inspect = await L.h.berthJson<{ Containers: Record<string, { IPv4Address: string }> }[]>(['network', 'inspect', 'apps', '--format', 'json']);
      assert.equal(inspect[0]?.Containers[`app${i}`]?.IPv4Address, a.out.ips[0]?.address, 'network inspect lists the sandbox');
      assert.equal((await call('DEL', `app${i}`, app, appConf)).status, 0);
    });
  });

  test('a netns path only the runtime sees (its own mount namespace, as podman): ADD and DEL work through the native plugin', T, async () => {
    daemon ??= await startDaemon(L.h);
    const sb = await L.lab.createExternal('privns');
    const dir = join(L.h.runDir, 'runtime-private');
    await L.h.exec(['mkdir', '-p', dir], { check: true });
    // in a private mount namespace: a tmpfs on dir holding a bind mount of the sandbox's netns, then the plugin
    const runtime = [
      "const {spawnSync}=require('child_process');const fs=require('fs');const [dir,ns,plugin,conf]=process.argv.slice(1);",
      "const ok=(a)=>{const r=spawnSync(a[0],a.slice(1),{stdio:'inherit'});if(r.status!==0)process.exit(90)};",
      "ok(['mount','-t','tmpfs','tmpfs',dir]);fs.writeFileSync(dir+'/ns','');ok(['mount','--bind',ns,dir+'/ns']);",
      "for(const cmd of ['ADD','DEL']){const r=spawnSync(plugin,[],{input:conf,env:{...process.env,CNI_COMMAND:cmd,CNI_NETNS:dir+'/ns'}});",
      "process.stdout.write(cmd+' '+r.status+' '+r.stdout.toString().trim()+'\\n');if(cmd==='ADD'){",
      "const p=spawnSync('nsenter',['--net='+dir+'/ns','ip','-o','-4','addr','show','eth0']);process.stdout.write('ADDR '+p.stdout.toString());}}",
    ].join('');
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'apps', type: 'berth', network: 'apps' });
    const r = await L.h.exec(['unshare', '-m', '--propagation', 'private', process.execPath, '-e', runtime, dir, sb.netnsPath, join(REPO_ROOT, 'dist', 'berth-cni'), conf], {
      env: { CNI_CONTAINERID: 'privns', CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
      timeoutMs: 60_000,
    });
    assert.match(r.stdout, /^ADD 0 \{/m, r.stdout + r.stderr);
    assert.match(r.stdout, /ADDR .*inet 10\.78\.0\.\d+\/24/, 'the sandbox got its address');
    assert.match(r.stdout, /^DEL 0/m, r.stdout + r.stderr);
    const inspect = await L.h.berthJson<{ Containers: Record<string, unknown> }[]>(['network', 'inspect', 'apps', '--format', 'json']);
    assert.deepEqual(inspect[0]?.Containers, {}, 'DEL released it');
  });

  test('a scrubbed environment (conmon): the native plugin finds the state from the conf', T, async () => {
    daemon ??= await startDaemon(L.h);
    const sb = await L.lab.createExternal('scrubbed');
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'apps', type: 'berth', network: 'apps', berthRoot: L.h.rootDir, berthRun: L.h.runDir });
    const env = { CNI_CONTAINERID: 'scrubbed', CNI_NETNS: sb.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', BERTH_ROOT: `${L.h.rootDir}-not-used`, BERTH_RUN: `${L.h.runDir}-not-used` };
    const add = await L.h.exec([join(REPO_ROOT, 'dist', 'berth-cni')], { input: conf, env: { ...env, CNI_COMMAND: 'ADD' } });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const inspect = await L.h.berthJson<{ Containers: Record<string, unknown> }[]>(['network', 'inspect', 'apps', '--format', 'json']);
    assert.ok(inspect[0]?.Containers.scrubbed, 'the attachment is in the store the conf names');
    const del = await L.h.exec([join(REPO_ROOT, 'dist', 'berth-cni')], { input: conf, env: { ...env, CNI_COMMAND: 'DEL' } });
    assert.equal(del.code, 0, del.stdout + del.stderr);
    const after = await L.h.berthJson<{ Containers: Record<string, unknown> }[]>(['network', 'inspect', 'apps', '--format', 'json']);
    assert.deepEqual(after[0]?.Containers, {}, 'DEL went to the same store: nothing leaks');
    assert.ok(!existsSync(`${L.h.rootDir}-not-used`) && !existsSync(`${L.h.runDir}-not-used`), 'the environment\'s locations were not used');
  });
});
