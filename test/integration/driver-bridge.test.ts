// The bridge driver through the NetworkDriver interface alone, in a lab namespace: ensure,
// check, repair by re-ensuring, firewall elements, remove. No engine, no store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { driverOf } from '../../src/drivers/registry.js';
import type { HostView } from '../../src/drivers/driver.js';
import { listAddresses } from '../../src/kernel/addresses.js';
import { listLinks } from '../../src/kernel/links.js';
import { withRtnl } from '../../src/kernel/rtnl.js';
import { Lab, addressesOf, link, runIn, type Host } from '../lab/index.js';
import { contextOf, endpointRecord, idOf, networkRecord } from './driver-helpers.js';

async function hostView(host: Host): Promise<HostView> {
  return withRtnl(host.netnsPath, async (nl) => ({ links: await listLinks(nl), addresses: await listAddresses(nl) }));
}

describe('driver: bridge', () => {
  let lab: Lab;
  let host: Host;
  let ctr: Host;
  const driver = driverOf('bridge');
  const net = networkRecord({
    id: idOf('b1d1'),
    driver: 'bridge',
    interfaceName: 'br-b1d1test',
    options: { 'com.docker.network.bridge.name': 'br-b1d1test', 'com.docker.network.bridge.enable_icc': 'false' },
    subnets: [{ subnet: '10.91.0.0/24', gateway: '10.91.0.1' }],
  });

  before(async () => {
    lab = await Lab.create();
    host = await lab.createHost('h');
    ctr = await lab.createHost('c');
  });
  after(async () => {
    await lab?.close();
  });

  it('parses its options once into a typed value, and refuses unknown ones', () => {
    assert.deepEqual(driver.canonicalOptions({ icc: 'false', mtu: '1400' }), {
      'com.docker.network.bridge.enable_icc': 'false',
      'com.docker.network.driver.mtu': '1400',
    });
    assert.throws(() => driver.canonicalOptions({ nope: '1' }), /unknown bridge option "nope"/);
    assert.deepEqual(driver.optionsOf(net), {
      icc: false, masquerade: true, gatewayModeIpv4: 'nat', gatewayModeIpv6: 'nat', allowSpoofing: false, bridgeName: 'br-b1d1test',
    });
  });

  it('says what it contributes: firewall elements, DNS address, topology, default route', () => {
    assert.deepEqual(driver.firewallOf(net), { bridge: 'br-b1d1test', subnets: ['10.91.0.0/24'], nat4: ['10.91.0.0/24'], nat6: [], internal: false, inbound: 'nat' });
    assert.deepEqual(driver.dnsAddressesOf(net), ['10.91.0.1']);
    assert.equal(driver.hostInterfaceOf(net), 'br-b1d1test');
    assert.equal(driver.mayCarryDefaultRoute(net, false), true);
    assert.equal(driver.routedPorts(net), false);
    const ep = endpointRecord({ id: idOf('e1e1e1e'), networkId: net.id, mac: '02:42:0a:5b:00:02', addresses: ['10.91.0.2/24'] });
    assert.deepEqual(driver.endpointLinkOf(net, ep), { kind: 'veth', hostIfname: 'veth' + 'e1e1e1e' });
    assert.deepEqual(driver.portGuardOf(net, ep), { ifname: 'vethe1e1e1e', mac: '02:42:0a:5b:00:02', addresses: ['10.91.0.2/24'] });
  });

  it('ensures the bridge with its gateway in the lab namespace, idempotently', async () => {
    const ctx = contextOf(host);
    await driver.ensureNetwork(ctx, net);
    await driver.ensureNetwork(ctx, net);
    const br = await link(host, 'br-b1d1test');
    assert.equal(br?.linkinfo?.info_kind, 'bridge');
    assert.ok(br?.flags.includes('UP'));
    assert.deepEqual(await addressesOf(host, 'br-b1d1test', 4), ['10.91.0.1/24']);
    assert.equal(await driver.networkProblem(ctx, net, await hostView(host)), undefined);
  });

  it('reports a missing gateway address and a deleted bridge, and re-ensuring repairs both', async () => {
    const ctx = contextOf(host);
    await runIn(host, ['ip', 'addr', 'flush', 'dev', 'br-b1d1test']);
    assert.deepEqual(await driver.networkProblem(ctx, net, await hostView(host)), { problem: 'bridge br-b1d1test lacks 10.91.0.1/24', action: 're-created it' });
    await runIn(host, ['ip', 'link', 'del', 'br-b1d1test']);
    assert.deepEqual(await driver.networkProblem(ctx, net, await hostView(host)), { problem: 'bridge br-b1d1test is missing', action: 're-created it' });
    await driver.ensureNetwork(ctx, net);
    assert.equal(await driver.networkProblem(ctx, net, await hostView(host)), undefined);
  });

  it('attaches an endpoint (veth on the bridge, guarded port) and detaches it', async () => {
    const ctx = contextOf(host);
    const ep = endpointRecord({ id: idOf('e2e2e2e'), networkId: net.id, mac: '02:42:0a:5b:00:05', addresses: ['10.91.0.5/24'] });
    const undo: (() => Promise<void> | void)[] = [];
    await driver.attachEndpoint(ctx, net, ep, { netns: ctr.netnsPath, ports: [] }, { push: (step) => void undo.unshift(step) });
    assert.equal(undo.length, 3, 'veth, guard and ports each pushed their undo');
    const veth = await link(host, 'vethe2e2e2e');
    assert.equal(veth?.master, 'br-b1d1test');
    assert.equal(veth?.linkinfo?.info_slave_data?.isolated, true, 'icc=false isolates the port');
    assert.equal((await link(ctr, 'eth0'))?.address, '02:42:0a:5b:00:05');
    assert.deepEqual(await addressesOf(ctr, 'eth0', 4), ['10.91.0.5/24']);
    const left = await driver.detachEndpoint(ctx, net, ep, { netns: ctr.netnsPath, sandboxGoing: false, ports: [] });
    assert.equal(left, undefined);
    assert.equal(await link(host, 'vethe2e2e2e'), undefined);
    assert.equal(await link(ctr, 'eth0'), undefined);
    await driver.detachEndpoint(ctx, net, ep, { netns: ctr.netnsPath, sandboxGoing: false, ports: [] });
  });

  it('removes the bridge, idempotently', async () => {
    const ctx = contextOf(host);
    await driver.removeNetwork(ctx, net);
    await driver.removeNetwork(ctx, net);
    assert.equal(await link(host, 'br-b1d1test'), undefined);
  });
});
