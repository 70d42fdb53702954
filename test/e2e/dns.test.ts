// The daemon's embedded DNS, with real queries from containers (getent, and a node resolver for
// the load test): names, aliases, AAAA, short ids, cross-network invisibility, internal
// networks, forwarding to a fake upstream resolver inside the lab, NXDOMAIN.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { BackgroundProcess } from '../lab/index.js';
import { REPO_ROOT } from '../lab/index.js';
import { basicLab, EXT_ADDR, NODE, removeQuietly, runDetached, sleep, type BasicLab } from './helpers.js';

// A fake upstream resolver for the lab's external peer: upstream.test A 192.0.2.77, else NXDOMAIN.
const UPSTREAM = `
const dgram=require('dgram');const p=require(${JSON.stringify(join(REPO_ROOT, 'node_modules', 'dns-packet'))});
const s=dgram.createSocket('udp4');
s.on('message',(m,r)=>{const q=p.decode(m);const name=(q.questions[0]||{}).name;
 const known=name==='upstream.test';
 const a=p.encode({id:q.id,type:'response',flags:p.RECURSION_DESIRED|p.RECURSION_AVAILABLE|(known?0:3),questions:q.questions,
   answers:known&&q.questions[0].type==='A'?[{name,type:'A',ttl:60,data:'192.0.2.77'}]:[]});
 s.send(a,r.port,r.address);});
s.bind(53,'0.0.0.0',()=>console.log('upstream ready'));`;

// In a container: resolve NAME N times through the system resolver, print qps and failures.
const LOAD = `
const dns=require('dns');const [name,n]=process.argv.slice(1);const total=Number(n);let ok=0,bad=0,inflight=0,sent=0;const t0=Date.now();const lat=[];
function one(){if(sent>=total)return;sent++;inflight++;const t=process.hrtime.bigint();
 dns.lookup(name,{family:4},(e)=>{inflight--;lat.push(Number(process.hrtime.bigint()-t)/1e6);e?bad++:ok++;
  if(ok+bad===total){lat.sort((a,b)=>a-b);console.log(JSON.stringify({ok,bad,qps:Math.round(total/((Date.now()-t0)/1000)),p99:lat[Math.floor(lat.length*0.99)]}));}else one();});}
for(let i=0;i<16;i++)one();`;

describe('embedded DNS (daemon)', () => {
  let env: BasicLab;
  let daemon: BackgroundProcess;
  let upstream: BackgroundProcess;
  const ids: Record<string, string> = {};

  const getent = async (ctrArgs: string[], ...query: string[]) => {
    const r = await env.h.berth(['run', '--rm', ...ctrArgs, '--', 'getent', ...query], { timeoutMs: 30_000 });
    return { code: r.code, out: r.stdout.trim() };
  };

  const waitForListener = async (address: string) => {
    for (let i = 0; i < 100; i++) {
      const r = await env.h.exec(['ss', '-Hlun', 'src', `${address}:53`]);
      if (r.stdout.trim()) return;
      await sleep(100);
    }
    throw new Error(`the daemon does not listen on ${address}:53`);
  };

  before(async () => {
    env = await basicLab('dns');
    upstream = await env.ext.spawn([NODE, '-e', UPSTREAM]);
    await upstream.waitForOutput('upstream ready');
    daemon = await env.h.spawnBerth(['daemon']);
    const sock = join(env.h.runDir, 'berth.sock');
    for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(50);
    await env.h.berthOk(['network', 'create', '--ipv6', '--subnet', '10.61.0.0/24', '--subnet', 'fd00:61::/64', 'n1']);
    await env.h.berthOk(['network', 'create', '--subnet', '10.62.0.0/24', 'n2']);
    await env.h.berthOk(['network', 'create', '--internal', '--subnet', '10.63.0.0/24', 'n3']);
    // the daemon follows the store by polling: wait until it listens on each new gateway
    for (const gw of ['10.61.0.1', '10.62.0.1', '10.63.0.1']) await waitForListener(gw);
    ids.web = await runDetached(env.h, ['--name', 'web', '--network', 'n1', '--network-alias', 'www', '--', 'sleep', '300']);
    ids.web2 = await runDetached(env.h, ['--name', 'web2', '--network', 'n1', '--network-alias', 'www', '--', 'sleep', '300']);
    ids.other = await runDetached(env.h, ['--name', 'other', '--network', 'n2', '--', 'sleep', '300']);
    ids.inner = await runDetached(env.h, ['--name', 'inner', '--network', 'n3', '--', 'sleep', '300']);
  });

  after(async () => {
    if (env) await removeQuietly(env.h, 'web', 'web2', 'other', 'inner');
    await daemon?.kill();
    await upstream?.kill();
    await env?.lab.close();
  });

  it('points containers on user-defined networks at the gateway, with ndots:0', async () => {
    const r = await env.h.berthOk(['run', '--rm', '--network', 'n1', '--', 'cat', '/etc/resolv.conf']);
    assert.match(r.stdout, /^nameserver 10\.61\.0\.1$/m);
    assert.match(r.stdout, /^options ndots:0$/m);
  });

  it('resolves container names to IPv4 and IPv6 (A and AAAA)', async () => {
    const v4 = await getent(['--network', 'n1'], 'ahostsv4', 'web');
    assert.equal(v4.code, 0, v4.out);
    assert.match(v4.out, /^10\.61\.0\.\d+\s/m);
    const v6 = await getent(['--network', 'n1'], 'ahostsv6', 'web');
    assert.equal(v6.code, 0, v6.out);
    assert.match(v6.out, /^fd00:61::[0-9a-f]+\s/m);
  });

  it('answers an alias with every container that has it, rotating the order', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await getent(['--network', 'n1'], 'ahostsv4', 'www');
      assert.equal(r.code, 0, r.out);
      const addrs = [...new Set(r.out.split('\n').map((l) => l.split(/\s+/)[0]))];
      assert.equal(addrs.length, 2, r.out);
      seen.add(addrs.join(','));
    }
    assert.ok(seen.size >= 2, `round robin: saw only ${[...seen].join(' | ')}`);
  });

  it('resolves a container by its short id', async () => {
    const r = await getent(['--network', 'n1'], 'ahostsv4', (ids.web ?? '').slice(0, 12));
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^10\.61\.0\.\d+/);
  });

  it('does not resolve names of networks the asker is not on', async () => {
    const r = await getent(['--network', 'n2', '--dns', EXT_ADDR], 'hosts', 'web');
    assert.notEqual(r.code, 0, r.out);
    const ok = await getent(['--network', 'n2'], 'hosts', 'other');
    assert.equal(ok.code, 0, ok.out);
  });

  it('forwards other names to the upstream (--dns), which answers or says NXDOMAIN', async () => {
    const r = await getent(['--network', 'n1', '--dns', EXT_ADDR], 'hosts', 'upstream.test');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /^192\.0\.2\.77\s/);
    const nx = await getent(['--network', 'n1', '--dns', EXT_ADDR], 'hosts', 'nosuch.test');
    assert.equal(nx.code, 2, 'getent: key not found');
  });

  it('on an internal network resolves only internal names, never forwarding', async () => {
    const own = await getent(['--network', 'n3', '--dns', EXT_ADDR], 'hosts', 'inner');
    assert.equal(own.code, 0, own.out);
    const out = await getent(['--network', 'n3', '--dns', EXT_ADDR], 'hosts', 'upstream.test');
    assert.notEqual(out.code, 0, out.out);
  });

  it('keeps answering under load (2000 lookups from a container)', async () => {
    const r = await env.h.berthOk(['run', '--rm', '--network', 'n1', '--', NODE, '-e', LOAD, 'web', '2000'], { timeoutMs: 60_000 });
    const res = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { ok: number; bad: number; qps: number; p99: number };
    console.log(`  dns load: ${res.ok} ok, ${res.bad} failed, ${res.qps} lookups/s, p99 ${res.p99?.toFixed(2)} ms`);
    assert.equal(res.bad, 0);
    assert.equal(res.ok, 2000);
  });
});
