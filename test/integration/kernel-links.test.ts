// The kernel layer's link operations, in lab namespaces, checked with iproute2 (an independent tool).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import * as L from '../../src/kernel/links.js';
import { openNetns, type NetnsHandle } from '../../src/kernel/netns.js';
import { KernelError, Rtnl, rtnlRequestCount } from '../../src/kernel/rtnl.js';
import { Lab, link, links, ping, type Host } from '../lab/index.js';

describe('kernel: links', () => {
  let lab: Lab;
  let host: Host;
  let ctr: Host;
  let nl: Rtnl;
  let ctrNs: NetnsHandle;

  before(async () => {
    lab = await Lab.create();
    host = await lab.createHost('h');
    ctr = await lab.createHost('c');
    nl = Rtnl.open(host.netnsPath);
    ctrNs = openNetns(ctr.netnsPath);
  });
  after(async () => {
    nl?.close();
    ctrNs?.close();
    await lab?.close();
  });

  it('creates a veth whose peer is born inside another namespace, with MTU and MACs', async () => {
    await L.createVeth(nl, { name: 'vk1', peerName: 'eth0', peerNetnsFd: ctrNs.fd, mtu: 1400, mac: '02:00:00:00:01:01', peerMac: '02:00:00:00:01:02' });
    const hostSide = await link(host, 'vk1');
    const peer = await link(ctr, 'eth0');
    assert.equal(hostSide?.linkinfo?.info_kind, 'veth');
    assert.equal(hostSide?.mtu, 1400);
    assert.equal(hostSide?.address, '02:00:00:00:01:01');
    assert.equal(peer?.address, '02:00:00:00:01:02');
    assert.equal(peer?.mtu, 1400);
    assert.equal(await link(host, 'eth0'), undefined, 'the peer never existed in the host namespace');
    const found = await L.findLink(nl, 'vk1');
    assert.equal(found?.kind, 'veth');
    assert.equal(found?.mac, '02:00:00:00:01:01');
  });

  it('creates a bridge, attaches a port, brings both up and sets hairpin and isolation', async () => {
    await L.createBridge(nl, { name: 'brk0', mtu: 1400 });
    const br = await L.getLink(nl, 'brk0');
    const port = await L.getLink(nl, 'vk1');
    await L.setMaster(nl, port.index, br.index);
    await L.setLinkUp(nl, br.index);
    await L.setLinkUp(nl, port.index);
    await L.setBridgePort(nl, port.index, { hairpin: true, isolated: true });
    const p = await link(host, 'vk1');
    assert.equal(p?.master, 'brk0');
    assert.ok(p?.flags.includes('UP'));
    assert.equal(p?.linkinfo?.info_slave_kind, 'bridge');
    assert.equal(p?.linkinfo?.info_slave_data?.hairpin, true);
    assert.equal(p?.linkinfo?.info_slave_data?.isolated, true);
    await L.setBridgePort(nl, port.index, { hairpin: false, isolated: false });
    const q = await link(host, 'vk1');
    assert.equal(q?.linkinfo?.info_slave_data?.hairpin, false);
    assert.equal(q?.linkinfo?.info_slave_data?.isolated, false);
    assert.equal((await L.getLink(nl, 'vk1')).master, br.index);
    await L.setMaster(nl, port.index, 0);
    assert.equal((await link(host, 'vk1'))?.master, undefined);
  });

  it('creates a veth as a bridge port in two requests: enslaved, flags, alias, up; the peer in its namespace', async () => {
    const br = await L.getLink(nl, 'brk0');
    const before = rtnlRequestCount();
    await L.createVethPort(nl, { name: 'vkp1', peerName: 'eth7', peerNetnsFd: ctrNs.fd, peerMac: '02:00:00:00:07:07', mtu: 1400, master: br.index, port: { hairpin: true, isolated: true }, alias: 'berth:test:vkp1' });
    assert.equal(rtnlRequestCount() - before, 2, 'the pair with its master, then the port');
    const p = await link(host, 'vkp1');
    assert.equal(p?.master, 'brk0');
    assert.ok(p?.flags.includes('UP'));
    assert.equal(p?.ifalias, 'berth:test:vkp1');
    assert.equal(p?.mtu, 1400);
    assert.equal(p?.linkinfo?.info_slave_data?.hairpin, true);
    assert.equal(p?.linkinfo?.info_slave_data?.isolated, true);
    const peer = await link(ctr, 'eth7');
    assert.equal(peer?.address, '02:00:00:00:07:07');
    assert.ok(!peer?.flags.includes('UP'), 'the peer is left down for its owner');
    // a name already taken: refused, and the link that holds it is not touched
    await assert.rejects(
      L.createVethPort(nl, { name: 'vkp1', peerName: 'eth8', peerNetnsFd: ctrNs.fd, master: br.index, port: { hairpin: true } }),
      (e: Error) => e instanceof KernelError && e.code === 'EEXIST',
    );
    assert.equal((await link(host, 'vkp1'))?.master, 'brk0');
    assert.equal(await link(ctr, 'eth8'), undefined);
    assert.equal(await L.deleteLink(nl, 'vkp1'), true);
    assert.equal(await link(ctr, 'eth7'), undefined);
  });

  it('sets MTU, MAC, down and name', async () => {
    const v = await L.getLink(nl, 'vk1');
    await L.setLinkUp(nl, v.index, false);
    await L.setMtu(nl, v.index, 1300);
    await L.setMac(nl, v.index, '02:00:00:00:01:09');
    await L.renameLink(nl, v.index, 'vk1b');
    const r = await link(host, 'vk1b');
    assert.equal(r?.mtu, 1300);
    assert.equal(r?.address, '02:00:00:00:01:09');
    assert.ok(!r?.flags.includes('UP'));
    await L.renameLink(nl, v.index, 'vk1');
  });

  it('moves a link into another namespace, renaming it on the way', async () => {
    await L.createVeth(nl, { name: 'vk2', peerName: 'vk2p' });
    const p = await L.getLink(nl, 'vk2p');
    await L.moveLinkToNetns(nl, p.index, ctrNs.fd, 'eth1');
    assert.equal(await link(host, 'vk2p'), undefined);
    assert.equal((await link(ctr, 'eth1'))?.linkinfo?.info_kind, 'veth');
  });

  it('creates a VXLAN device without learning on UDP 4789', async () => {
    const under = await L.getLink(nl, 'vk2');
    await L.createVxlan(nl, { name: 'vxk0', vni: 4096, local: '10.98.0.1', dev: under.index, mtu: 1450 });
    const vx = await link(host, 'vxk0');
    const data = vx?.linkinfo?.info_data as Record<string, unknown>;
    assert.equal(vx?.linkinfo?.info_kind, 'vxlan');
    assert.equal(data.id, 4096);
    assert.equal(data.port, 4789);
    assert.equal(data.learning, false);
    assert.equal(data.local, '10.98.0.1');
    assert.equal(data.link, 'vk2');
    assert.equal(vx?.mtu, 1450);
    await assert.rejects(L.createVxlan(nl, { name: 'vxk1', vni: 0 }), (e: Error) => e instanceof UserError && /VXLAN id "0"/.test(e.message));
    assert.equal(await link(host, 'vxk1'), undefined);
  });

  it('creates macvlan children in every mode, directly inside a namespace', async () => {
    await L.createVeth(nl, { name: 'par0', peerName: 'par0p' });
    await L.createVeth(nl, { name: 'par1', peerName: 'par1p' });
    const par0 = await L.getLink(nl, 'par0');
    const par1 = await L.getLink(nl, 'par1');
    for (const mode of ['bridge', 'private', 'vepa'] as const) {
      await L.createMacvlan(nl, { name: `mv-${mode}`, parent: par0.index, mode });
      assert.equal((await link(host, `mv-${mode}`))?.linkinfo?.info_data?.mode, mode);
      await L.deleteLink(nl, `mv-${mode}`);
    }
    await L.createMacvlan(nl, { name: 'mvk', parent: par1.index, mode: 'passthru', netnsFd: ctrNs.fd });
    const mv = await link(ctr, 'mvk');
    assert.equal(mv?.linkinfo?.info_kind, 'macvlan');
    assert.equal(mv?.linkinfo?.info_data?.mode, 'passthru');
    // passthru takes the parent whole: a second child is refused by the kernel
    await assert.rejects(L.createMacvlan(nl, { name: 'mvk2', parent: par1.index, mode: 'passthru' }), KernelError);
    await assert.rejects(
      L.createMacvlan(nl, { name: 'mvk3', parent: par1.index, mode: 'bridgee' as L.MacvlanMode }),
      (e: Error) => e instanceof UserError && /macvlan mode "bridgee"/.test(e.message),
    );
  });

  it('lists links with kind, state and master', async () => {
    const all = await L.listLinks(nl);
    const names = all.map((l) => l.name);
    for (const n of ['lo', 'vk1', 'brk0', 'vk2', 'vxk0', 'par0', 'par1']) assert.ok(names.includes(n), n);
    assert.equal(all.find((l) => l.name === 'brk0')?.kind, 'bridge');
    assert.deepEqual(new Set(all.map((l) => l.name)), new Set((await links(host)).map((l) => l.ifname)));
  });

  it('refuses a duplicate name with EEXIST, and bad names before touching the kernel', async () => {
    await assert.rejects(L.createBridge(nl, { name: 'brk0' }), (e: Error) => e instanceof KernelError && e.code === 'EEXIST' && /brk0/.test(e.message));
    const before = (await links(host)).length;
    for (const bad of ['waytoolonginterface0', 'a/b', 'bad name']) {
      await assert.rejects(L.createBridge(nl, { name: bad }), (e: Error) => e instanceof UserError && e.message.includes(`"${bad}"`));
      await assert.rejects(L.createVeth(nl, { name: 'okname', peerName: bad }), UserError);
    }
    assert.equal((await links(host)).length, before, 'no link was created by bad input');
    await assert.rejects(L.getLink(nl, 'nosuchlink'), /network interface "nosuchlink" does not exist/);
  });

  it('deletes links idempotently (deleting a veth end removes the pair)', async () => {
    assert.equal(await L.deleteLink(nl, 'vk1'), true);
    assert.equal(await L.deleteLink(nl, 'vk1'), false);
    assert.equal(await link(ctr, 'eth0'), undefined, 'the peer went with it');
    assert.equal(await L.deleteLink(nl, 'vxk0'), true);
    assert.equal(await L.deleteLinkByIndex(nl, 99999), false);
  });

  it('wires two namespaces through a bridge so that they ping each other', async () => {
    // the end-to-end sanity check of the whole layer: the steps an endpoint attach takes
    const { addAddress } = await import('../../src/kernel/addresses.js');
    const c2 = await lab.createHost('c2');
    const c2Ns = openNetns(c2.netnsPath);
    try {
      const br = await L.getLink(nl, 'brk0');
      let n = 0;
      for (const [ns, fd] of [[ctr, ctrNs.fd], [c2, c2Ns.fd]] as const) {
        n++;
        await L.createVeth(nl, { name: `vp${n}`, peerName: 'eth5', peerNetnsFd: fd });
        const v = await L.getLink(nl, `vp${n}`);
        await L.setMaster(nl, v.index, br.index);
        await L.setLinkUp(nl, v.index);
        const inner = Rtnl.open(ns.netnsPath);
        try {
          const e = await L.getLink(inner, 'eth5');
          await addAddress(inner, e.index, `10.66.0.${n}/24`);
          await L.setLinkUp(inner, e.index);
        } finally {
          inner.close();
        }
      }
      assert.equal(await ping(ctr, '10.66.0.2', { count: 2, timeout: 5 }), true);
    } finally {
      c2Ns.close();
    }
  });
});
