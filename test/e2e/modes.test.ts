// End to end, the other network modes (issue 3): host (the host's interfaces and ports, -p
// ignored with a warning, the kernel's address-in-use error between two containers),
// container:X (X's interfaces and IP, talking over lo, own hostname and process list; refused
// when X is not running; told and left with lo when X goes), none (only lo, up), and the
// default pool falling back when 172.17.0.0/16 overlaps the host. One lab for the whole file.
import assert from 'node:assert/strict';
import { readlink } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import { addressesOf, links, routes } from '../lab/index.js';
import {
  type BasicLab,
  EXT_ADDR,
  H_ADDR,
  assertFails,
  basicLab,
  berthTable,
  bridgePorts,
  ctrNet,
  hostState,
  type Inspect,
  inspect,
  ipOf,
  probeFrom,
  probeFromContainer,
  runDetached,
  runServer,
  serverArgv,
  waitExited,
} from './helpers.js';

const T = { timeout: 90_000 };

/** Interface names in a network namespace. */
async function linkNames(ns: string): Promise<string[]> {
  return (await links(ns)).map((l) => l.ifname).sort();
}

/** What a container sees of its own UTS, mount and PID namespaces, through one `berth exec`. */
async function ownView(L: BasicLab, ctr: string): Promise<{ hostname: string; etcHostname: string; processes: string[] }> {
  const r = await L.h.berthOk(['exec', ctr, '--', 'sh', '-c', 'hostname; cat /etc/hostname; ps -e -o comm=']);
  const [hostname = '', etcHostname = '', ...processes] = r.stdout.split('\n').map((s) => s.trim()).filter(Boolean);
  return { hostname, etcHostname, processes };
}

void describe('host, container and none modes; default pool fallback', () => {
  let L: BasicLab;
  /** the network namespace of cj (joined to cx) */
  let netCj = '';

  before(async () => {
    L = await basicLab('e2e modes');
  });
  after(async () => {
    await L?.lab.close();
  });

  void test('host mode: the container sees and uses the host interfaces', T, async () => {
    const { h, ext } = L;
    const r = await h.berthOk(['run', '--rm', '--network', 'host', '--', 'ip', '-o', 'link', 'show']);
    const names = r.stdout
      .split('\n')
      .filter(Boolean)
      .map((l) => (l.split(':')[1] ?? '').trim().split('@')[0] ?? '')
      .sort();
    assert.deepEqual(names, (await links(h)).map((l) => l.ifname).sort());
    assert.ok(names.includes('eth0'));
    const addr = await h.berthOk(['run', '--rm', '--network', 'host', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.match(addr.stdout, new RegExp(`inet ${H_ADDR.replace(/\./g, '\\.')}/24`));

    // a server in a host-mode container is on the host's addresses, no publishing needed
    await runServer(h, 'hm1', ['--network', 'host'], 'tcp', 7171);
    const t = await probeFrom(ext, 'tcp', H_ADDR, 7171);
    assert.ok(t.ok, `ext -> ${H_ADDR}:7171: ${t.output}`);
    assert.equal(t.peer, EXT_ADDR);
    assert.equal(t.local, `${H_ADDR}:7171`);
    assert.equal((await inspect(h, 'hm1')).HostConfig.NetworkMode, 'host');
  });

  void test('host mode: a second container binding the same port gets EADDRINUSE', T, async () => {
    const { h } = L;
    assert.equal((await inspect(h, 'hm1')).State.Status, 'running', 'needs hm1 from the previous test');
    const r = await h.berth(['run', '--rm', '--network', 'host', '--', ...serverArgv('tcp', 7171)]);
    assert.match(r.stdout, /error EADDRINUSE/, `the second server cannot bind: ${r.stdout}${r.stderr}`);
    // the first one is undisturbed
    assert.ok((await probeFrom(h, 'tcp', H_ADDR, 7171)).ok);
    await h.berthOk(['rm', '-f', 'hm1']);
    // its exit status is berth run's
    assert.equal(r.code, 1, 'berth run exits with the server status (1)');
  });

  void test('host mode: -p is ignored with a warning', T, async () => {
    const { h } = L;
    const before = await berthTable(h);
    const r = await h.berth(['run', '--rm', '--network', 'host', '-p', '8080:80', '--', 'true']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /WARNING: Published ports are discarded when using host network mode/);
    assert.deepEqual(await berthTable(h), before, 'nothing published');
  });

  void test('container mode: joins the target network namespace and talks over lo', T, async () => {
    const { h, ext } = L;
    const cx = await runServer(h, 'cx', [], 'tcp', 7070, '127.0.0.1');
    const cj = await runDetached(h, ['--name', 'cj', '--network', 'container:cx', '--', 'sleep', '300']);
    const [jx, jj] = await h.berthJson<Inspect[]>(['inspect', 'cx', 'cj']);
    assert.ok(jx && jj);
    assert.equal(jj.Id, cj);
    assert.equal(jj.HostConfig.NetworkMode, `container:${cx}`);
    assert.equal(jj.NetworkSettings.SandboxKey, jx.NetworkSettings.SandboxKey, 'one sandbox');
    assert.equal((await bridgePorts(h)).length, 1, 'one endpoint for the two');

    // same network namespace: same interfaces, same address
    netCj = `/proc/${jj.State.Pid}/ns/net`;
    const netCx = `/proc/${jx.State.Pid}/ns/net`;
    assert.equal(await readlink(netCj), await readlink(netCx), 'cj is in the network namespace of cx');
    assert.deepEqual(await linkNames(netCj), ['eth0', 'lo']);
    const ip = await ipOf(netCj);
    assert.equal(ip, jx.NetworkSettings.IPAddress);

    // a server on 127.0.0.1 in cx answers a client in cj (through berth exec: all cj's namespaces)
    const t = await probeFromContainer(h, 'cj', 'tcp', '127.0.0.1', 7070);
    assert.ok(t.ok, `cj -> 127.0.0.1:7070: ${t.output}`);
    assert.equal(t.local, '127.0.0.1:7070');
    assert.equal(t.peer, '127.0.0.1');
    // and nothing outside the sandbox reaches it
    assert.equal((await probeFrom(h, 'tcp', '127.0.0.1', 7070)).ok, false, 'not on the host loopback');
    assert.equal(await ext.ping(ip, { timeout: 1 }), false);

    // own UTS and PID namespaces
    const vx = await ownView(L, 'cx');
    const vj = await ownView(L, 'cj');
    assert.equal(vx.hostname, cx.slice(0, 12));
    assert.equal(vj.hostname, cj.slice(0, 12));
    assert.equal(vx.etcHostname, vx.hostname);
    assert.equal(vj.etcHostname, vj.hostname);
    assert.ok(vx.processes.includes('node') && !vx.processes.includes('sleep'), `cx processes: ${vx.processes.join(' ')}`);
    assert.ok(vj.processes.includes('sleep') && !vj.processes.includes('node'), `cj processes: ${vj.processes.join(' ')}`);
  });

  void test('container mode: refused when the target is missing, not running, or itself', T, async () => {
    const { h } = L;
    await runDetached(h, ['--name', 'cdead', '--', 'sleep', '300']);
    await h.berthOk(['stop', '-t', '0', 'cdead']);
    const before = await hostState(h);
    assertFails(await h.berth(['run', '--network', 'container:cdead', '--', 'true']), 1, 'cdead', /not running/);
    assertFails(await h.berth(['run', '-d', '--network', 'container:nosuchctr', '--', 'sleep', '1']), 1, 'nosuchctr');
    assertFails(await h.berth(['run', '-d', '--name', 'selfish', '--network', 'container:selfish', '--', 'sleep', '1']), 1, 'selfish');
    assert.deepEqual(await hostState(h), before, 'nothing left behind');
    await h.berthOk(['rm', 'cdead']);
  });

  void test('container mode: when the target is removed, the joiner is told and keeps only lo', T, async () => {
    const { h } = L;
    assert.equal((await inspect(h, 'cj')).State.Status, 'running', 'needs cj from the earlier test');
    await h.berthOk(['rm', '-f', 'cx']);
    const jj = await inspect(h, 'cj');
    assert.equal(jj.State.Status, 'running', 'the joiner keeps running');
    assert.match(jj.State.Error, /cx/, `inspect .State.Error names the target: ${JSON.stringify(jj.State.Error)}`);
    assert.deepEqual(await linkNames(netCj), ['lo']);
    assert.deepEqual(await bridgePorts(h), [], 'the endpoint is gone');
    await h.berthOk(['rm', '-f', 'cj']);
  });

  void test('container mode: when the target stops, the joiner is told and keeps only lo', T, async () => {
    const { h } = L;
    await runDetached(h, ['--name', 'cx2', '--', 'sleep', '300']);
    await runDetached(h, ['--name', 'cj2', '--network', 'container:cx2', '--', 'sleep', '300']);
    const netCj2 = await ctrNet(h, 'cj2');
    assert.deepEqual(await linkNames(netCj2), ['eth0', 'lo']);
    await h.berthOk(['stop', '-t', '0', 'cx2']);
    assert.equal((await waitExited(h, 'cx2')).State.Status, 'exited');
    const jj = await inspect(h, 'cj2');
    assert.match(jj.State.Error, /cx2/, `inspect .State.Error names the target: ${JSON.stringify(jj.State.Error)}`);
    assert.deepEqual(await linkNames(netCj2), ['lo']);
    await h.berthOk(['rm', '-f', 'cj2', 'cx2']);
  });

  void test('none mode: only lo, up', T, async () => {
    const { h } = L;
    const veths = await bridgePorts(h);
    const r = await h.berthOk(['run', '--rm', '--network', 'none', '--', 'ip', '-j', 'addr', 'show']);
    const ls = JSON.parse(r.stdout) as { ifname: string; flags: string[]; addr_info: { local: string }[] }[];
    assert.deepEqual(ls.map((l) => l.ifname), ['lo']);
    assert.ok(ls[0]?.flags.includes('UP'), 'lo is up');
    assert.ok(ls[0]?.addr_info.some((a) => a.local === '127.0.0.1'));
    const lo = await h.berth(['run', '--rm', '--network', 'none', '--', 'ping', '-n', '-c', '1', '-w', '1', '127.0.0.1']);
    assert.match(lo.stdout, /1 packets transmitted, 1 received/, 'lo works');

    const id = await runDetached(h, ['--name', 'nn', '--network', 'none', '--', 'sleep', '300']);
    const i = await inspect(h, 'nn');
    assert.equal(i.HostConfig.NetworkMode, 'none');
    assert.equal(i.NetworkSettings.IPAddress, '');
    assert.deepEqual(i.NetworkSettings.Networks, {});
    assert.equal(i.NetworkSettings.SandboxKey, `${h.runDir}/netns/${id}`);
    assert.deepEqual((await links(i.NetworkSettings.SandboxKey)).map((l) => l.ifname), ['lo']);
    assert.deepEqual(await bridgePorts(h), veths, 'no veth for a none container');
    await h.berthOk(['rm', '-f', 'nn']);
  });

  void test('the default network falls back to 172.18.0.0/16 when the host overlaps 172.17.0.0/16', T, async () => {
    const { lab } = L;
    const sw = await lab.createSwitch('lan2');
    const h2 = await lab.createHost('h2');
    const peer = await lab.createExternal('ext2');
    await sw.plug(h2, { ifname: 'eth0', address: '172.17.5.1/24' });
    await sw.plug(peer, { ifname: 'eth0', address: '172.17.5.2/24' });
    const r = await h2.berthOk(['run', '--rm', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    assert.match(r.stdout, /inet 172\.18\.0\.2\/16/);
    assert.deepEqual(await addressesOf(h2, 'berth0', 4), ['172.18.0.1/16']);
    // the host's own 172.17.5.0/24 is untouched and still works
    assert.ok((await routes(h2)).some((x) => x.dst === '172.17.5.0/24' && x.dev === 'eth0'));
    assert.ok(!(await routes(h2)).some((x) => x.dst === '172.17.0.0/16'));
    assert.equal(await h2.ping('172.17.5.2'), true);
    // and a container there reaches the peer, masqueraded
    const p = await h2.berth(['run', '--rm', '--', 'ping', '-n', '-c', '1', '-w', '3', '172.17.5.2']);
    assert.match(p.stdout, /1 packets transmitted, 1 received/, `a container on h2 pings 172.17.5.2: ${p.stdout}${p.stderr}`);
  });
});
