// The macvlan driver through the NetworkDriver interface alone, in a lab namespace: an internal
// network (berth makes its parent) with a host shim; ensure, check, repair, remove.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { driverOf } from '../../src/drivers/registry.js';
import { Lab, addressesOf, link, runIn, runOk, type Host } from '../lab/index.js';
import { ConflictError, UserError } from '../../src/common/errors.js';
import { contextOf, endpointRecord, idOf, networkRecord, planRequestOf } from './driver-helpers.js';

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

  it('plans an internal network without a parent: the bridge it makes, and the shim addresses it reserves in the creating transaction', async () => {
    const ctx = contextOf(host);
    const plan = await driver.planNetwork(ctx, planRequestOf({ id: idOf('a5a5'), options: { host_access: 'true' } }));
    assert.deepEqual([plan.interfaceName, plan.internal, plan.onLan, plan.autoSubnetsAvoidHost], [null, true, undefined, true]);
    assert.deepEqual(plan.typed, { mode: 'bridge', hostAccess: true });
    const reserved: [string, string][] = [];
    const record = networkRecord({ id: idOf('a5a5'), driver: 'macvlan', internal: true, options: plan.options, subnets: [{ subnet: '10.95.0.0/24', gateway: '10.95.0.1' }] });
    const state = plan.initialState?.(record, (subnet, owner) => (reserved.push([subnet, owner]), '10.95.0.2'));
    assert.deepEqual(reserved, [['10.95.0.0/24', 'host-shim']]);
    assert.deepEqual(state, { macvlan: { parent: 'mv-a5a500000000', createdParent: { kind: 'bridge' }, shim: { ifname: 'mh-a5a500000000', addresses: ['10.95.0.2/32'] } } });
    assert.equal(await link(host, 'mv-a5a500000000'), undefined, 'planning makes nothing');
  });

  it('plans a network on a host NIC: refuses a missing, enslaved or contested parent; reads a passthru parent\'s MAC', async () => {
    const ctx = contextOf(host);
    const sh = (...argv: string[]) => runOk(['nsenter', `--net=${host.netnsPath}`, '--', 'ip', ...argv]);
    await sh('link', 'add', 'nic0', 'type', 'veth', 'peer', 'name', 'nic1');
    await sh('link', 'add', 'nicbr', 'type', 'bridge');
    await sh('link', 'set', 'nic1', 'master', 'nicbr');
    const lan = [{ subnet: '10.96.0.0/24', gateway: '10.96.0.1' }];
    const id = idOf('a6a6');
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id, options: { parent: 'nic0' } })), (err: unknown) => err instanceof UserError && /needs the LAN's --subnet/.test(err.message));
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id, options: { parent: 'nic9' }, subnets: lan })), /parent interface "nic9" does not exist on this host/);
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id, options: { parent: 'nic9.5' }, subnets: lan })), /its base interface "nic9" does not exist/);
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id, options: { parent: 'nic1' }, subnets: lan })), (err: unknown) => err instanceof ConflictError && /is a port of nicbr/.test(err.message));
    const asked: unknown[] = [];
    const plan = await driver.planNetwork(ctx, planRequestOf({ id, options: { parent: 'nic0', macvlan_mode: 'passthru' }, subnets: lan, parentConflict: (r) => void asked.push(r) }));
    assert.deepEqual(asked, [{ kind: 'macvlan', parent: 'nic0', passthru: true }]);
    assert.deepEqual([plan.internal, plan.onLan, plan.autoSubnetsAvoidHost], [false, 'nic0', false]);
    const record = networkRecord({ id, driver: 'macvlan', options: plan.options, subnets: lan });
    const state = plan.initialState?.(record, () => assert.fail('no shim: nothing to reserve'));
    assert.deepEqual(state, { macvlan: { parent: 'nic0' } });
    const ep = await driver.planEndpoint(ctx, { ...record, ...(state ? { state } : {}) }, { publish: 0 });
    assert.equal(ep.macOf(['10.96.0.5/24']), (await link(host, 'nic0'))?.address, 'a passthru child keeps its parent\'s MAC');
    assert.match(ep.exclusive?.('web') ?? '', /taken whole by container "web"/);
  });
});
