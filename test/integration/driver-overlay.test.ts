// The overlay driver through the NetworkDriver interface alone, in a lab namespace: the cluster
// is what the call context carries (here a stand-in), so no etcd and no daemon are needed.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import type { ClusterHandle, DriverContext } from '../../src/drivers/driver.js';
import { driverOf } from '../../src/drivers/registry.js';
import { DEFAULT_TUNNEL_SUBNET } from '../../src/drivers/overlay/tunnel-subnet.js';
import { addRemoteEndpoint } from '../../src/drivers/overlay/overlay.js';
import { rtnlRequestCount } from '../../src/kernel/rtnl.js';
import { Lab, addressesOf, fdb, link, runOk, type Host } from '../lab/index.js';
import { endpointRecord, idOf, networkRecord, planRequestOf } from './driver-helpers.js';

describe('driver: overlay', () => {
  let lab: Lab;
  let host: Host;
  let ctr: Host;
  let ctx: DriverContext;
  const driver = driverOf('overlay');
  const net = networkRecord({
    id: idOf('c3c3'),
    driver: 'overlay',
    scope: 'swarm',
    interfaceName: 'ov-c3c300000000',
    options: { 'com.docker.network.driver.overlay.vxlanid_list': '4242' },
    subnets: [{ subnet: '10.93.0.0/24', gateway: '10.93.0.1' }],
  });
  const cluster: ClusterHandle = {
    overlaySpecOf: (n) => ({
      networkId: n.id, vni: 4242, gateways: ['10.93.0.1/24'], subnets: ['10.93.0.0/24'], local: '192.0.2.10', mtu: 1450, alias: `berth:network:${n.id}`, encrypted: false,
    }),
    overlayMtuOf: () => 1450,
    remoteEndpointsOf: () => [{ mac: '02:42:0a:5d:00:09', vtep: '192.0.2.20', addresses: ['10.93.0.9'] }],
    ensureEncryption: () => Promise.reject(new Error('not encrypted')),
  };

  before(async () => {
    lab = await Lab.create();
    host = await lab.createHost('h');
    ctr = await lab.createHost('c');
    // the underlay: the VTEP address must be one of the host's
    await runOk(['nsenter', `--net=${host.netnsPath}`, '--', 'ip', 'link', 'add', 'under0', 'type', 'veth', 'peer', 'name', 'under1']);
    await runOk(['nsenter', `--net=${host.netnsPath}`, '--', 'ip', 'addr', 'add', '192.0.2.10/24', 'dev', 'under0']);
    await runOk(['nsenter', `--net=${host.netnsPath}`, '--', 'ip', 'link', 'set', 'under0', 'up']);
    ctx = { hostNetns: host.netnsPath, tunnelSubnet: DEFAULT_TUNNEL_SUBNET, cluster };
  });
  after(async () => {
    await lab?.close();
  });

  it('is a cluster-scoped driver with an internal bridge and no default route', () => {
    assert.equal(driver.scope, 'swarm');
    assert.deepEqual(driver.optionsOf(net), { encrypted: false });
    assert.deepEqual(driver.firewallOf(net), { bridge: 'ov-c3c300000000', subnets: ['10.93.0.0/24'], nat4: [], nat6: [], internal: true, inbound: 'nat' });
    assert.equal(driver.mayCarryDefaultRoute(net, false), false);
  });

  it('needs the cluster in its context', async () => {
    await assert.rejects(driver.ensureNetwork({ hostNetns: host.netnsPath, tunnelSubnet: DEFAULT_TUNNEL_SUBNET }, net), UserError);
  });

  it('ensures bridge and VXLAN device, programming the remote endpoints on a new device', async () => {
    await driver.ensureNetwork(ctx, net);
    await driver.ensureNetwork(ctx, net);
    const vx = await link(host, 'vx-c3c300000000');
    assert.equal(vx?.linkinfo?.info_kind, 'vxlan');
    assert.equal(vx?.master, 'ov-c3c300000000');
    assert.deepEqual(await addressesOf(host, 'ov-c3c300000000', 4), ['10.93.0.1/24']);
    const entries = await fdb(host, { dev: 'vx-c3c300000000' });
    assert.ok(entries.some((e) => e.mac === '02:42:0a:5d:00:09' && e.dst === '192.0.2.20'), JSON.stringify(entries));
  });

  it('attaches an endpoint at the overlay MTU, and detaches it', async () => {
    const ep = endpointRecord({ id: idOf('d4d4d4d'), networkId: net.id, mac: '02:42:0a:5d:00:04', addresses: ['10.93.0.4/24'] });
    await driver.attachEndpoint(ctx, net, ep, { netns: ctr.netnsPath, ports: [] }, { push: () => undefined });
    assert.equal((await link(host, 'vethd4d4d4d'))?.master, 'ov-c3c300000000');
    const eth = await link(ctr, 'eth0');
    assert.equal(eth?.mtu, 1450);
    assert.equal(eth?.address, '02:42:0a:5d:00:04');
    await driver.detachEndpoint(ctx, net, ep, { netns: '', sandboxGoing: false, ports: [] });
    assert.equal(await link(host, 'vethd4d4d4d'), undefined);
  });

  it('programs a remote endpoint without looking the VXLAN device up again, and follows the device when it is made anew', async () => {
    await addRemoteEndpoint(host.netnsPath, net.id, { mac: '02:42:0a:5d:00:0a', vtep: '192.0.2.21', addresses: ['10.93.0.10'] });
    const requests = rtnlRequestCount();
    await addRemoteEndpoint(host.netnsPath, net.id, { mac: '02:42:0a:5d:00:0b', vtep: '192.0.2.21', addresses: ['10.93.0.11'] });
    assert.equal(rtnlRequestCount() - requests, 2, 'the FDB entry and the neighbour entry, no lookup');
    // another process makes the device again (a new index) behind this one's back
    await runOk(['nsenter', `--net=${host.netnsPath}`, '--', 'ip', 'link', 'del', 'vx-c3c300000000']);
    await runOk(['nsenter', `--net=${host.netnsPath}`, '--', 'ip', 'link', 'add', 'vx-c3c300000000', 'type', 'vxlan', 'id', '4242', 'dstport', '4789', 'local', '192.0.2.10', 'nolearning', 'proxy']);
    await runOk(['nsenter', `--net=${host.netnsPath}`, '--', 'ip', 'link', 'set', 'vx-c3c300000000', 'master', 'ov-c3c300000000', 'up']);
    await addRemoteEndpoint(host.netnsPath, net.id, { mac: '02:42:0a:5d:00:0c', vtep: '192.0.2.22', addresses: ['10.93.0.12'] });
    const entries = await fdb(host, { dev: 'vx-c3c300000000' });
    assert.ok(entries.some((e) => e.mac === '02:42:0a:5d:00:0c' && e.dst === '192.0.2.22'), JSON.stringify(entries));
  });

  it('removes both devices, idempotently', async () => {
    await driver.removeNetwork(ctx, net);
    await driver.removeNetwork(ctx, net);
    assert.equal(await link(host, 'vx-c3c300000000'), undefined);
    assert.equal(await link(host, 'ov-c3c300000000'), undefined);
  });

  it('plans a network for the cluster store: the VNI asked for, subnets clear of the tunnel block, WireGuard only once every check passed', async () => {
    await assert.rejects(driver.planNetwork({ hostNetns: host.netnsPath, tunnelSubnet: DEFAULT_TUNNEL_SUBNET }, planRequestOf({ id: idOf('c6c6') })), (err: unknown) => err instanceof UserError && /need a daemon joined to a cluster/.test(err.message));
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id: idOf('c6c6'), options: { nope: '1' } })), /unknown overlay option "nope"/);
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id: idOf('c6c6'), subnets: [{ subnet: '198.18.4.0/24' }] })), /overlaps 198.18.0.0\/16, which berth reserves for WireGuard/);
    // the cluster's tunnel subnet, whichever it is
    await assert.rejects(driver.planNetwork({ ...ctx, tunnelSubnet: '100.80.0.0/16' }, planRequestOf({ id: idOf('c6c6'), subnets: [{ subnet: '100.80.9.0/24' }] })), /overlaps 100.80.0.0\/16, which berth reserves for WireGuard/);
    let encryptions = 0;
    const counting: DriverContext = { hostNetns: host.netnsPath, tunnelSubnet: DEFAULT_TUNNEL_SUBNET, cluster: { ...cluster, ensureEncryption: () => Promise.resolve(void encryptions++) } };
    const plan = await driver.planNetwork(counting, planRequestOf({ id: idOf('c6c6'), options: { vni: '5000', encrypted: '' } }));
    assert.equal(plan.vni, 5000);
    assert.deepEqual(plan.typed, { vni: 5000, encrypted: true });
    assert.equal(encryptions, 0, 'planning brings nothing up');
    await plan.prepareHost?.();
    assert.equal(encryptions, 1);
    const plain = await driver.planNetwork(counting, planRequestOf({ id: idOf('c6c6') }));
    assert.equal(plain.prepareHost, undefined);
  });

  it('plans an endpoint: ports and egress through the gateway leg, unless internal', async () => {
    const plan = await driver.planEndpoint(ctx, net, { publish: 2 });
    assert.deepEqual([plan.publishes, plan.gatewayLeg], [false, true]);
    assert.equal(plan.macOf(['10.93.0.5/24']), '02:42:0a:5d:00:05');
    const internal = await driver.planEndpoint(ctx, { ...net, internal: true }, { publish: 2 });
    assert.deepEqual([internal.publishes, internal.gatewayLeg], [false, false]);
    assert.match(internal.portsDiscarded ?? '', /discarded on internal overlay network/);
  });
});
