// Overlay networks end to end (issue 7): three lab hosts on one switch (the underlay), a real
// 3-member etcd cluster on them, and a `berth daemon --cluster-store … --advertise-addr …` per
// host; berth commands go through the thin client to each host's daemon. Containers on one
// overlay on every host ping, TCP-connect and resolve each other across hosts; egress goes
// through the gateway bridge; the underlay carries VXLAN; concurrent attaches never share an
// address; etcd losing one member, then all, and a host daemon dying and coming back.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BERTH_BIN, type BackgroundProcess, type External, type Host, Lab, startEtcdCluster } from '../lab/index.js';
import { type Daemon, api, assertApiError } from './daemon-helpers.js';
import { ADDR, LOOKUP, TTL, cli, cliOk, runDetached, startHostDaemon, until } from './overlay-helpers.js';
import { NODE, TCP_SERVER, assertFails, ctrNet, ipOf, pingFrom, probeFrom, sleep, waitForLog } from './helpers.js';

const SUBNET = '10.123.0.0/24';
const EXT = '10.98.0.100';

/** FDB entries with a remote VTEP on the overlay's VXLAN device of h. */
async function remoteFdb(h: Host, networkId: string): Promise<string[]> {
  const r = await h.exec(['bridge', 'fdb', 'show', 'dev', `vx-${networkId.slice(0, 12)}`]);
  return r.stdout.split('\n').filter((l) => / dst /.test(l));
}

test('overlay networks across three hosts', { timeout: 240_000 }, async (t) => {
  const lab = await Lab.create({ label: 'overlay' });
  const daemons: (Daemon | undefined)[] = [];
  let extServer: BackgroundProcess | undefined;
  try {
    const sw = await lab.createSwitch('under');
    const hosts: Host[] = [];
    for (const name of ['a', 'b', 'c']) hosts.push(await lab.createHost(name));
    for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: `${ADDR(i)}/24` });
    const ext: External = await lab.createExternal('ext');
    await sw.plug(ext, { ifname: 'eth0', address: `${EXT}/24` });
    const etcd = await startEtcdCluster(lab, hosts);
    for (const [i, h] of hosts.entries()) daemons[i] = await startHostDaemon(h, etcd, i);
    const [a, b, c] = hosts as [Host, Host, Host];
    let netId = '';
    const ns: Record<string, string> = {};
    const ip: Record<string, string> = {};

    await t.test('a daemonless CLI refuses overlay networks and says what is needed', async () => {
      const r = await a.exec([NODE, BERTH_BIN, 'network', 'create', '-d', 'overlay', 'nope']);
      assertFails(r, 1, 'overlay networks need a daemon joined to a cluster (berth daemon --cluster-store');
    });

    await t.test('bad options change nothing', async () => {
      assertFails(await cli(a, ['network', 'create', '-d', 'overlay', '-o', 'vni=12', 'bad1']), 1, '-o vni', '4096');
      assertFails(await cli(a, ['network', 'create', '-d', 'overlay', '-o', 'colour=blue', 'bad2']), 1, 'unknown overlay option "colour"');
      // issue 11 item 6: the underlay's own subnet, and special-purpose blocks
      assertFails(await cli(a, ['network', 'create', '-d', 'overlay', '--subnet', '10.98.0.0/24', 'bad3']), 1, '"10.98.0.0/24"', 'eth0');
      assertFails(await cli(a, ['network', 'create', '-d', 'overlay', '--subnet', '127.0.0.0/8', 'bad4']), 1, 'loopback');
      const ls = await cliOk(b, ['network', 'ls']);
      assert.doesNotMatch(ls.stdout, /bad1|bad2|bad3|bad4/);
    });

    await t.test('created on one host, listed on every host (scope swarm)', async () => {
      netId = (await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', SUBNET, '--attachable', 'ov1'])).stdout.trim();
      assert.match(netId, /^[0-9a-f]{64}$/);
      for (const h of hosts) {
        await until(`ov1 listed on ${h.name}`, async () => {
          const nets = JSON.parse((await cliOk(h, ['network', 'ls', '--format', 'json'])).stdout) as { Name: string; Driver: string; Scope: string }[];
          return nets.some((n) => n.Name === 'ov1' && n.Driver === 'overlay' && n.Scope === 'swarm');
        });
      }
      const [info] = JSON.parse((await cliOk(c, ['network', 'inspect', 'ov1'])).stdout) as { Options: Record<string, string> }[];
      assert.ok(Number(info?.Options['com.docker.network.driver.overlay.vxlanid_list']) >= 4096, 'VNI from 4096 up');
      // MTU: underlay 1500 - 50
      const vx = await b.execOk(['ip', '-d', 'link', 'show', `vx-${netId.slice(0, 12)}`]);
      assert.match(vx.stdout, /mtu 1450/);
      assert.match(vx.stdout, /vxlan id \d+ .*local 10\.98\.0\.2 .*dstport 4789 .*nolearning/s);
    });

    await t.test('containers on each host ping, TCP-connect and resolve each other', async () => {
      for (const [i, h] of hosts.entries()) {
        const name = `c${'abc'[i]}`;
        const id = await runDetached(h, ['--name', name, '--network', 'ov1', '-p', `${8000 + i}:7000`, '--', NODE, '-e', TCP_SERVER, '7000']);
        await waitForLog(h, id, /listening 7000/);
        ns[name] = await ctrNet(h, name);
        ip[name] = await ipOf(ns[name]);
      }
      assert.equal(new Set(Object.values(ip)).size, 3, `distinct addresses: ${JSON.stringify(ip)}`);
      for (const [from, to] of [['ca', 'cb'], ['cb', 'cc'], ['cc', 'ca']] as const) {
        await until(`${from} pings ${to} (${ip[to]})`, () => pingFrom(ns[from] as string, ip[to] as string), 10_000);
        const probe = await probeFrom(ns[from] as string, 'tcp', ip[to] as string, 7000);
        assert.equal(probe.ok, true, `${from} -> ${to}:7000 over the overlay: ${probe.output}`);
        assert.match(probe.output, new RegExp(`peer=${ip[from]}`), 'no NAT inside the overlay');
      }
      for (const [h, from, to] of [[a, 'ca', 'cc'], [c, 'cc', 'cb']] as const) {
        const r = await h.exec([NODE, BERTH_BIN, 'exec', from, '--', NODE, '-e', LOOKUP, to], { timeoutMs: 15_000 });
        let log = daemons[hosts.indexOf(h)]?.proc.stderr() ?? '';
        if (r.stdout.trim() !== `addr ${ip[to]}`) {
          const rc = await h.exec([NODE, BERTH_BIN, 'exec', from, '--', 'cat', '/etc/resolv.conf']);
          const q = await h.exec([NODE, BERTH_BIN, 'exec', from, '--', NODE, '-e', "const r=new (require('dns').Resolver)();r.setServers([process.argv[1]]);r.resolve4(process.argv[2],(e,a)=>console.log(e?e.code:a))", '10.123.0.1', to]);
          const q2 = await h.exec([NODE, BERTH_BIN, 'exec', from, '--', NODE, '-e', "const r=new (require('dns').Resolver)();r.setServers([process.argv[1]]);r.resolve4(process.argv[2],(e,a)=>console.log(e?e.code:a))", '10.123.0.1', 'ca']);
          const ss = await h.exec(['ss', '-lunp']);
          log += `\nresolv.conf: ${rc.stdout}\nresolve4 ${to}: ${q.stdout}${q.stderr}\nresolve4 ca: ${q2.stdout}\n${ss.stdout}`;
        }
        assert.equal(r.stdout.trim(), `addr ${ip[to]}`, `${from} resolves ${to} on another host: ${r.stdout}${r.stderr}\n${log}`);
      }
    });

    await t.test('an overlay made without --attachable refuses berth run and network connect, naming the flag (Docker)', async () => {
      await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', '10.123.9.0/24', 'ovn']);
      await until('ovn listed on b', async () => (await cli(b, ['network', 'inspect', 'ovn'])).code === 0);
      const wanted = ['Could not attach to network "ovn": network "ovn" not manually attachable', '--attachable'];
      assertFails(await cli(b, ['run', '-d', '--name', 'nope', '--network', 'ovn', '--', 'sleep', '60']), 1, ...wanted);
      assertFails(await cli(b, ['network', 'connect', 'ovn', 'cb']), 1, ...wanted);
      const d = daemons[1] as Daemon;
      // Docker's Engine API: 403 Forbidden with {"message": "Could not attach to network …: … not manually attachable"}
      assertApiError(await api(d.sock, 'POST', '/networks/ovn/connect', { Container: 'cb' }), 403, /^Could not attach to network "ovn": network "ovn" not manually attachable: .*--attachable/, 'API connect');
      assertApiError(
        await api(d.sock, 'POST', '/containers/create?name=nope2', { Cmd: ['sleep', '60'], HostConfig: { NetworkMode: 'ovn' } }),
        403, /^Could not attach to network "ovn": network "ovn" not manually attachable/, 'API container create',
      );
      const [info] = JSON.parse((await cliOk(b, ['network', 'inspect', 'ovn'])).stdout) as { Attachable: boolean; Containers: Record<string, unknown> }[];
      assert.equal(info?.Attachable, false);
      assert.deepEqual(info?.Containers, {}, 'nothing attached');
      assert.equal((await cli(b, ['inspect', 'nope'])).code, 1, 'no container left behind');
      assert.equal((await cli(b, ['inspect', 'nope2'])).code, 1, 'no container left behind by the API');
      const [cbInfo] = JSON.parse((await cliOk(b, ['inspect', 'cb'])).stdout) as { NetworkSettings: { Networks: Record<string, unknown> } }[];
      assert.ok(!Object.keys(cbInfo?.NetworkSettings.Networks ?? {}).includes('ovn'), 'cb not on ovn');
      await cliOk(a, ['network', 'rm', 'ovn']);
    });

    await t.test('egress and published ports go through berth_gwbridge', async () => {
      extServer = await ext.spawn([NODE, '-e', TCP_SERVER, '7100']);
      await extServer.waitForOutput(/listening 7100/);
      const probe = await probeFrom(ns.ca as string, 'tcp', EXT, 7100);
      assert.equal(probe.ok, true, `container -> external: ${probe.output}`);
      assert.match(probe.output, new RegExp(`peer=${ADDR(0)}\\b`), 'masqueraded to host a\'s address');
      const route = await a.execOk(['nsenter', `--net=${ns.ca}`, 'ip', '-4', 'route', 'show', 'default']);
      assert.match(route.stdout, /dev eth1/, `the default route is the gateway-bridge leg: ${route.stdout}`);
      const pub = await probeFrom(ext, 'tcp', ADDR(1), 8001);
      assert.equal(pub.ok, true, `published port of cb through host b: ${pub.output}`);
    });

    await t.test('the underlay carries VXLAN (UDP 4789)', async () => {
      const dump = await b.spawn(['tcpdump', '-ni', 'eth0', '-c', '2', 'udp', 'port', '4789']);
      await sleep(500);
      assert.ok(await pingFrom(ns.ca as string, ip.cb as string, 2));
      const end = Date.now() + 5000;
      while (dump.running && Date.now() < end) await sleep(100);
      await dump.kill();
      assert.match(dump.stdout(), /10\.98\.0\.1\.\d+ > 10\.98\.0\.2\.4789: VXLAN/, dump.stdout() + dump.stderr());
    });

    await t.test('30 concurrent attaches on 3 hosts never share an address', async () => {
      const started = Date.now();
      const ids = await Promise.all(
        hosts.map(async (h) => {
          const mine: string[] = [];
          await Promise.all(Array.from({ length: 10 }, async () => mine.push(await runDetached(h, ['--network', 'ov1', '--', 'sleep', '600']))));
          return mine;
        }),
      );
      const took = Date.now() - started;
      const addresses: string[] = [];
      for (const h of hosts) {
        const [info] = JSON.parse((await cliOk(h, ['network', 'inspect', 'ov1'])).stdout) as { Containers: Record<string, { IPv4Address: string }> }[];
        addresses.push(...Object.values(info?.Containers ?? {}).map((x) => x.IPv4Address));
      }
      assert.equal(addresses.length, 33);
      assert.equal(new Set(addresses).size, 33, `duplicates among ${addresses.sort().join(' ')}`);
      t.diagnostic(`30 attaches on 3 hosts: ${took} ms`);
      await Promise.all(hosts.map((h, i) => cliOk(h, ['rm', '-f', ...(ids[i] ?? [])])));
    });

    await t.test('one etcd member down: overlay operations go on', async () => {
      await etcd.stopMember(2);
      const id = await runDetached(c, ['--name', 'cc2', '--network', 'ov1', '--', 'sleep', '600']);
      const addr = await ipOf(await ctrNet(c, id));
      await until('ca pings cc2', () => pingFrom(ns.ca as string, addr), 10_000);
      await cliOk(c, ['rm', '-f', 'cc2']);
      await etcd.startMember(2);
    });

    await t.test('all etcd members down: traffic flows, overlay operations fail clearly, local networks work', async () => {
      await etcd.stopAll();
      assert.ok(await pingFrom(ns.ca as string, ip.cb as string, 2), 'existing cross-host traffic keeps flowing');
      const r = await cli(a, ['run', '--rm', '--network', 'ov1', '--', 'true'], { timeoutMs: 30_000 });
      assertFails(r, 3, 'cluster store unreachable (etcd at');
      await cliOk(a, ['network', 'create', 'local1']);
      const loc = await runDetached(a, ['--name', 'l1', '--network', 'local1', '--', 'sleep', '600']);
      assert.ok(await ipOf(await ctrNet(a, loc)));
      await cliOk(a, ['rm', '-f', 'l1']);
      await cliOk(a, ['network', 'rm', 'local1']);
      await etcd.startMember(0, { wait: false });
      await etcd.startMember(1, { wait: false });
      await etcd.startMember(2);
      // the cluster answers again: overlay operations work
      await until('overlay run works again', async () => (await cli(a, ['run', '--rm', '--network', 'ov1', '--', 'true'], { timeoutMs: 30_000 })).code === 0, 30_000);
      assert.ok(await pingFrom(ns.ca as string, ip.cc as string, 2));
    });

    await t.test('a dead daemon\'s endpoints are dropped after the lease TTL; back when it restarts', async () => {
      daemons[2]?.proc.signal('SIGKILL');
      await daemons[2]?.proc.kill();
      const gone = await until('a drops c\'s endpoints', async () => !(await remoteFdb(a, netId)).some((l) => l.includes(`dst ${ADDR(2)}`)), (TTL + 10) * 1000);
      t.diagnostic(`c's entries gone on a after ${gone} ms (TTL ${TTL} s)`);
      assert.equal(await pingFrom(ns.ca as string, ip.cc as string), false, 'no route to a dead host\'s containers');
      daemons[2] = await startHostDaemon(c, etcd, 2);
      const back = await until('ca pings cc again', () => pingFrom(ns.ca as string, ip.cc as string), 15_000);
      t.diagnostic(`traffic to c resumed ${back} ms after its daemon joined`);
    });

    await t.test('rm is refused while any host has endpoints; removed everywhere after', async () => {
      assertFails(await cli(b, ['network', 'rm', 'ov1']), 1, 'active endpoint');
      for (const [i, h] of hosts.entries()) await cliOk(h, ['rm', '-f', `c${'abc'[i]}`]);
      await cliOk(b, ['network', 'rm', 'ov1']);
      for (const h of hosts) {
        await until(`ov1 gone on ${h.name}`, async () => !(await h.exec(['ip', 'link', 'show', `vx-${netId.slice(0, 12)}`])).stdout.includes('vxlan'));
      }
    });
  } finally {
    await extServer?.kill();
    for (const d of daemons) await d?.proc.kill();
    await lab.close();
  }
});
