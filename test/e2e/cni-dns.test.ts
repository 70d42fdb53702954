// End to end: the runtime's DNS servers (CNI runtimeConfig.dns.servers) become the upstreams of
// the daemon's embedded DNS for that sandbox. A sandbox on a user-defined network, plugged in
// through the daemon, asks the network's resolver (the result's nameserver) for a name only the
// lab's fake upstream knows: answered through the runtime's server, not the host's resolvers
// (which the lab cannot reach: before, this name was not found).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, type External, REPO_ROOT } from '../lab/index.js';
import { startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { basicLab, EXT_ADDR, NODE, type BasicLab } from './helpers.js';

const T = { timeout: 120_000 };

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

/** Ask server for name's A record from inside ns: the addresses, or the error code. */
const LOOKUP = "const r=new (require('dns').promises.Resolver)({timeout:3000,tries:1});r.setServers([process.argv[1]]);r.resolve4(process.argv[2]).then(a=>console.log(a.join(',')),e=>console.log(e.code))";

void describe('berth-cni through the daemon: the runtime DNS servers are the embedded DNS upstreams', () => {
  let L: BasicLab;
  let daemon: Daemon | undefined;
  let upstream: BackgroundProcess | undefined;

  before(async () => {
    L = await basicLab('e2e cni dns');
    upstream = await L.ext.spawn([NODE, '-e', UPSTREAM]);
    await upstream.waitForOutput('upstream ready');
    await L.h.berthOk(['network', 'create', 'apps']);
    daemon = await startDaemon(L.h);
  });
  after(async () => {
    await upstream?.kill();
    await stopDaemon(daemon);
    await L?.lab.close();
  });

  const add = async (sb: External, id: string, servers?: string[]) => {
    const conf = { cniVersion: '1.0.0', name: 'apps', type: 'berth', network: 'apps', ...(servers ? { runtimeConfig: { dns: { servers } } } : {}) };
    const r = await L.h.exec([join(REPO_ROOT, 'dist', 'berth-cni')], {
      input: JSON.stringify(conf),
      env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: id, CNI_NETNS: sb.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' },
    });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const nameservers = (JSON.parse(r.stdout) as { dns?: { nameservers?: string[] } }).dns?.nameservers ?? [];
    assert.equal(nameservers.length, 1, `the result names the network's resolver: ${r.stdout}`);
    return nameservers[0] ?? '';
  };
  const lookup = async (sb: External, server: string, name: string) => (await sb.exec([NODE, '-e', LOOKUP, server, name], { timeoutMs: 15_000 })).stdout.trim();

  void test("a name only the runtime's server knows resolves through the network's resolver", T, async () => {
    const sb = await L.lab.createExternal('sbdns');
    const resolver = await add(sb, 'dns-test-1', [EXT_ADDR]);
    assert.notEqual(resolver, EXT_ADDR, 'the sandbox asks the embedded DNS, not the runtime server directly');
    let got = '';
    // the daemon's DNS follows the store on its next tick
    for (let i = 0; i < 20 && got !== '192.0.2.77'; i++) got = await lookup(sb, resolver, 'upstream.test');
    assert.equal(got, '192.0.2.77');
    assert.equal(await lookup(sb, resolver, 'nosuch.test'), 'ENOTFOUND', "the upstream's NXDOMAIN is passed on");
  });
});
