// End to end, bridge mode and published ports (issue 3): containers on the default bridge reach
// each other and, masqueraded, the outside; published TCP/UDP ports are reachable from another
// host with the client's real address, from the host itself, from containers (hairpin); a
// loopback-only publish is unreachable from outside, even with a forged packet. One lab for the
// whole file: host h (10.200.0.1) and external ext (10.200.0.2) on one switch. Clients "in a
// container" run in its network namespace (nsenter --net), which is what reachability is about.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { addressesOf, links, routes, sysctl } from '../lab/index.js';
import {
  type BasicLab,
  type BerthTable,
  EXT_ADDR,
  H_ADDR,
  assertFails,
  basicLab,
  berthTable,
  bridgePorts,
  hostState,
  inspect,
  ipOf,
  pingFrom,
  probeFrom,
  probeFromContainer,
  rawSyn,
  removeQuietly,
  runDetached,
  runServer,
  serverArgv,
  tcpMib,
  waitForLog,
} from './helpers.js';

const T = { timeout: 90_000 };

void describe('bridge mode and published ports', () => {
  let L: BasicLab;
  /** containers started below: address and network namespace (/proc/PID/ns/net) */
  const ip: Record<string, string> = {};
  const net: Record<string, string> = {};
  /** berth's table before anything was published, and with one published port */
  let tableNoPorts: BerthTable | undefined;
  let tableOnePort: BerthTable | undefined;

  before(async () => {
    L = await basicLab('e2e bridge');
  });
  after(async () => {
    await L?.lab.close();
  });

  void test('two bridge containers get addresses on berth0 and ping each other', T, async () => {
    const { h } = L;
    const idA = await runDetached(h, ['--name', 'ca', '--', 'sleep', '300']);
    const idB = await runDetached(h, ['--name', 'cb', '--', 'sleep', '300']);
    assert.notEqual(idA, idB);
    tableNoPorts = await berthTable(h);

    // the default network: berth0 with 172.17.0.1/16, forwarding on
    assert.deepEqual(await addressesOf(h, 'berth0', 4), ['172.17.0.1/16']);
    assert.equal(await sysctl(h, 'net.ipv4.ip_forward'), '1');
    const veths = await bridgePorts(h);
    assert.equal(veths.length, 2, 'one veth per container on berth0');
    for (const p of veths) assert.match(p, /^veth[0-9a-f]{7}$/);

    const [a, b] = await h.berthJson<Awaited<ReturnType<typeof inspect>>[]>(['inspect', 'ca', 'cb']);
    assert.ok(a && b);
    assert.equal(a.Id, idA);
    assert.equal(a.State.Status, 'running');
    assert.equal(a.HostConfig.NetworkMode, 'bridge');
    assert.equal(a.NetworkSettings.SandboxKey, `${h.runDir}/netns/${idA}`);
    const na = a.NetworkSettings.Networks.bridge;
    const nb = b.NetworkSettings.Networks.bridge;
    assert.ok(na && nb, 'inspect shows Networks.bridge');
    assert.equal(na.IPAddress, '172.17.0.2');
    assert.equal(nb.IPAddress, '172.17.0.3');
    assert.equal(a.NetworkSettings.IPAddress, na.IPAddress);
    assert.equal(na.IPPrefixLen, 16);
    assert.equal(na.Gateway, '172.17.0.1');
    assert.equal(na.NetworkID, nb.NetworkID);
    assert.match(na.NetworkID, /^[0-9a-f]{64}$/);
    assert.match(na.EndpointID, /^[0-9a-f]{64}$/);
    assert.notEqual(na.EndpointID, nb.EndpointID);

    // what the container itself has: eth0 with that address and MAC, lo up, default via gateway
    net.ca = `/proc/${a.State.Pid}/ns/net`;
    net.cb = `/proc/${b.State.Pid}/ns/net`;
    ip.ca = await ipOf(a.NetworkSettings.SandboxKey);
    ip.cb = await ipOf(net.cb);
    assert.equal(ip.ca, na.IPAddress);
    assert.equal(ip.cb, nb.IPAddress);
    const inner = await links(net.ca);
    assert.deepEqual(inner.map((l) => l.ifname).sort(), ['eth0', 'lo']);
    assert.equal(inner.find((l) => l.ifname === 'eth0')?.address, na.MacAddress);
    assert.ok(inner.find((l) => l.ifname === 'lo')?.flags.includes('UP'), 'lo is up');
    const rt = await routes(net.ca);
    assert.ok(rt.some((r) => r.dst === 'default' && r.gateway === '172.17.0.1' && r.dev === 'eth0'), `default route via the gateway: ${JSON.stringify(rt)}`);

    // real packets, both ways
    assert.equal(await pingFrom(net.ca, ip.cb, 2), true, 'ca pings cb');
    assert.equal(await pingFrom(net.cb, ip.ca, 2), true, 'cb pings ca');
    assert.equal(await pingFrom(net.ca, '172.17.0.99'), false, 'nobody has 172.17.0.99: the check can fail');
    assert.equal(await h.ping(ip.ca), true, 'the host reaches its container');
  });

  void test('traffic leaving the bridge is masqueraded: the outside sees the host address', T, async () => {
    const { h, ext } = L;
    assert.ok(net.ca && net.cb && ip.ca, 'needs the containers of the first test');
    // ext has no route to 172.17.0.0/16: only a masqueraded packet can be answered
    assert.equal(await ext.ping(ip.ca, { timeout: 1 }), false, 'ext has no route to the containers');
    assert.equal(await pingFrom(net.ca, EXT_ADDR), true, 'container pings ext');

    const tcp = await ext.spawn(serverArgv('tcp', 7000, EXT_ADDR));
    const udp = await ext.spawn(serverArgv('udp', 7001, EXT_ADDR));
    try {
      await tcp.waitForOutput('listening');
      await udp.waitForOutput('listening');
      const t = await probeFrom(net.ca, 'tcp', EXT_ADDR, 7000);
      assert.ok(t.ok, `TCP from the container to ext: ${t.output}`);
      assert.equal(t.peer, H_ADDR, 'ext sees the host address, not the container one');
      const u = await probeFrom(net.cb, 'udp', EXT_ADDR, 7001);
      assert.ok(u.ok, `UDP from the container to ext: ${u.output}`);
      assert.equal(u.peer, H_ADDR);
      // and through `berth exec`, in all the container's namespaces
      const viaExec = await probeFromContainer(h, 'ca', 'tcp', EXT_ADDR, 7000);
      assert.equal(viaExec.peer, H_ADDR, `berth exec: ${viaExec.output}`);
    } finally {
      await tcp.kill();
      await udp.kill();
    }
  });

  void test('published TCP and UDP ports are reachable from another host with the real client address', T, async () => {
    const { h, ext } = L;
    const web = await runServer(h, 'web', ['-p', '8080:80'], 'tcp', 80);
    tableOnePort = await berthTable(h);
    await runServer(h, 'dns', ['-p', '5353:53/udp'], 'udp', 53);
    const [iw, id] = await h.berthJson<Awaited<ReturnType<typeof inspect>>[]>(['inspect', 'web', 'dns']);
    assert.ok(iw && id);
    ip.web = iw.NetworkSettings.IPAddress;
    ip.dns = id.NetworkSettings.IPAddress;
    net.web = `/proc/${iw.State.Pid}/ns/net`;
    net.dns = `/proc/${id.State.Pid}/ns/net`;
    assert.deepEqual(iw.NetworkSettings.Ports['80/tcp'], [{ HostIp: '0.0.0.0', HostPort: '8080' }]);
    assert.deepEqual(id.NetworkSettings.Ports['53/udp'], [{ HostIp: '0.0.0.0', HostPort: '5353' }]);
    assert.equal((await h.berthOk(['port', 'web'])).stdout.trim(), '80/tcp -> 0.0.0.0:8080');

    const t = await probeFrom(ext, 'tcp', H_ADDR, 8080);
    assert.ok(t.ok, `ext -> ${H_ADDR}:8080: ${t.output}`);
    assert.equal(t.peer, EXT_ADDR, 'no proxy, no SNAT: the server sees the client address');
    assert.equal(t.local, `${ip.web}:80`);
    await waitForLog(h, web, new RegExp(`peer=${EXT_ADDR.replace(/\./g, '\\.')} `));

    const u = await probeFrom(ext, 'udp', H_ADDR, 5353);
    assert.ok(u.ok, `ext -> ${H_ADDR}:5353/udp: ${u.output}`);
    assert.equal(u.peer, EXT_ADDR);
    assert.equal(u.local, '53');

    // one map element per published port, in berth's own table
    const table = await berthTable(h);
    assert.ok(table.elements.pub4any?.some((e) => e.includes('"tcp",8080') && e.includes(`"${ip.web}",80`)), JSON.stringify(table.elements));
    assert.ok(table.elements.pub4any?.some((e) => e.includes('"udp",5353') && e.includes(`"${ip.dns}",53`)), JSON.stringify(table.elements));
  });

  void test('published ports are reachable from the host itself, via its own address and 127.0.0.1', T, async () => {
    const { h } = L;
    for (const addr of [H_ADDR, '127.0.0.1']) {
      const t = await probeFrom(h, 'tcp', addr, 8080);
      assert.ok(t.ok, `host -> ${addr}:8080: ${t.output}`);
      assert.equal(t.local, `${ip.web}:80`);
      const u = await probeFrom(h, 'udp', addr, 5353);
      assert.ok(u.ok, `host -> ${addr}:5353/udp: ${u.output}`);
    }
    // the output path does not masquerade what the host sends from its own address
    assert.equal((await probeFrom(h, 'tcp', H_ADDR, 8080)).peer, H_ADDR);
  });

  void test('hairpin: a container reaches a peer container published port via the host address', T, async () => {
    assert.ok(net.ca && net.web);
    const peer = await probeFrom(net.ca, 'tcp', H_ADDR, 8080);
    assert.ok(peer.ok, `ca -> ${H_ADDR}:8080: ${peer.output}`);
    assert.equal(peer.local, `${ip.web}:80`);
    const udp = await probeFrom(net.ca, 'udp', H_ADDR, 5353);
    assert.ok(udp.ok, `ca -> ${H_ADDR}:5353/udp: ${udp.output}`);
  });

  void test('hairpin: a container reaches its own published port via the host address', T, async () => {
    // The DNATed packet goes back out of the port it came in by: the container only accepts the
    // answer if it was masqueraded (else it sees a packet from itself, to itself, and drops it).
    // With br_netfilter (bridge-nf-call-iptables=1, every netns here), the bridged packet's
    // postrouting hook has no input interface, so a rule keyed on (iifname, oifname) never matches.
    assert.ok(net.web && net.dns);
    const tcp = await probeFrom(net.web, 'tcp', H_ADDR, 8080);
    assert.ok(tcp.ok, `web -> ${H_ADDR}:8080 (its own port): ${tcp.output}`);
    assert.equal(tcp.local, `${ip.web}:80`);
    assert.notEqual(tcp.peer, ip.web, 'masqueraded: the server does not see a packet from itself');
    const udp = await probeFrom(net.dns, 'udp', H_ADDR, 5353);
    assert.ok(udp.ok, `dns -> ${H_ADDR}:5353/udp (its own port): ${udp.output}`);
  });

  void test('-p 127.0.0.1:9090:90 is reachable on the host loopback only, not from another host', T, async () => {
    const { h, ext } = L;
    assert.ok(net.ca);
    const id = await runServer(h, 'lo9', ['-p', '127.0.0.1:9090:90'], 'tcp', 90);
    const lo9 = await inspect(h, id);
    assert.deepEqual(lo9.NetworkSettings.Ports['90/tcp'], [{ HostIp: '127.0.0.1', HostPort: '9090' }]);

    const fromHost = await probeFrom(h, 'tcp', '127.0.0.1', 9090);
    assert.ok(fromHost.ok, `host -> 127.0.0.1:9090: ${fromHost.output}`);
    assert.equal(fromHost.local, `${lo9.NetworkSettings.IPAddress}:90`);
    // bound to 127.0.0.1: not to the host's other addresses, from anywhere
    const viaHostAddr = await probeFrom(h, 'tcp', H_ADDR, 9090);
    assert.equal(viaHostAddr.ok, false, `host -> ${H_ADDR}:9090 must fail: ${viaHostAddr.output}`);
    const fromExt = await probeFrom(ext, 'tcp', H_ADDR, 9090);
    assert.equal(fromExt.ok, false, `ext -> ${H_ADDR}:9090 must fail: ${fromExt.output}`);
    const fromCtr = await probeFrom(net.ca, 'tcp', H_ADDR, 9090);
    assert.equal(fromCtr.ok, false, `ca -> ${H_ADDR}:9090 must fail: ${fromCtr.output}`);

    // Docker's bug (moby/moby#45610): a neighbour on the host's segment sends a packet
    // addressed to 127.0.0.1 to the host's MAC; DNAT in prerouting runs before the kernel's
    // martian check and forwards it to the container. ext cannot route to 127.0.0.1 through a
    // socket (its own lo owns 127/8, and the kernel never sends a loopback destination out of a
    // NIC), so it sends a hand-made frame (AF_PACKET). A control frame to 10.200.0.1:8080,
    // made the same way, is answered. The forged one must never reach the container's TCP
    // stack: its InSegs counter is the proof (without berth's raw_prerouting drop it moves, even
    // though the container's answer, from 127.0.0.1, is then lost on its way out).
    const hostMac = (await links(h)).find((l) => l.ifname === 'eth0')?.address;
    assert.ok(hostMac, 'h has eth0');
    const control = await rawSyn(ext, 'eth0', hostMac, EXT_ADDR, H_ADDR, 8080);
    assert.ok(control.replied, `a crafted SYN to ${H_ADDR}:8080 is answered (the crafting works): ${control.output}`);
    const sandbox = lo9.NetworkSettings.SandboxKey;
    const mibBefore = await tcpMib(sandbox, h);
    const forged = await rawSyn(ext, 'eth0', hostMac, EXT_ADDR, '127.0.0.1', 9090);
    assert.equal(forged.replied, false, `a forged SYN to 127.0.0.1:9090 must not be answered: ${forged.output}`);
    const mibAfter = await tcpMib(sandbox, h);
    assert.equal(mibAfter.InSegs, mibBefore.InSegs, 'no segment reached the loopback-published container');
    assert.equal(mibAfter.PassiveOpens, mibBefore.PassiveOpens);
  });

  void test('random host ports: -p CTRPORT, and -P with --expose, shown by berth port, and they work', T, async () => {
    const { h, ext } = L;
    const id = await runServer(h, 'rnd', ['-p', '80', '-P', '--expose', '81/udp'], 'tcp', 80);
    const lines = (await h.berthOk(['port', 'rnd'])).stdout.trim().split('\n').sort();
    assert.equal(lines.length, 2, `berth port rnd: ${lines.join('; ')}`);
    const m = /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(lines[0] ?? '');
    assert.ok(m, `berth port rnd: ${lines.join('; ')}`);
    const port = Number(m[1]);
    assert.ok(port >= 1024 && port <= 65535 && port !== 8080, `random host port ${port}`);
    const udp = /^81\/udp -> 0\.0\.0\.0:(\d+)$/.exec(lines[1] ?? '');
    assert.ok(udp, `-P publishes the exposed 81/udp: ${lines.join('; ')}`);
    const i = await inspect(h, id);
    assert.deepEqual(i.NetworkSettings.Ports['80/tcp'], [{ HostIp: '0.0.0.0', HostPort: String(port) }]);
    const t = await probeFrom(ext, 'tcp', H_ADDR, port);
    assert.ok(t.ok, `ext -> ${H_ADDR}:${port}: ${t.output}`);
    assert.equal(t.peer, EXT_ADDR);
    assert.equal(t.local, `${i.NetworkSettings.IPAddress}:80`);
  });

  void test('a port already published is refused and nothing changes', T, async () => {
    const { h, ext } = L;
    const before = await hostState(h);
    const r = await h.berth(['run', '-d', '--name', 'clash', '-p', '8080:80', '--', 'sleep', '300']);
    assertFails(r, 1, '8080');
    assert.deepEqual(await hostState(h), before);
    // the first owner still gets the traffic
    const t = await probeFrom(ext, 'tcp', H_ADDR, 8080);
    assert.equal(t.local, `${ip.web}:80`, t.output);
    // the same port number on another protocol is a different port
    const udp = await runDetached(h, ['--name', 'udp8080', '-p', '8080:80/udp', '--', 'sleep', '300']);
    await h.berthOk(['rm', '-f', udp]);
  });

  void test('a port held by a host process is refused, naming it, and nothing changes', T, async () => {
    const { h } = L;
    const holder = await h.spawn(serverArgv('tcp', 8181));
    try {
      await holder.waitForOutput('listening');
      const before = await hostState(h);
      const r = await h.berth(['run', '-d', '--name', 'held', '-p', '8181:80', '--', 'sleep', '300']);
      assertFails(r, 1, '8181');
      assert.deepEqual(await hostState(h), before);
      // the host process still owns its port
      const t = await probeFrom(h, 'tcp', H_ADDR, 8181);
      assert.ok(t.ok && t.local === `${H_ADDR}:8181`, `host process answers: ${t.output}`);
    } finally {
      await holder.kill();
    }
  });

  void test('published ports are map elements: the rule count is the same with 0, 1 and 5 more ports', T, async (t) => {
    const { h, ext } = L;
    assert.ok(tableNoPorts && tableOnePort, 'needs the tables measured by the earlier tests');
    assert.equal(tableOnePort.rules, tableNoPorts.rules);
    const before = await berthTable(h);
    const ports = [8301, 8302, 8303, 8304, 8305];
    const id = await runServer(h, 'five', ports.flatMap((p) => ['-p', `${p}:80`]), 'tcp', 80);
    t.after(() => removeQuietly(h, id));
    const withFive = await berthTable(h);
    assert.equal(withFive.rules, tableNoPorts.rules, 'no rule per port');
    assert.equal((withFive.elements.pub4any ?? []).length, (before.elements.pub4any ?? []).length + 5, 'one element per port');
    for (const p of ports) {
      const r = await probeFrom(ext, 'tcp', H_ADDR, p);
      assert.ok(r.ok && r.peer === EXT_ADDR, `ext -> ${H_ADDR}:${p}: ${r.output}`);
    }
  });
});
