// The macvlan driver through the NetworkDriver interface alone, in a lab namespace: an internal
// network (berth makes its parent) with a host shim; ensure, check, repair, remove.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { driverOf } from '../../src/drivers/registry.js';
import { Lab, addressesOf, link, runIn, type Host } from '../lab/index.js';
import { contextOf, endpointRecord, idOf, networkRecord } from './driver-helpers.js';

describe('driver: macvlan', () => {
  let lab: Lab;
  let host: Host;
  let ctr: Host;
  const driver = driverOf('macvlan');
  const net = networkRecord({
    id: idOf('a2a2'),
    driver: 'macvlan',
    internal: true,
    options: { host_access: 'true' },
    subnets: [{ subnet: '10.92.0.0/24', gateway: '10.92.0.1' }],
    state: { macvlan: { parent: 'mv-a2a2test', createdParent: { kind: 'bridge' }, shim: { ifname: 'mh-a2a2test', addresses: ['10.92.0.2/32'] } } },
  });

  before(async () => {
    lab = await Lab.create();
    host = await lab.createHost('h');
    ctr = await lab.createHost('c');
  });
  after(async () => {
    await lab?.close();
  });

  it('parses its options into a typed value, and says what it contributes', () => {
    assert.deepEqual(driver.optionsOf(net), { mode: 'bridge', hostAccess: true });
    assert.throws(() => driver.canonicalOptions({ icc: 'false' }), /unknown macvlan option "icc"/);
    assert.equal(driver.firewallOf(net), undefined);
    assert.equal(driver.usesFirewall, false);
    assert.deepEqual(driver.dnsAddressesOf(net), ['10.92.0.2']);
    assert.equal(driver.hostInterfaceOf(net), 'mv-a2a2test');
    assert.equal(driver.parentOf(net), 'mv-a2a2test');
    assert.match(driver.parentConflict(net, { kind: 'nat-free-bridge', parent: 'mv-a2a2test' }) ?? '', /a NAT-free bridge needs a NIC of its own/);
    assert.match(driver.parentConflict(net, { kind: 'macvlan', parent: 'mv-a2a2test', passthru: false }) ?? '', /was created for macvlan network/);
    assert.equal(driver.parentConflict(net, { kind: 'macvlan', parent: 'eth9', passthru: false }), undefined);
  });

  it('ensures its parent and shim in the lab namespace, idempotently', async () => {
    const ctx = contextOf(host);
    await driver.ensureNetwork(ctx, net);
    await driver.ensureNetwork(ctx, net);
    assert.equal((await link(host, 'mv-a2a2test'))?.linkinfo?.info_kind, 'bridge');
    const shim = await link(host, 'mh-a2a2test');
    assert.equal(shim?.linkinfo?.info_kind, 'macvlan');
    assert.deepEqual(await addressesOf(host, 'mh-a2a2test', 4), ['10.92.0.2/32']);
    assert.equal(await driver.networkProblem(ctx, net, { links: [], addresses: [] }), undefined);
  });

  it('reports a missing shim as its own to re-create, and re-ensuring repairs it', async () => {
    const ctx = contextOf(host);
    await runIn(host, ['ip', 'link', 'del', 'mh-a2a2test']);
    assert.deepEqual(await driver.networkProblem(ctx, net, { links: [], addresses: [] }), { problem: 'host shim mh-a2a2test is missing', action: 're-created it' });
    await driver.ensureNetwork(ctx, net);
    assert.equal(await driver.networkProblem(ctx, net, { links: [], addresses: [] }), undefined);
  });

  it('attaches an endpoint as a macvlan child born in the sandbox, and detaches it', async () => {
    const ctx = contextOf(host);
    const ep = endpointRecord({ id: idOf('f3f3f3f'), networkId: net.id, mac: '02:42:0a:5c:00:07', addresses: ['10.92.0.7/24'] });
    const undo: (() => Promise<void> | void)[] = [];
    await driver.attachEndpoint(ctx, net, ep, { netns: ctr.netnsPath, ports: [] }, { push: (step) => void undo.unshift(step) });
    const child = await link(ctr, 'eth0');
    assert.equal(child?.linkinfo?.info_kind, 'macvlan');
    assert.equal(child?.address, '02:42:0a:5c:00:07');
    assert.deepEqual(await addressesOf(ctr, 'eth0', 4), ['10.92.0.7/24']);
    assert.equal(undo.length, 1);
    assert.equal(await driver.detachEndpoint(ctx, net, ep, { netns: ctr.netnsPath, sandboxGoing: false, ports: [] }), undefined);
    assert.equal(await link(ctr, 'eth0'), undefined);
  });

  it('removes the shim and the parent it made, idempotently', async () => {
    const ctx = contextOf(host);
    await driver.removeNetwork(ctx, net);
    await driver.removeNetwork(ctx, net);
    assert.equal(await link(host, 'mh-a2a2test'), undefined);
    assert.equal(await link(host, 'mv-a2a2test'), undefined);
  });
});
