// The host's links, addresses and routes kept from rtnetlink notifications (src/kernel/host-watch.ts):
// after any change (veths, bridge ports, aliases, addresses, routes, a link moved away or deleted)
// a read equals a fresh dump (of the default routes: the only ones kept), and only the first read
// dumps links and addresses; routes are dumped again only when a default route may have changed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { addAddress, deleteAddress, listAddresses } from '../../src/kernel/addresses.js';
import { HostWatch, type HostNetState } from '../../src/kernel/host-watch.js';
import * as L from '../../src/kernel/links.js';
import { openNetns, type NetnsHandle } from '../../src/kernel/netns.js';
import { AF_INET, AF_INET6, addRoute, listRoutes } from '../../src/kernel/routes.js';
import { Rtnl } from '../../src/kernel/rtnl.js';
import { Lab, type Host } from '../lab/index.js';

const norm = (s: HostNetState) => ({
  links: [...s.links].sort((a, b) => a.index - b.index),
  addrs: s.addrs.map((a) => `${a.index} ${a.cidr}`).sort(),
  routes: s.routes.map((r) => JSON.stringify(r)).sort(),
});

describe('kernel: host watch', () => {
  let lab: Lab;
  let host: Host;
  let ctr: Host;
  let nl: Rtnl;
  let ctrNs: NetnsHandle;
  let watch: HostWatch;

  const dump = async (): Promise<HostNetState> => ({
    links: await L.listLinks(nl),
    addrs: await listAddresses(nl),
    routes: [...(await listRoutes(nl, AF_INET)), ...(await listRoutes(nl, AF_INET6))].filter((r) => r.dst === 'default'),
  });
  // the kernel finishes some changes on its own a moment later (an IPv6 link-local address when a
  // link comes up): the dump is taken first, then the watch read, again until the two agree
  const same = async (what: string) => {
    for (let i = 0; ; i++) {
      const d = norm(await dump());
      const w = norm(await watch.read());
      if (i === 20 || JSON.stringify(d) === JSON.stringify(w)) return assert.deepEqual(w, d, what);
      await new Promise((r) => setTimeout(r, 50));
    }
  };

  before(async () => {
    lab = await Lab.create({ label: 'kernel host watch' });
    host = await lab.createHost('h');
    ctr = await lab.createHost('c');
    // the kernel announces an IPv6 address only once DAD is done, and DAD waits for a carrier
    // (a bridge with no port up never gets one): without DAD here, every address is announced
    // when added, and the comparison with a dump is exact
    await host.execOk(['sysctl', '-q', '-w', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0']);
    nl = Rtnl.open(host.netnsPath);
    ctrNs = openNetns(ctr.netnsPath);
    watch = new HostWatch(host.netnsPath);
  });
  after(async () => {
    watch?.close();
    nl?.close();
    ctrNs?.close();
    await lab?.close();
  });

  it('reads what a dump reads, after every kind of change, dumping links and addresses once', async () => {
    await same('at the start');
    assert.deepEqual([watch.counts.linkDumps, watch.counts.addressDumps], [1, 1]);
    await L.createBridge(nl, { name: 'brw0', alias: 'berth:network:x' });
    const br = await L.getLink(nl, 'brw0');
    await L.setLinkUp(nl, br.index);
    await addAddress(nl, br.index, '10.77.0.1/24');
    await same('a bridge with an alias and an address');
    for (let i = 0; i < 20; i++) {
      await L.createVeth(nl, { name: `vw${i}`, peerName: `p${i}`, peerNetnsFd: ctrNs.fd, alias: `berth:endpoint:${i}` });
      const v = await L.getLink(nl, `vw${i}`);
      await L.setMaster(nl, v.index, br.index);
      await L.setLinkUp(nl, v.index);
      // a bridge port's own notifications (AF_BRIDGE) must not replace the link's kind or alias
      await L.setBridgePort(nl, v.index, { hairpin: true });
    }
    await same('20 veths on the bridge');
    // their peers up: each port's carrier comes, and the bridge announces the port's new state
    // (AF_BRIDGE messages without the link's kind or alias)
    const peers = Rtnl.open(ctr.netnsPath);
    try {
      for (let i = 0; i < 20; i++) await L.setLinkUp(peers, (await L.getLink(peers, `p${i}`)).index);
    } finally {
      peers.close();
    }
    await same('the ports forwarding');
    await L.setMtu(nl, br.index, 1400);
    await deleteAddress(nl, br.index, '10.77.0.1/24');
    await addAddress(nl, br.index, '10.78.0.1/24');
    await addRoute(nl, { dst: '10.99.0.0/16', gateway: '10.78.0.254' });
    const routeDumps = watch.counts.routeDumps;
    await same('an MTU, an address changed, a route added');
    assert.equal(watch.counts.routeDumps, routeDumps, 'a route that is not a default route is not read again');
    await addRoute(nl, { dst: 'default', gateway: '10.78.0.254' });
    await same('a default route added');
    assert.equal(watch.counts.routeDumps, routeDumps + 1, 'a default route is');
    for (let i = 0; i < 20; i += 2) await L.deleteLink(nl, `vw${i}`);
    const moved = await L.getLink(nl, 'vw1');
    await L.moveLinkToNetns(nl, moved.index, ctrNs.fd);
    await same('links deleted and one moved to another namespace');
    await L.deleteLink(nl, 'brw0');
    await same('the bridge deleted (its address and default route with it)');
    assert.deepEqual([watch.counts.linkDumps, watch.counts.addressDumps], [1, 1], 'no dump after the first read');
    assert.ok(watch.counts.notifications > 40, `${watch.counts.notifications} notifications applied`);
  });

  it('its first read (a dump) while notifications pour in: no broken multipart answer, nothing lost', async () => {
    // the dump once shared the socket with the notifications, and the netlink library's reassembly
    // of its answer failed ("Multipart message not terminated properly")
    const second = new HostWatch(host.netnsPath);
    try {
      const busy = (async () => {
        for (let i = 0; i < 60; i++) await L.createVeth(nl, { name: `vb${i}`, peerName: `q${i}`, peerNetnsFd: ctrNs.fd });
      })();
      for (let i = 0; i < 5; i++) {
        await second.read();
        await new Promise((r) => setTimeout(r, 5));
      }
      await busy;
      const d = norm(await dump());
      assert.deepEqual(norm(await second.read()), d);
      assert.equal(second.counts.linkDumps, 1);
    } finally {
      second.close();
    }
  });
});
