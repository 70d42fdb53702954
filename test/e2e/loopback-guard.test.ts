// End to end, issue 11 items 2 and 3 and "nothing fails open": the host's loopback and berth's
// published ports. berth never sets route_localnet (a flushed table used to let a container's
// forged SYN reach a service bound to the host's 127.0.0.1); the host's own connections to a
// published port go through berth-init's relay, which binds the port on the host, so a host
// service can no longer bind it afterwards and silently lose its loopback traffic to the
// container; and any berth command puts a deleted nft table back. One lab: host h (10.200.0.1)
// and external ext (10.200.0.2) on one switch; every packet stays in it.
import assert from 'node:assert/strict';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, links, sysctl, writeSysctl } from '../lab/index.js';
import {
  type BasicLab,
  EXT_ADDR,
  H_ADDR,
  NODE,
  RAW_SYN,
  TCP_SERVER,
  UDP_SERVER,
  assertFails,
  basicLab,
  berthTable,
  inspect,
  pingFrom,
  probeFrom,
  removeQuietly,
  runDetached,
  runServer,
} from './helpers.js';

const T = { timeout: 90_000 };

void describe('loopback and published ports: nothing fails open', () => {
  let L: BasicLab;
  const started: string[] = [];

  before(async () => {
    L = await basicLab('e2e loopback');
  });
  after(async () => {
    if (L) await removeQuietly(L.h, ...started);
    await L?.lab.close();
  });

  void test('route_localnet is 0 on berth0, even where an older berth had set it to 1', T, async () => {
    const { h } = L;
    await h.berthOk(['run', '--rm', '--', 'true']);
    assert.equal(await sysctl(h, 'net.ipv4.conf.berth0.route_localnet'), '0');
    await writeSysctl(h, 'net.ipv4.conf.berth0.route_localnet', 1);
    const check = await h.berth(['system', 'check']);
    assert.match(check.stdout, /^network bridge: bridge berth0 routes 127\.0\.0\.0\/8/m, check.stdout);
    assert.equal(await sysctl(h, 'net.ipv4.conf.berth0.route_localnet'), '1', 'check changes nothing');
    await h.berthOk(['system', 'check', '--repair']);
    assert.equal(await sysctl(h, 'net.ipv4.conf.berth0.route_localnet'), '0', '--repair puts it back to 0');
    await writeSysctl(h, 'net.ipv4.conf.berth0.route_localnet', 1);
    await h.berthOk(['run', '--rm', '--', 'true']);
    assert.equal(await sysctl(h, 'net.ipv4.conf.berth0.route_localnet'), '0', 'any use of the network puts it back to 0');
  });

  void test('a published port is held on the host: a host service cannot bind it on 127.0.0.1 later, and 127.0.0.1 reaches the container', T, async () => {
    const { h } = L;
    const id = await runServer(h, 'web', ['-p', '18080:80', '-p', '15353:53/udp'], 'tcp', 80);
    started.push(id);
    const ip = (await inspect(h, id)).NetworkSettings.IPAddress;
    // the UDP server in the same container is not needed: the relay's answer shows the path
    const tcpSvc = await h.spawn([NODE, '-e', TCP_SERVER, '18080', '127.0.0.1']);
    const out = await tcpSvc.waitForOutput(/listening|error \w+/, { timeoutMs: 5000 });
    assert.equal(out, 'error EADDRINUSE', 'a host service binding 127.0.0.1:18080 after the publish must fail, not take the loopback traffic');
    const udpSvc = await h.spawn([NODE, '-e', UDP_SERVER, '15353', '127.0.0.1']);
    assert.equal(await udpSvc.waitForOutput(/listening|error \w+/, { timeoutMs: 5000 }), 'error EADDRINUSE', 'UDP too');

    for (const addr of ['127.0.0.1', H_ADDR]) {
      const t = await probeFrom(h, 'tcp', addr, 18080);
      assert.ok(t.ok, `host -> ${addr}:18080: ${t.output}`);
      assert.equal(t.local, `${ip}:80`, 'the container answers');
    }
    // and from outside it is still NAT (the client's own address), not the relay
    const fromExt = await probeFrom(L.ext, 'tcp', H_ADDR, 18080);
    assert.equal(fromExt.peer, EXT_ADDR, fromExt.output);

    // the container's end frees the port for the host at once
    await h.berthOk(['rm', '-f', id]);
    const again = await h.spawn([NODE, '-e', TCP_SERVER, '18080', '127.0.0.1']);
    assert.equal(await again.waitForOutput(/listening \d+|error \w+/, { timeoutMs: 5000 }), 'listening 18080');
    await again.kill();
  });

  void test('on a dual-stack network the host reaches a published port on ::1 too (no IPv6 DNAT of loopback could)', T, async () => {
    const { h } = L;
    await h.berthOk(['network', 'create', '--ipv6', '--subnet', 'fd00:77::/64', 'lb6']);
    try {
      const id = await runServer(h, 'six', ['--network', 'lb6', '-p', '18120:80'], 'tcp', 80, '::');
      started.push(id);
      const t = await probeFrom(h, 'tcp', '::1', 18120);
      assert.ok(t.ok, `host -> [::1]:18120: ${t.output}`);
      assert.match(t.local ?? '', /^(::ffff:)?fd00:77::/, `the container's IPv6 address answers: ${t.output}`);
      const v4 = await probeFrom(h, 'tcp', '127.0.0.1', 18120);
      assert.ok(v4.ok, `host -> 127.0.0.1:18120: ${v4.output}`);
      await h.berthOk(['rm', '-f', id]);
    } finally {
      await removeQuietly(h, 'six');
      await h.berth(['network', 'rm', 'lb6']);
    }
  });

  void test('a host service that holds 127.0.0.1:P first keeps it: publishing P is refused', T, async () => {
    const { h } = L;
    const svc = await h.spawn([NODE, '-e', TCP_SERVER, '18081', '127.0.0.1']);
    await svc.waitForOutput('listening 18081');
    try {
      const r = await h.berth(['run', '-d', '--name', 'late', '-p', '18081:80', '--', 'sleep', '60']);
      assertFails(r, 1, '18081', 'in use');
      const t = await probeFrom(h, 'tcp', '127.0.0.1', 18081);
      assert.equal(t.peer, '127.0.0.1', `the host service still answers on 127.0.0.1:18081: ${t.output}`);
    } finally {
      await svc.kill();
      await removeQuietly(h, 'late');
    }
  });

  void test('network disconnect lets go of the ports at once: the host can bind them, another container can publish them', T, async () => {
    const { h } = L;
    await h.berthOk(['network', 'create', 'lbn1']);
    try {
      const id = await runServer(h, 'dc', ['--network', 'lbn1', '-p', '18110:80'], 'tcp', 80);
      started.push(id);
      assert.ok((await probeFrom(h, 'tcp', '127.0.0.1', 18110)).ok, 'published while connected');
      await h.berthOk(['network', 'disconnect', 'lbn1', 'dc']);
      const svc = await h.spawn([NODE, '-e', TCP_SERVER, '18110', '127.0.0.1']);
      assert.equal(await svc.waitForOutput(/listening \d+|error \w+/, { timeoutMs: 5000 }), 'listening 18110', 'the relay let go of 127.0.0.1:18110');
      await svc.kill();
      const id2 = await runServer(h, 'dc2', ['-p', '18110:80'], 'tcp', 80);
      started.push(id2);
      const t = await probeFrom(h, 'tcp', '127.0.0.1', 18110);
      assert.equal(t.local, `${(await inspect(h, id2)).NetworkSettings.IPAddress}:80`, `the new container answers: ${t.output}`);
      await h.berthOk(['rm', '-f', id, id2]);
    } finally {
      await removeQuietly(h, 'dc', 'dc2');
      await h.berth(['network', 'rm', 'lbn1']);
    }
  });

  void test('system check finds a CNI port relay whose endpoint is gone; --repair stops it and frees its port', T, async () => {
    const { h } = L;
    const id = 'e'.repeat(64); // no such endpoint
    const dir = join(h.runDir, 'relays', id);
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, 'publish'), 'tcp 127.0.0.1 18130 172.17.0.250 80\n');
    await h.execOk([join(REPO_ROOT, 'dist', 'berth-init'), '--proxy-only', '--publish-file', join(dir, 'publish'), '--pidfile', join(dir, 'pid'), '--detach', '--log', join(dir, 'log')]);
    const pid = Number((await readFile(join(dir, 'pid'), 'utf8')).split('\n')[0]);
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    await writeFile(join(dir, 'start'), stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '');
    try {
      const check = await h.berth(['system', 'check']);
      assert.match(check.stdout, /^port relay eeeeeeeeeeee: its endpoint is gone/m, check.stdout);
      const repair = await h.berth(['system', 'check', '--repair']);
      assert.match(repair.stdout, /^port relay eeeeeeeeeeee: .* -> stopped it/m, repair.stdout);
      const svc = await h.spawn([NODE, '-e', TCP_SERVER, '18130', '127.0.0.1']);
      assert.equal(await svc.waitForOutput(/listening \d+|error \w+/, { timeoutMs: 5000 }), 'listening 18130');
      await svc.kill();
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // stopped by the repair
      }
    }
  });

  void test("with berth's table deleted and no daemon, a container's forged SYN to the host's 127.0.0.1 service gets no answer", T, async () => {
    // a host of its own that never has a daemon (h may have one: BERTH_E2E_VIA=daemon), so
    // nothing puts the table back while the forged packets fly
    const h = await L.lab.createHost('nod');
    const svc = await h.spawn([NODE, '-e', TCP_SERVER, '17777', '127.0.0.1']);
    await svc.waitForOutput('listening 17777');
    const ctl = await h.spawn([NODE, '-e', TCP_SERVER, '17778', '0.0.0.0']);
    await ctl.waitForOutput('listening 17778');
    const id = await runDetached(h, ['--name', 'forger', '--', 'sleep', '300']);
    const i = await inspect(h, id);
    const ctrIp = i.NetworkSettings.IPAddress;
    const gw = i.NetworkSettings.Networks.bridge?.Gateway ?? '172.17.0.1';
    const brMac = (await links(h)).find((l) => l.ifname === 'berth0')?.address;
    assert.ok(brMac, 'berth0 has a MAC');
    // the host knows the container's MAC (a neighbour entry), as after any real traffic
    assert.ok(await pingFrom(h, ctrIp), `h -> ${ctrIp}`);
    const forge = async (dst: string, port: number) => {
      const r = await h.exec(['nsenter', `--net=${i.NetworkSettings.SandboxKey}`, '--', 'python3', '-c', RAW_SYN, 'eth0', brMac, ctrIp, dst, String(port)], {
        timeoutMs: 10_000,
      });
      if (r.code !== 0 && r.code !== 1) throw new Error(`raw SYN sender failed (${r.code}): ${r.stderr}`);
      return { replied: r.code === 0 && /flags=0x12/.test(r.stdout), output: `${r.stdout}${r.stderr}`.trim() };
    };
    await h.execOk(['nft', 'delete', 'table', 'inet', 'berth']);
    try {
      const control = await forge(gw, 17778);
      assert.ok(control.replied, `a crafted SYN to the gateway ${gw}:17778 is answered (the crafting works): ${control.output}`);
      const forged = await forge('127.0.0.1', 17777);
      assert.equal(forged.replied, false, `a forged SYN to 127.0.0.1:17777 must not be answered: ${forged.output}`);
      assert.doesNotMatch(svc.stdout(), /peer=/, 'the host service saw no connection');
    } finally {
      await svc.kill();
      await ctl.kill();
      await removeQuietly(h, id);
    }
  });

  void test("a deleted nft table is put back by any berth command (no daemon), with every network and published port", T, async () => {
    const { h, ext } = L;
    const id = await runServer(h, 'pub', ['-p', '18090:80'], 'tcp', 80);
    started.push(id);
    const before = await berthTable(h);
    assert.ok(before.elements.pub4any?.some((e) => e.includes('18090')), JSON.stringify(before.elements));
    for (const cmd of [['ps'], ['network', 'ls']]) {
      await h.execOk(['nft', 'delete', 'table', 'inet', 'berth']);
      await h.berthOk(cmd);
      const now = await berthTable(h);
      assert.equal(now.rules, before.rules, `berth ${cmd.join(' ')}: the rules are back`);
      assert.deepEqual(now.elements, before.elements, `berth ${cmd.join(' ')}: every element is back`);
      const p = await probeFrom(ext, 'tcp', H_ADDR, 18090);
      assert.equal(p.peer, EXT_ADDR, `ext -> ${H_ADDR}:18090 after berth ${cmd.join(' ')} is DNATed again: ${p.output}`);
    }
  });
});
