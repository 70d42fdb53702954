// End to end, the topology's cluster kinds (issue 15) on a real lab: hosts a and b run daemons
// joined to a 3-member etcd (c holds the third member only), an encrypted overlay `sov` with a
// container on each of a and b, a plain overlay `pov`, and on a a macvlan network `mvh` with
// host_access (a shim) on eth1 and a container on it. `berth topology --format json` and GET
// /topology on a show exactly: the VXLAN devices (over WireGuard, over the underlay),
// berth_gwbridge, the WireGuard device, the macvlan parent and shim, and host b with its container
// and address (from the cluster store); the SVG draws them.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Host, Lab, links, startEtcdCluster } from '../lab/index.js';
import type { TopologyGraph, TopologyNode } from '../../src/engine/topology-types.js';
import { api, type Daemon } from './daemon-helpers.js';
import { ADDR, cliOk, runDetached, startHostDaemon, until } from './overlay-helpers.js';

const HA_LAN = '192.168.77.10';

/** The WireGuard device name berth gives host h (wgb- + 8 hex of the sha256 of its cluster host id). */
function wgIfname(h: Host): string {
  const id = readFileSync(join(h.rootDir, 'cluster-host-id'), 'utf8').trim();
  return `wgb-${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

const edgesOf = (g: TopologyGraph): string[] => g.edges.map((e) => `${e.from} ${e.kind} ${e.to}${e.label ? ` [${e.label}]` : ''}`).sort();
const byId = (g: TopologyGraph, id: string): TopologyNode | undefined => g.nodes.find((n) => n.id === id);

test('topology of a cluster host: overlay, WireGuard, gateway bridge, macvlan shim, the other host', { timeout: 120_000 }, async (t) => {
  if (!existsSync('/usr/bin/wireguard-go') && !existsSync('/sys/module/wireguard')) return void t.skip('neither kernel WireGuard nor wireguard-go is available on this machine');
  const lab = await Lab.create({ label: 'e2e topology overlay' });
  const daemons: Daemon[] = [];
  try {
    const sw = await lab.createSwitch('under');
    const lan = await lab.createSwitch('lan');
    const hosts: Host[] = [];
    for (const name of ['a', 'b', 'c']) hosts.push(await lab.createHost(name));
    for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: `${ADDR(i)}/24` });
    const [a, b] = hosts as [Host, Host, Host];
    await lan.plug(a, { ifname: 'eth1', address: `${HA_LAN}/24` });
    const etcd = await startEtcdCluster(lab, hosts);
    daemons.push(await startHostDaemon(a, etcd, 0), await startHostDaemon(b, etcd, 1));

    const netId = (await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', '10.125.0.0/24', '--attachable', '-o', 'encrypted', 'sov'])).stdout.trim();
    const povId = (await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', '10.126.0.0/24', 'pov'])).stdout.trim();
    const mvhId = (await cliOk(a, ['network', 'create', '-d', 'macvlan', '--subnet', '192.168.77.0/24', '--gateway', '192.168.77.1', '--ip-range', '192.168.77.128/28', '-o', 'parent=eth1', '-o', 'host_access=true', 'mvh'])).stdout.trim();
    const ca = await runDetached(a, ['--name', 'ca', '--network', 'sov', '--', 'sleep', '600']);
    const cb = await runDetached(b, ['--name', 'cb', '--network', 'sov', '--', 'sleep', '600']);
    const ma = await runDetached(a, ['--name', 'ma', '--network', 'mvh', '--', 'sleep', '600']);
    const vx = `vx-${netId.slice(0, 12)}`;
    const ov = `ov-${netId.slice(0, 12)}`;
    const [vxP, ovP] = [`vx-${povId.slice(0, 12)}`, `ov-${povId.slice(0, 12)}`];
    await until(`${vxP} made on a`, async () => (await a.exec(['ip', 'link', 'show', vxP])).code === 0);
    const wgA = wgIfname(a);
    const hostB = readFileSync(join(b.rootDir, 'cluster-host-id'), 'utf8').trim();
    // a learns of cb through the cluster store
    await until('a sees cb', async () => {
      const g = JSON.parse((await cliOk(a, ['topology', '--format', 'json', '--no-drift'])).stdout) as TopologyGraph;
      return g.nodes.some((n) => n.id === `remote/${hostB}/${cb}`);
    });

    // the kernel's links on a, which the graph must hold exactly
    const kernel = await links(a);
    const shim = `mh-${mvhId.slice(0, 12)}`;
    const vethOn = (bridge: string) => kernel.filter((l) => l.linkinfo?.info_kind === 'veth' && l.master === bridge).map((l) => l.ifname);
    const [caOv] = vethOn(ov);
    const [caGw] = vethOn('berth_gwbridge');
    assert.ok(caOv && caGw, `a has a veth on ${ov} and on berth_gwbridge: ${kernel.map((l) => l.ifname).join(' ')}`);
    const hostIfs = ['lo', 'eth0', 'eth1', wgA, ov, vx, ovP, vxP, 'berth0', shim, 'berth_gwbridge', caOv, caGw];
    assert.deepEqual(kernel.map((l) => l.ifname).sort(), [...hostIfs].sort(), 'the kernel has exactly these links');
    assert.equal(kernel.find((l) => l.ifname === shim)?.linkinfo?.info_kind, 'macvlan');
    const remoteHost = `remote/${hostB}`;
    const remoteCb = `${remoteHost}/${cb}`;
    const nodes = ['host', ...hostIfs.map((n) => `host/${n}`), ...['sov', 'pov', 'bridge', 'mvh', 'berth_gwbridge'].map((n) => `network/${n}`),
      `ns/${ca}`, `ns/${ca}/eth0`, `ns/${ca}/eth1`, `ns/${ma}`, `ns/${ma}/eth0`, remoteHost, remoteCb].sort();
    const vtepB = byId(JSON.parse((await cliOk(a, ['topology', '--format', 'json', '--no-drift'])).stdout) as TopologyGraph, remoteHost)?.data?.vtep as string;
    const edges = [
      ...hostIfs.map((n) => `host/${n} in host`),
      `host/${caOv} port-of host/${ov}`, `host/${vx} port-of host/${ov}`, `host/${vxP} port-of host/${ovP}`, `host/${caGw} port-of host/berth_gwbridge`,
      `host/${shim} shim-of host/eth1`,
      `host/${vx} tunnel host/${wgA} [VXLAN]`, `host/${wgA} tunnel host/eth0 [WireGuard]`, `host/${vxP} tunnel host/eth0 [VXLAN]`,
      `network/sov attached host/${ov}`, `network/pov attached host/${ovP}`, 'network/bridge attached host/berth0', 'network/mvh attached host/eth1', 'network/berth_gwbridge attached host/berth_gwbridge',
      `ns/${ca}/eth0 in ns/${ca}`, `ns/${ca}/eth0 veth host/${caOv}`, `ns/${ca}/eth1 in ns/${ca}`, `ns/${ca}/eth1 veth host/${caGw}`,
      `ns/${ma}/eth0 in ns/${ma}`, `ns/${ma}/eth0 macvlan host/eth1`,
      `${remoteCb} in ${remoteHost}`, `${remoteCb} remote network/sov [via VTEP ${vtepB}]`,
    ].sort();

    // cb as b has it: the address and MAC a must show for it
    const gb = JSON.parse((await cliOk(b, ['topology', '--format', 'json', '--no-drift'])).stdout) as TopologyGraph;
    const cbAddr = (byId(gb, `ns/${cb}`)?.data?.addresses as string[])[0]?.split('/')[0];
    const cbMac = (byId(gb, `ns/${cb}`)?.data?.macs as string[])[0];
    assert.match(cbAddr ?? '', /^10\.125\.0\.\d+$/);
    const wgAddr = /inet (198\.18\.\d+\.\d+)\//.exec((await a.execOk(['ip', '-o', '-4', 'addr', 'show', 'dev', wgA])).stdout)?.[1];
    const wgAddrB = /inet (198\.18\.\d+\.\d+)\//.exec((await b.execOk(['ip', '-o', '-4', 'addr', 'show', 'dev', wgIfname(b)])).stdout)?.[1];

    const check = (g: TopologyGraph, how: string) => {
      assert.deepEqual(g.nodes.map((n) => n.id).sort(), nodes, `${how}: exactly these nodes`);
      assert.deepEqual(edgesOf(g), edges, `${how}: exactly these edges`);
      assert.deepEqual(g.nodes.filter((n) => n.drift).map((n) => n.id), [], `${how}: no drift in a clean lab`);
      const role = (id: string) => [byId(g, id)?.data?.role, byId(g, id)?.networks];
      assert.deepEqual(role(`host/${vx}`), ['vxlan', ['sov']], 'the VXLAN device, on its overlay');
      assert.deepEqual(role(`host/${wgA}`), ['wireguard', ['sov']], 'the WireGuard device, carrying the encrypted overlay');
      assert.deepEqual(role('host/berth_gwbridge'), ['gateway-bridge', ['berth_gwbridge']]);
      assert.deepEqual(role('host/eth1'), ['macvlan-parent', ['mvh']]);
      assert.deepEqual(role(`host/${shim}`), ['macvlan-shim', ['mvh']]);
      assert.deepEqual(byId(g, 'host/eth0')?.networks?.toSorted(), ['pov', 'sov'], 'the underlay carries the overlays');
      assert.deepEqual(role(`host/${vxP}`), ['vxlan', ['pov']], "a plain overlay's VXLAN device, over the underlay");
      assert.deepEqual((byId(g, `host/${wgA}`)?.data?.addresses as string[]).filter((x) => !x.startsWith('fe80:')), [`${wgAddr}/16`], 'its tunnel address');
      assert.deepEqual(byId(g, remoteHost)?.data, { hostId: hostB, advertiseAddress: ADDR(1), vtep: wgAddrB }, "b's VTEP is its tunnel address");
      assert.equal(byId(g, remoteHost)?.label, `host ${ADDR(1)}`, 'b is labelled by the address it advertises, not its VTEP');
      const r = byId(g, remoteCb);
      assert.deepEqual([r?.label, r?.host, r?.networks, r?.data?.addresses, r?.data?.macs], ['cb', hostB, ['sov'], [cbAddr], [cbMac]]);
      assert.deepEqual(byId(g, `ns/${ca}`)?.networks, ['sov', 'berth_gwbridge']);
    };
    check(JSON.parse((await cliOk(a, ['topology', '--format', 'json'])).stdout) as TopologyGraph, 'berth topology');
    const reply = await api(daemons[0]?.sock ?? '', 'GET', '/topology');
    assert.equal(reply.status, 200);
    check(JSON.parse(reply.text) as TopologyGraph, 'GET /topology');

    // drawn, filtered to the overlay: the tunnel chain, the local container and b with cb
    const svg = (await cliOk(a, ['topology', '--format', 'svg', '--network', 'sov'])).stdout;
    const drawn = [...svg.matchAll(/<g class="node [^"]*" data-id="([^"]+)">/g)].map((m) => m[1] as string).sort();
    assert.deepEqual(drawn, ['host', 'host/eth0', `host/${wgA}`, `host/${ov}`, `host/${vx}`, `ns/${ca}`, remoteHost, remoteCb].sort());
    const lines = [...svg.matchAll(/<g class="edge e-([a-z-]+)" data-from="([^"]+)" data-to="([^"]+)">/g)].map((m) => `${m[2] as string} ${m[1] as string} ${m[3] as string}`).sort();
    assert.deepEqual(lines, [
      'host/eth0 in host', `host/${wgA} in host`, `host/${ov} in host`,
      `host/${vx} port-of host/${ov}`, `host/${vx} tunnel host/${wgA}`, `host/${wgA} tunnel host/eth0`,
      `host/${ov} veth ns/${ca}`, `${remoteCb} in ${remoteHost}`, `${remoteCb} remote host/${ov}`,
    ].sort());
    assert.ok(svg.includes(`${cbAddr}`) && svg.includes('[cluster host]') && svg.includes('[wireguard]') && svg.includes('[vxlan]'), 'the SVG labels them');
    assert.ok(svg.includes(`>host ${ADDR(1)}  [cluster host]<`) && svg.includes(`>VTEP ${wgAddrB}<`), 'b by its advertise address, with its VTEP');
    assert.ok(svg.includes('.edge.e-tunnel path {'), 'tunnel edges have a style of their own');
  } finally {
    for (const d of daemons) await d.proc.kill(5000);
    await lab.close();
  }
});
