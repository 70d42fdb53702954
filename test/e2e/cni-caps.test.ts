// End to end, berth-cni's conf schema and capabilities (issue 13): unknown or mistyped fields
// and a bad CNI_ARGS refused naming the field with nothing changed; the `bandwidth` capability
// measured with real TCP transfers both ways; the `dns` capability and the embedded DNS answering
// for a CNI sandbox under the runtime's name; network inspect naming the sandbox.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type External, REPO_ROOT, runIn } from '../lab/index.js';
import { type Daemon, api, startDaemon, stopDaemon } from './daemon-helpers.js';
import { type BasicLab, EXT_ADDR, NODE, basicLab, hostState } from './helpers.js';

const T = { timeout: 180_000 };
const PLUGIN = [process.execPath, join(REPO_ROOT, 'bin', 'berth-cni')];

export interface CniOut {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  dns?: { nameservers?: string[]; search?: string[]; options?: string[] };
  code?: number;
  msg?: string;
  details?: string;
}

/** In the sandbox: port 5001 counts what it receives and prints the rate; 5002 sends for SECONDS. */
const BW_SERVER = [
  "const net=require('net');const secs=Number(process.argv[1]);const buf=Buffer.alloc(65536);",
  "net.createServer(c=>{let n=0,t0=0;c.on('data',d=>{if(!t0)t0=Date.now();n+=d.length});c.on('end',()=>{process.stdout.write('rx '+Math.round(n*8*1000/(Date.now()-t0))+'\\n');c.end()})}).listen(5001);",
  "net.createServer(c=>{const stop=Date.now()+secs*1000;const pump=()=>{while(Date.now()<stop){if(!c.write(buf))return c.once('drain',pump)}c.end()};pump()}).listen(5002,()=>console.log('up'));",
].join('');
/** On the host: send to ADDR:5001 for SECONDS, or (recv) read ADDR:5002 and print the rate. */
const BW_CLIENT = [
  "const net=require('net');const [mode,addr,secs]=process.argv.slice(1);const buf=Buffer.alloc(65536);",
  "const c=net.connect(mode==='recv'?5002:5001,addr);let n=0,t0=0;",
  "if(mode==='recv'){c.on('data',d=>{if(!t0)t0=Date.now();n+=d.length});c.on('end',()=>{console.log('rx '+Math.round(n*8*1000/(Date.now()-t0)));process.exit(0)})}",
  "else{const stop=Date.now()+Number(secs)*1000;const pump=()=>{while(Date.now()<stop){if(!c.write(buf))return c.once('drain',pump)}c.end()};c.on('connect',pump);c.on('data',()=>{});c.on('end',()=>process.exit(0))}",
  "c.on('error',e=>{console.log('ERR '+e.code);process.exit(1)});",
].join('');

void describe('berth-cni: conf schema and capabilities', () => {
  let L: BasicLab;

  before(async () => {
    L = await basicLab('e2e cni-caps');
    await L.h.berthOk(['network', 'create', '--subnet', '10.79.0.0/24', 'caps']);
  });
  let daemon: Daemon | undefined;
  after(async () => {
    await stopDaemon(daemon);
    await L?.lab.close();
  });

  const call = async (command: string, env: Record<string, string>, conf: unknown, argv = PLUGIN): Promise<{ status: number; out: CniOut; stderr: string }> => {
    const r = await L.h.exec(argv, { input: JSON.stringify(conf), env: { CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin', ...env } });
    return { status: r.code ?? -1, out: (r.stdout.trim() ? JSON.parse(r.stdout) : {}) as CniOut, stderr: r.stderr };
  };
  const envOf = (id: string, sb: External, ifname = 'eth0') => ({ CNI_CONTAINERID: id, CNI_NETNS: sb.netnsPath, CNI_IFNAME: ifname });

  test('unknown and mistyped fields, a bad CNI_ARGS: refused naming the field, nothing changed', T, async () => {
    const sb = await L.lab.createExternal('badconf');
    const before = await hostState(L.h);
    const base = { cniVersion: '1.0.0', name: 'caps', type: 'berth', network: 'caps' };
    const cases: { conf: unknown; env?: Record<string, string>; code: number; mentions: RegExp[] }[] = [
      { conf: { ...base, netwrok: 'caps' }, code: 7, mentions: [/"netwrok"/, /accepted: .*network/] },
      { conf: { ...base, network: ['caps'] }, code: 7, mentions: [/"network" \["caps"\]/, /expected a string/] },
      { conf: { ...base, runtimeConfig: { portMappings: [{ hostPort: '8080', containerPort: 80 }] } }, code: 7, mentions: [/runtimeConfig\.portMappings\[0\]\.hostPort/, /1-65535/] },
      { conf: { ...base, runtimeConfig: { bandwith: { ingressRate: 1 } } }, code: 7, mentions: [/"runtimeConfig\.bandwith"/, /accepted: .*bandwidth/] },
      { conf: { ...base, runtimeConfig: { bandwidth: { ingressRate: 1_000_000 } } }, code: 7, mentions: [/ingressBurst/] },
      { conf: { ...base, runtimeConfig: { dns: { servers: 'x' } } }, code: 7, mentions: [/runtimeConfig\.dns\.servers/] },
      { conf: base, env: { CNI_ARGS: 'K8S_POD_NAME=bad name' }, code: 4, mentions: [/K8S_POD_NAME "bad name"/] },
      { conf: base, env: { CNI_ARGS: 'FOO=1' }, code: 4, mentions: [/"FOO"/, /IgnoreUnknown/] },
    ];
    for (const c of cases) {
      const r = await call('ADD', { ...envOf('badconf', sb), ...c.env }, c.conf);
      assert.equal(r.status, 1, JSON.stringify(c.conf));
      assert.equal(r.out.code, c.code, `${JSON.stringify(c.conf)}: ${JSON.stringify(r.out)}`);
      for (const m of c.mentions) assert.match(`${r.out.msg ?? ''} ${r.out.details ?? ''}`, m);
    }
    assert.deepEqual(await hostState(L.h), before, 'refused calls changed nothing on the host');
    const links = await runIn(sb, ['ip', '-o', 'link', 'show']);
    assert.doesNotMatch(links.stdout, /eth0/, 'nor in the sandbox');
    // the same conf, corrected, works: the refusals were about the named fields only
    const ok = await call('ADD', { ...envOf('badconf', sb), CNI_ARGS: 'IgnoreUnknown=1;FOO=1;K8S_POD_NAME=goodname' }, base);
    assert.equal(ok.status, 0, JSON.stringify(ok.out) + ok.stderr);
    assert.ok(await sb.ping(ok.out.ips[0]?.gateway ?? '', { count: 1 }), 'the sandbox reaches its gateway');
    assert.equal((await call('DEL', envOf('badconf', sb), base)).status, 0);
  });

  test('bandwidth: TCP capped within 25 % of the rate both ways (tbf on the host veth, ifb for egress); DEL removes it', T, async () => {
    const sb = await L.lab.createExternal('bw');
    const ingressRate = 8_000_000;
    const egressRate = 4_000_000;
    const conf = { cniVersion: '1.0.0', name: 'caps', type: 'berth', network: 'caps', capabilities: { bandwidth: true }, runtimeConfig: { bandwidth: { ingressRate, ingressBurst: 200_000, egressRate, egressBurst: 200_000 } } };
    const tooSmall = await call('ADD', envOf('bw', sb), { ...conf, runtimeConfig: { bandwidth: { ingressRate, ingressBurst: 8000 } } });
    assert.equal(tooSmall.out.code, 7, JSON.stringify(tooSmall.out));
    assert.match(tooSmall.out.msg ?? '', /"ingressBurst" 8000: smaller than one frame/);
    const tooLong = await call('ADD', envOf('bw', sb), { ...conf, runtimeConfig: { bandwidth: { egressRate: 8, egressBurst: 1_000_000 } } });
    assert.equal(tooLong.out.code, 7, JSON.stringify(tooLong.out));
    assert.match(tooLong.out.msg ?? '', /"egressBurst" 1000000 at "egressRate" 8/);
    const before = await hostState(L.h);
    const add = await call('ADD', envOf('bw', sb), conf);
    assert.equal(add.status, 0, JSON.stringify(add.out) + add.stderr);
    const hostEnd = add.out.interfaces.find((i) => !i.sandbox)?.name ?? '';
    const ifb = `ifb${hostEnd.replace(/^veth/, '')}`;
    assert.match((await L.h.exec(['tc', 'qdisc', 'show', 'dev', hostEnd])).stdout, /tbf[\s\S]*ingress|ingress[\s\S]*tbf/, 'a tbf and an ingress qdisc on the host veth');
    assert.match((await L.h.exec(['tc', 'qdisc', 'show', 'dev', ifb])).stdout, /tbf/, `a tbf on ${ifb}`);
    const check = await call('CHECK', envOf('bw', sb), { ...conf, prevResult: add.out });
    assert.equal(check.status, 0, JSON.stringify(check.out));

    const addr = add.out.ips[0]?.address.split('/')[0] ?? '';
    const secs = 3;
    const server = await sb.spawn([NODE, '-e', BW_SERVER, String(secs)]);
    await server.waitForOutput('up', { timeoutMs: 10_000 });
    const sent = await L.h.exec([NODE, '-e', BW_CLIENT, 'send', addr, String(secs)], { timeoutMs: 60_000 });
    assert.equal(sent.code, 0, sent.stdout + sent.stderr);
    const rxIn = Number(/rx (\d+)/.exec(await server.waitForOutput(/rx \d+/, { timeoutMs: 30_000 }))?.[1]);
    const got = await L.h.exec([NODE, '-e', BW_CLIENT, 'recv', addr, String(secs)], { timeoutMs: 60_000 });
    const rxOut = Number(/rx (\d+)/.exec(got.stdout)?.[1]);
    await server.kill();
    console.log(`# bandwidth: to the sandbox ${rxIn} bit/s (asked ${ingressRate}), from it ${rxOut} bit/s (asked ${egressRate})`);
    assert.ok(Math.abs(rxIn - ingressRate) <= ingressRate * 0.25, `to the sandbox: ${rxIn} bit/s, asked ${ingressRate}`);
    assert.ok(Math.abs(rxOut - egressRate) <= egressRate * 0.25, `from the sandbox: ${rxOut} bit/s, asked ${egressRate}`);

    const shaped = await call('CHECK', envOf('bw', sb), { ...conf, prevResult: add.out });
    assert.equal(shaped.status, 0);
    await L.h.exec(['tc', 'qdisc', 'del', 'dev', ifb, 'root'], { check: true });
    const drifted = await call('CHECK', envOf('bw', sb), { ...conf, prevResult: add.out });
    assert.equal(drifted.out.code, 101, 'CHECK notices a removed qdisc');
    assert.match(drifted.out.msg ?? '', new RegExp(`${ifb}" has no tbf`));

    assert.equal((await call('DEL', envOf('bw', sb), conf)).status, 0);
    assert.equal((await L.h.exec(['ip', 'link', 'show', ifb])).code, 1, 'DEL removed the ifb');
    assert.deepEqual(await hostState(L.h), before, 'DEL left nothing');
  });

  test('bandwidth on a macvlan network: refused with a clear message, nothing changed', T, async () => {
    await L.h.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '10.200.0.0/24', '--gateway', EXT_ADDR, '--ip-range', '10.200.0.192/28', '-o', 'parent=eth0', 'lanbw']);
    const sb = await L.lab.createExternal('bwmv');
    const before = await hostState(L.h);
    const r = await call('ADD', envOf('bwmv', sb), { cniVersion: '1.0.0', name: 'lanbw', type: 'berth', network: 'lanbw', runtimeConfig: { bandwidth: { ingressRate: 1_000_000, ingressBurst: 100_000 } } });
    assert.equal(r.out.code, 7, JSON.stringify(r.out));
    assert.match(r.out.msg ?? '', /"bandwidth".*network "lanbw".*bridge network/);
    assert.deepEqual(await hostState(L.h), before);
    assert.doesNotMatch((await runIn(sb, ['ip', '-o', 'link', 'show'])).stdout, /eth0/);
    await L.h.berthOk(['network', 'rm', 'lanbw']);
  });

  test('dns: the result names the network\'s resolver; the embedded DNS answers the sandbox and resolves it by the runtime\'s name, daemon up or not at ADD', T, async () => {
    // a node resolver in the sandbox, asking SERVER for NAME (the lab's sandboxes share the machine's resolv.conf)
    const resolveFrom = async (sb: External, server: string, name: string) => {
      const script = "const d=require('dns');const r=new d.Resolver({timeout:2000,tries:3});r.setServers([process.argv[1]]);r.resolve4(process.argv[2],(e,a)=>{console.log(e?'ERR '+e.code:a.join(','))})";
      return (await runIn(sb, [NODE, '-e', script, server, name], { timeoutMs: 30_000 })).stdout.trim();
    };
    // the daemon answers its API before its DNS servers are bound: wait for the resolver first
    const waitResolves = async (sb: External, server: string, name: string, ip: string) => {
      let got = '';
      for (const end = Date.now() + 15_000; Date.now() < end && got !== ip; ) got = await resolveFrom(sb, server, name);
      return got;
    };
    // glibc gives up after 2 x 5 s; under a loaded CI the restarted daemon's first answers can be
    // later than that: ask again (for up to 30 s), and say how long it took
    const getent = async (ctr: string, name: string) => {
      const start = Date.now();
      let got = '';
      for (let tries = 0; Date.now() - start < 30_000 && !got; tries++) {
        got = (await L.h.berth(['exec', ctr, '--', 'getent', 'hosts', name], { timeoutMs: 30_000 })).stdout.trim();
        if (got && tries) console.log(`# getent ${name} from ${ctr}: answered after ${tries + 1} tries, ${Date.now() - start} ms`);
      }
      return got;
    };
    const native = [join(REPO_ROOT, 'dist', 'berth-cni')];
    const rc = { dns: { servers: ['10.200.0.2'], searches: ['lab.example'], options: ['ndots:2'] } };

    // the daemon is running at ADD (and serves the call: the native plugin)
    daemon ??= await startDaemon(L.h);
    const sbA = await L.lab.createExternal('dnsa');
    const a = await call('ADD', { ...envOf('dnsa-id', sbA), CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-a' }, { cniVersion: '1.1.0', name: 'caps', type: 'berth', network: 'caps', runtimeConfig: rc }, native);
    assert.equal(a.status, 0, JSON.stringify(a.out) + a.stderr);
    const gw = a.out.ips[0]?.gateway ?? '';
    assert.deepEqual(a.out.dns, { nameservers: [gw], search: ['lab.example'], options: ['ndots:2'] }, 'the network\'s embedded resolver, the runtime\'s searches and options');
    const ipA = a.out.ips[0]?.address.split('/')[0] ?? '';
    await L.h.berthOk(['run', '-d', '--name', 'dnsctr', '--network', 'caps', '--', 'sleep', '300']);
    assert.equal(await waitResolves(sbA, gw, 'web-a', ipA), ipA, 'the sandbox is answered by the embedded DNS (by its address) and finds itself');
    assert.equal(await getent('dnsctr', 'web-a'), `${ipA}       web-a`, 'a berth container resolves the sandbox by its pod name');
    const ctrIp = (await L.h.berthJson<{ NetworkSettings: { Networks: Record<string, { IPAddress: string }> } }[]>(['inspect', 'dnsctr', '--format', 'json']))[0]?.NetworkSettings.Networks.caps?.IPAddress;
    assert.equal(await resolveFrom(sbA, gw, 'dnsctr'), ctrIp, 'the sandbox resolves the container through the resolver in its result');

    // the daemon down at ADD (the in-process plugin); it follows the store when it comes back
    await stopDaemon(daemon);
    daemon = undefined;
    const sbB = await L.lab.createExternal('dnsb');
    const b = await call('ADD', envOf('dnsb-id', sbB), { cniVersion: '1.0.0', name: 'caps', type: 'berth', network: 'caps', runtimeConfig: { aliases: ['web-b', 'other-b'] } });
    assert.equal(b.status, 0, JSON.stringify(b.out) + b.stderr);
    assert.deepEqual(b.out.dns, { nameservers: [gw] });
    const ipB = b.out.ips[0]?.address.split('/')[0] ?? '';
    daemon = await startDaemon(L.h);
    assert.equal(await waitResolves(sbB, gw, 'web-b', ipB), ipB, 'the restarted daemon resolves a sandbox added while it was down');
    assert.equal(await getent('dnsctr', 'web-b'), `${ipB}       web-b`, 'resolved by its first alias');
    assert.equal(await resolveFrom(sbB, gw, 'other-b'), ipB, 'and by its other aliases');
    assert.equal(await resolveFrom(sbB, gw, 'web-a'), ipA, 'sandboxes resolve each other');
    assert.equal(await resolveFrom(sbB, gw, 'dnsctr'), ctrIp);

    // network inspect names each sandbox as the runtime does
    const inspect = await L.h.berthJson<{ Containers: Record<string, { Name: string }> }[]>(['network', 'inspect', 'caps', '--format', 'json']);
    assert.equal(inspect[0]?.Containers['dnsa-id']?.Name, 'web-a', 'inspect names the sandbox by K8S_POD_NAME');
    assert.equal(inspect[0]?.Containers['dnsb-id']?.Name, 'web-b', 'or by its first alias');
    const topoReply = await api(daemon.sock, 'GET', '/topology');
    assert.equal(topoReply.status, 200, topoReply.text);
    const topo = JSON.parse(topoReply.text) as { nodes: { id: string; kind: string; label: string }[] };
    assert.ok(topo.nodes.some((n) => n.id === 'ns/dnsa-id' && n.kind === 'namespace' && n.label === 'web-a'), 'the topology draws the sandbox under its name');
    assert.ok(topo.nodes.some((n) => n.id === 'ns/dnsa-id/eth0'), 'with its interface');

    // the default bridge has no embedded DNS (as in Docker): the runtime's servers
    const sbC = await L.lab.createExternal('dnsc');
    const c = await call('ADD', envOf('dnsc-id', sbC), { cniVersion: '1.0.0', name: 'lab', type: 'berth', runtimeConfig: rc });
    assert.deepEqual(c.out.dns, { nameservers: ['10.200.0.2'], search: ['lab.example'], options: ['ndots:2'] });

    for (const [id, sb, net] of [['dnsa-id', sbA, 'caps'], ['dnsb-id', sbB, 'caps'], ['dnsc-id', sbC, 'bridge']] as const) {
      assert.equal((await call('DEL', envOf(id, sb), { cniVersion: '1.0.0', name: 'x', type: 'berth', network: net })).status, 0);
    }
    const script = "const d=require('dns');const r=new d.Resolver({timeout:1500,tries:1});r.setServers([process.argv[1]]);r.resolve4('web-a',(e,a)=>{console.log(e?'ERR '+e.code:a.join(','))})";
    const gone = await L.h.berth(['exec', 'dnsctr', '--', NODE, '-e', script, gw], { timeoutMs: 30_000 });
    assert.match(gone.stdout, /^ERR/, `a deleted sandbox is no longer resolved: ${gone.stdout}`);
    await L.h.berthOk(['rm', '-f', 'dnsctr']);
  });

  test('the daemon\'s socket in the conf, the netns across mount namespaces: a plugin with nothing but CNI_* variables and a netns only it sees is served by the daemon', T, async () => {
    const sock = join(L.h.runDir, 'cni-api.sock');
    await stopDaemon(daemon);
    daemon = await startDaemon(L.h, { args: ['--api', `unix://${sock}`] });
    const sb = await L.lab.createExternal('scrub');
    const dir = join(L.h.runDir, 'runtime-private');
    await L.h.exec(['mkdir', '-p', dir], { check: true });
    // a runtime that scrubs the environment, in its own mount namespace (as podman) where the
    // netns is bind-mounted on a private tmpfs and /var/lib is empty: had the call run in-process
    // on the default location, its store would vanish with it
    const runtime = [
      "const {spawnSync}=require('child_process');const fs=require('fs');const [plugin,conf,ns,dir]=process.argv.slice(1);",
      "const ok=(a)=>{if(spawnSync(a[0],a.slice(1),{stdio:'inherit'}).status!==0)process.exit(90)};",
      "ok(['mount','-t','tmpfs','tmpfs','/var/lib']);ok(['mount','-t','tmpfs','tmpfs',dir]);fs.writeFileSync(dir+'/ns','');ok(['mount','--bind',ns,dir+'/ns']);",
      "for(const cmd of ['ADD','CHECK','DEL']){const r=spawnSync(plugin,[],{input:conf,env:{CNI_COMMAND:cmd,CNI_CONTAINERID:'scrub-id',CNI_NETNS:dir+'/ns',CNI_IFNAME:'eth0',CNI_PATH:'/opt/cni/bin',CNI_ARGS:'K8S_POD_NAME=scrubbed'}});",
      "process.stdout.write(cmd+' '+r.status+' '+r.stdout.toString().trim()+'\\n');if(cmd==='ADD'){process.stdout.write('PAUSE\\n');spawnSync('sleep',['1.5'])}}",
    ].join('');
    const conf = { cniVersion: '1.0.0', name: 'caps', type: 'berth', network: 'caps', berthSocket: sock };
    const run = L.h.exec(['unshare', '-m', '--propagation', 'private', NODE, '-e', runtime, join(REPO_ROOT, 'dist', 'berth-cni'), JSON.stringify(conf), sb.netnsPath, dir], { timeoutMs: 60_000 });
    // while the runtime pauses after ADD: the attachment is in the daemon's store
    let seen: Record<string, { Name: string }> = {};
    for (let i = 0; i < 30 && !seen['scrub-id']; i++) {
      seen = (await L.h.berthJson<{ Containers: Record<string, { Name: string }> }[]>(['network', 'inspect', 'caps', '--format', 'json']))[0]?.Containers ?? {};
      if (!seen['scrub-id']) await new Promise((r) => setTimeout(r, 100));
    }
    const r = await run;
    assert.match(r.stdout, /^ADD 0 \{/m, r.stdout + r.stderr);
    assert.equal(seen['scrub-id']?.Name, 'scrubbed', `the daemon's store holds the sandbox: ${r.stdout}`);
    assert.match(r.stdout, /^CHECK 0/m, r.stdout + r.stderr);
    assert.match(r.stdout, /^DEL 0/m, r.stdout + r.stderr);
    const after = await L.h.berthJson<{ Containers: Record<string, unknown> }[]>(['network', 'inspect', 'caps', '--format', 'json']);
    assert.equal(after[0]?.Containers['scrub-id'], undefined, 'DEL released it');
    assert.doesNotMatch((await runIn(sb, ['ip', '-o', 'link', 'show'])).stdout, /eth0/);
  });

  test('a conf-level bandwidth (the reference plugin\'s keys), through the daemon: shaped, and DEL removes it', T, async () => {
    daemon ??= await startDaemon(L.h);
    const sb = await L.lab.createExternal('bwconf');
    const conf = { cniVersion: '1.0.0', name: 'caps', type: 'berth', network: 'caps', bandwidth: { ingressRate: 2_000_000, ingressBurst: 100_000, egressRate: 1_000_000, egressBurst: 100_000 } };
    const native = [join(REPO_ROOT, 'dist', 'berth-cni')];
    const add = await call('ADD', envOf('bwconf', sb), conf, native);
    assert.equal(add.status, 0, JSON.stringify(add.out) + add.stderr);
    const hostEnd = add.out.interfaces.find((i) => !i.sandbox)?.name ?? '';
    const ifb = `ifb${hostEnd.replace(/^veth/, '')}`;
    const onVeth = (await L.h.exec(['tc', 'qdisc', 'show', 'dev', hostEnd])).stdout;
    assert.match(onVeth, /tbf .*rate 2Mbit/, onVeth);
    assert.match((await L.h.exec(['tc', 'qdisc', 'show', 'dev', ifb])).stdout, /tbf .*rate 1Mbit/);
    assert.equal((await call('DEL', envOf('bwconf', sb), conf, native)).status, 0);
    assert.equal((await L.h.exec(['ip', 'link', 'show', ifb])).code, 1, 'DEL removed the ifb');
  });

  test('podman\'s way: one --ip and --mac-address in CNI_ARGS, aliases keyed by network name', T, async () => {
    daemon ??= await startDaemon(L.h);
    const sb = await L.lab.createExternal('podman');
    const peer = await L.lab.createExternal('podpeer');
    const conf = { cniVersion: '1.0.0', name: 'caps', type: 'berth', network: 'caps', runtimeConfig: { aliases: { caps: ['svc-p'], othernet: ['not-here'] } } };
    const env = { ...envOf('podman-id', sb), CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=ctr-p;MAC=02:00:00:79:00:77;IP=10.79.0.77' };
    const bad = await call('ADD', { ...env, CNI_ARGS: 'IgnoreUnknown=1;IP=10.79.0.300' }, conf);
    assert.equal(bad.out.code, 4, JSON.stringify(bad.out));
    assert.match(bad.out.msg ?? '', /10\.79\.0\.300/);
    const add = await call('ADD', env, conf, [join(REPO_ROOT, 'dist', 'berth-cni')]);
    assert.equal(add.status, 0, JSON.stringify(add.out) + add.stderr);
    assert.equal(add.out.ips[0]?.address, '10.79.0.77/24', 'the address podman asked for in CNI_ARGS');
    assert.match((await runIn(sb, ['ip', '-o', 'link', 'show', 'eth0'])).stdout, /02:00:00:79:00:77/, 'and its MAC');
    const p = await call('ADD', envOf('podpeer-id', peer), { cniVersion: '1.0.0', name: 'caps', type: 'berth', network: 'caps' });
    assert.equal(p.status, 0, JSON.stringify(p.out));
    assert.ok(await peer.ping('10.79.0.77', { count: 1 }), 'a peer on the network reaches it there');
    const gw = add.out.ips[0]?.gateway ?? '';
    const script = "const d=require('dns');const r=new d.Resolver({timeout:1500,tries:2});r.setServers([process.argv[1]]);r.resolve4(process.argv[2],(e,a)=>{console.log(e?'ERR '+e.code:a.join(','))})";
    const resolve = async (name: string) => {
      let got = '';
      for (const end = Date.now() + 15_000; Date.now() < end && got !== '10.79.0.77'; ) got = (await runIn(peer, [NODE, '-e', script, gw, name], { timeoutMs: 30_000 })).stdout.trim();
      return got;
    };
    assert.equal(await resolve('ctr-p'), '10.79.0.77', 'the peer resolves it by its container name (K8S_POD_NAME)');
    assert.equal(await resolve('svc-p'), '10.79.0.77', 'and by its alias on this network');
    for (const [id, s] of [['podman-id', sb], ['podpeer-id', peer]] as const) assert.equal((await call('DEL', envOf(id, s), conf)).status, 0);
  });
});
