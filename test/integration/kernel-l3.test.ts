// Addresses, routes, neighbours and FDB entries through the kernel layer, checked with iproute2.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import * as A from '../../src/kernel/addresses.js';
import * as L from '../../src/kernel/links.js';
import * as N from '../../src/kernel/neighbours.js';
import * as R from '../../src/kernel/routes.js';
import { KernelError, Rtnl } from '../../src/kernel/rtnl.js';
import { Lab, addressesOf, fdb, neighs, routes, runIn, type Host } from '../lab/index.js';

describe('kernel: addresses, routes, neighbours, fdb', () => {
  let lab: Lab;
  let host: Host;
  let nl: Rtnl;
  let br: L.LinkInfo;

  before(async () => {
    lab = await Lab.create();
    host = await lab.createHost('h');
    nl = Rtnl.open(host.netnsPath);
    await L.createBridge(nl, { name: 'br0' });
    br = await L.getLink(nl, 'br0');
    await L.setLinkUp(nl, br.index);
  });
  after(async () => {
    nl?.close();
    await lab?.close();
  });

  it('adds, lists and deletes IPv4 and IPv6 addresses', async () => {
    await A.addAddress(nl, br.index, '10.70.0.1/16');
    await A.addAddress(nl, br.index, 'fd00:70::1/64');
    assert.deepEqual((await addressesOf(host, 'br0', 4)).sort(), ['10.70.0.1/16']);
    assert.ok((await addressesOf(host, 'br0', 6)).includes('fd00:70::1/64'));
    const listed = await A.listAddresses(nl, { index: br.index });
    assert.ok(listed.some((a) => a.cidr === '10.70.0.1/16' && a.family === 2));
    assert.ok(listed.some((a) => a.cidr === 'fd00:70::1/64' && a.family === 10));
    await assert.rejects(A.addAddress(nl, br.index, '10.70.0.1/16'), (e: Error) => e instanceof KernelError && e.code === 'EEXIST');
    await assert.rejects(A.addAddress(nl, br.index, '10.70.0.300/16'), (e: Error) => e instanceof UserError && /10\.70\.0\.300/.test(e.message));
    assert.equal(await A.deleteAddress(nl, br.index, 'fd00:70::1/64'), true);
    assert.equal(await A.deleteAddress(nl, br.index, 'fd00:70::1/64'), false);
    assert.ok(!(await addressesOf(host, 'br0', 6)).includes('fd00:70::1/64'));
  });

  it('adds a default route via a gateway, an on-link route and a metric, and deletes them', async () => {
    await R.addRoute(nl, { dst: 'default', gateway: '10.70.0.254' });
    await R.addRoute(nl, { dst: '192.0.2.0/24', gateway: '10.99.9.9', oif: br.index, onlink: true, metric: 50 });
    const v4 = await routes(host, 4);
    const def = v4.find((r) => r.dst === 'default');
    assert.equal(def?.gateway, '10.70.0.254');
    const onl = v4.find((r) => r.dst === '192.0.2.0/24');
    assert.equal(onl?.gateway, '10.99.9.9');
    assert.ok(onl?.flags.includes('onlink'));
    assert.equal(onl?.metric, 50);
    const listed = await R.listRoutes(nl, R.AF_INET);
    assert.ok(listed.some((r) => r.dst === 'default' && r.gateway === '10.70.0.254' && r.oif === br.index));
    assert.ok(listed.some((r) => r.dst === '10.70.0.0/16' && r.gateway === undefined && r.protocol === 'KERNEL'));
    // without onlink, a gateway no address covers is unreachable
    await assert.rejects(R.addRoute(nl, { dst: '198.51.100.0/24', gateway: '10.99.9.9' }), (e: Error) => e instanceof KernelError && e.code === 'ENETUNREACH');
    assert.equal(await R.deleteRoute(nl, { dst: '192.0.2.0/24', gateway: '10.99.9.9', oif: br.index }), true);
    assert.equal(await R.deleteRoute(nl, { dst: '192.0.2.0/24', gateway: '10.99.9.9', oif: br.index }), false);
    assert.equal(await R.deleteRoute(nl, { dst: 'default', gateway: '10.70.0.254' }), true);
    assert.equal((await routes(host, 4)).find((r) => r.dst === 'default' || r.dst === '192.0.2.0/24'), undefined);
  });

  it('handles IPv6 routes and replace', async () => {
    await A.addAddress(nl, br.index, 'fd00:71::1/64');
    await R.addRoute(nl, { dst: 'default', gateway: 'fd00:71::fe' });
    await R.addRoute(nl, { dst: 'default', gateway: 'fd00:71::fd' }, { replace: true });
    const def = (await routes(host, 6)).filter((r) => r.dst === 'default');
    assert.equal(def.length, 1);
    assert.equal(def[0]?.gateway, 'fd00:71::fd');
    await assert.rejects(R.addRoute(nl, { dst: '10.1.0.0/16', gateway: 'fd00:71::fd' }), /same IP family/);
  });

  it('adds permanent neighbours (replacing) and deletes them', async () => {
    await N.addNeighbour(nl, br.index, '10.70.0.9', '02:00:00:00:09:09');
    await N.addNeighbour(nl, br.index, '10.70.0.9', '02:00:00:00:09:0a');
    await N.addNeighbour(nl, br.index, 'fd00:71::9', '02:00:00:00:09:0b');
    const n = await neighs(host);
    const e4 = n.find((x) => x.dst === '10.70.0.9');
    assert.equal(e4?.lladdr, '02:00:00:00:09:0a');
    assert.ok(e4?.state?.includes('PERMANENT'));
    assert.equal(n.find((x) => x.dst === 'fd00:71::9')?.lladdr, '02:00:00:00:09:0b');
    assert.ok((await N.listNeighbours(nl, br.index)).some((x) => x.ip === '10.70.0.9' && x.permanent && x.mac === '02:00:00:00:09:0a'));
    assert.equal(await N.deleteNeighbour(nl, br.index, '10.70.0.9'), true);
    assert.equal(await N.deleteNeighbour(nl, br.index, '10.70.0.9'), false);
  });

  it('adds VXLAN FDB entries pointing at remote VTEPs, and static bridge FDB entries', async () => {
    await L.createVxlan(nl, { name: 'vx0', vni: 5000 });
    const vx = await L.getLink(nl, 'vx0');
    await N.addFdb(nl, vx.index, '02:00:00:00:0a:01', { dst: '10.98.0.2' });
    await N.addFdb(nl, vx.index, '00:00:00:00:00:00', { dst: '10.98.0.3', append: true });
    await N.addFdb(nl, vx.index, '00:00:00:00:00:00', { dst: '10.98.0.4', append: true });
    const f = await fdb(host, { dev: 'vx0' });
    assert.ok(f.some((e) => e.mac === '02:00:00:00:0a:01' && e.dst === '10.98.0.2' && e.state === 'permanent'));
    assert.equal(f.filter((e) => e.mac === '00:00:00:00:00:00').length, 2);
    assert.ok((await N.listFdb(nl, vx.index)).some((e) => e.mac === '02:00:00:00:0a:01' && e.dst === '10.98.0.2' && e.self));
    assert.equal(await N.deleteFdb(nl, vx.index, '02:00:00:00:0a:01', { dst: '10.98.0.2' }), true);
    assert.equal(await N.deleteFdb(nl, vx.index, '02:00:00:00:0a:01', { dst: '10.98.0.2' }), false);

    await L.createVeth(nl, { name: 'vf0', peerName: 'vf0p' });
    const port = await L.getLink(nl, 'vf0');
    await L.setMaster(nl, port.index, br.index);
    await N.addFdb(nl, port.index, '02:00:00:00:0b:01', { master: true });
    assert.ok((await fdb(host, { br: 'br0' })).some((e) => e.mac === '02:00:00:00:0b:01' && e.ifname === 'vf0' && e.master === 'br0'));
    assert.equal(await N.deleteFdb(nl, port.index, '02:00:00:00:0b:01', { master: true }), true);
  });

  it('gratuitous ARP from the process\'s own namespace: a neighbour\'s entry follows, and one packet socket serves every announcement', async () => {
    // a daemon runs in its host's namespace: announced there, its socket is kept (closing one
    // waits for an RCU grace period, 8-22 ms, which blocked the daemon's loop per endpoint)
    const peer = await lab.createHost('p');
    await runIn(host, ['ip', 'link', 'add', 'ga0', 'type', 'veth', 'peer', 'name', 'gb0', 'netns', peer.netnsPath]);
    await runIn(host, ['ip', 'addr', 'add', '10.71.0.1/24', 'dev', 'ga0']);
    await runIn(host, ['ip', 'link', 'set', 'ga0', 'up']);
    await runIn(peer, ['ip', 'addr', 'add', '10.71.0.2/24', 'dev', 'gb0']);
    await runIn(peer, ['ip', 'link', 'set', 'gb0', 'up']);
    await runIn(peer, ['ip', 'neigh', 'replace', '10.71.0.1', 'lladdr', '02:00:00:00:71:99', 'dev', 'gb0', 'nud', 'stale']);
    const mac = (await L.getLink(nl, 'ga0')).mac ?? '';
    const index = (await L.getLink(nl, 'ga0')).index;
    const announce = new URL('../../src/kernel/arp-announce.js', import.meta.url).href;
    const sockets = new URL('../../src/kernel/packet-socket.js', import.meta.url).href;
    const script = `const { announceArp } = await import(${JSON.stringify(announce)}); const { packetSocketsOpened } = await import(${JSON.stringify(sockets)});
      for (let i = 0; i < 5; i++) announceArp(null, ${index}, [{ ip: '10.71.0.1', mac: ${JSON.stringify(mac)} }]);
      console.log(packetSocketsOpened());`;
    const r = await runIn(host, [process.execPath, '--input-type=module', '-e', script]);
    assert.equal(r.stdout.trim(), '1', `packet sockets opened for 5 announcements: ${r.stdout}${r.stderr}`);
    let entry = '';
    for (const end = Date.now() + 3000; Date.now() < end && !entry.includes(mac); await new Promise((res) => setTimeout(res, 50))) {
      entry = (await runIn(peer, ['ip', 'neigh', 'show', '10.71.0.1', 'dev', 'gb0'])).stdout;
    }
    assert.match(entry, new RegExp(`lladdr ${mac}`), 'the peer\'s entry follows the announcement');
  });
});
