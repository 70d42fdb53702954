// The bridge driver through the NetworkDriver interface alone, in a lab namespace: ensure,
// check, repair by re-ensuring, firewall elements, remove. No engine, no store.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bridgeMacOf } from '../../src/drivers/bridge/bridge.js';
import { driverOf } from '../../src/drivers/registry.js';
import { ENDPOINT_ALIAS_PREFIX, type HostView } from '../../src/drivers/driver.js';
import { listAddresses } from '../../src/kernel/addresses.js';
import { listLinks } from '../../src/kernel/links.js';
import { rtnlAnswerCount, rtnlRequestCount, withRtnl } from '../../src/kernel/rtnl.js';
import { Lab, addressesOf, link, runIn, runOk, type Host } from '../lab/index.js';
import { ConflictError, UserError } from '../../src/common/errors.js';
import { contextOf, endpointRecord, idOf, networkRecord, planRequestOf } from './driver-helpers.js';

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

  it('re-ensures an existing bridge without reading the host\'s other links or addresses', async () => {
    // a host full of addresses (each container's veth brings one): the check must not dump them
    for (let i = 0; i < 20; i++) {
      await runIn(host, ['ip', 'link', 'add', `vb${i}`, 'type', 'veth', 'peer', 'name', `vp${i}`]);
      await runIn(host, ['ip', 'addr', 'add', `10.92.${i}.1/24`, 'dev', `vb${i}`]);
    }
    try {
      const ctx = contextOf(host);
      const [requests, answers] = [rtnlRequestCount(), rtnlAnswerCount()];
      await driver.ensureNetwork(ctx, net);
      // the bridge's lookup and one add of its gateway (EEXIST): a dump read 20+ addresses
      assert.equal(rtnlRequestCount() - requests, 2, 'rtnetlink requests');
      assert.ok(rtnlAnswerCount() - answers <= 2, `rtnetlink answers read: ${rtnlAnswerCount() - answers}`);
      assert.deepEqual(await addressesOf(host, 'br-b1d1test', 4), ['10.91.0.1/24']);
    } finally {
      for (let i = 0; i < 20; i++) await runIn(host, ['ip', 'link', 'del', `vb${i}`]);
    }
  });

  it('keeps its own MAC when a port with a lower MAC joins; a changed MAC is put back and announced', async () => {
    const ctx = contextOf(host);
    await driver.ensureNetwork(ctx, net);
    const mac = bridgeMacOf({ ifname: 'br-b1d1test', gateways: ['10.91.0.1/24'] });
    assert.equal(mac, '02:42:0a:5b:00:01');
    assert.equal((await link(host, 'br-b1d1test'))?.address, mac);
    // a kernel-chosen bridge MAC follows the lowest port MAC: a container joining moved it
    await runIn(host, ['ip', 'link', 'add', 'lowmac', 'address', '00:00:00:00:00:01', 'type', 'veth', 'peer', 'name', 'lowpeer', 'netns', ctr.netnsPath]);
    try {
      await runIn(host, ['ip', 'link', 'set', 'lowmac', 'master', 'br-b1d1test', 'up']);
      assert.equal((await link(host, 'br-b1d1test'))?.address, mac, 'a port with a lower MAC did not move the bridge\'s');
      // a container that knows the gateway at another MAC is told when the MAC is put back
      await runIn(host, ['ip', 'link', 'set', 'br-b1d1test', 'address', '02:00:00:00:00:99']);
      await runIn(ctr, ['ip', 'link', 'set', 'lowpeer', 'up']);
      await runIn(ctr, ['ip', 'addr', 'add', '10.91.0.77/24', 'dev', 'lowpeer']);
      await runIn(ctr, ['ip', 'neigh', 'replace', '10.91.0.1', 'lladdr', '02:00:00:00:00:99', 'dev', 'lowpeer', 'nud', 'reachable']);
      await driver.ensureNetwork(ctx, net);
      assert.equal((await link(host, 'br-b1d1test'))?.address, mac, 're-ensuring put the MAC back');
      let entry = '';
      for (const end = Date.now() + 3000; Date.now() < end && !entry.includes(mac); await new Promise((r) => setTimeout(r, 50))) {
        entry = (await runIn(ctr, ['ip', 'neigh', 'show', '10.91.0.1', 'dev', 'lowpeer'])).stdout;
      }
      assert.match(entry, new RegExp(`lladdr ${mac}`), 'the container\'s entry for the gateway follows at once (gratuitous ARP)');
    } finally {
      await runIn(host, ['ip', 'link', 'del', 'lowmac']);
    }
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
    const requests = rtnlRequestCount();
    await driver.attachEndpoint(ctx, net, ep, { netns: ctr.netnsPath, ports: [] }, { push: (step) => void undo.unshift(step) });
    // host: the bridge's lookup, the pair with its master, the port (flags, alias, up); sandbox:
    // lo up, the peer's lookup, its address, its up state (11-12 before the pair carried its master)
    assert.equal(rtnlRequestCount() - requests, 7, 'rtnetlink requests for one endpoint with one address');
    assert.equal(undo.length, 3, 'veth, guard and ports each pushed their undo');
    assert.equal((await link(host, 'vethe2e2e2e'))?.ifalias, `${ENDPOINT_ALIAS_PREFIX}${ep.id}`, 'the host end is marked as berth\'s');
    assert.ok((await link(host, 'vethe2e2e2e'))?.flags.includes('UP'));
    assert.ok((await link(ctr, 'eth0'))?.flags.includes('UP'));
    assert.ok((await link(ctr, 'lo'))?.flags.includes('UP'));
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

  it('plugs an endpoint whose sandbox end the runtime moves (Docker) in 3 rtnetlink requests: the end waits in the host namespace, down', async () => {
    const ctx = contextOf(host);
    const ep = endpointRecord({ id: idOf('e3e3e3e'), networkId: net.id, interfaceName: 'bthe3e3e3e3e3e3', mac: '02:42:0a:5b:00:06', addresses: ['10.91.0.6/24'] });
    const requests = rtnlRequestCount();
    await driver.attachEndpoint(ctx, net, ep, { netns: '', ports: [], handOver: true }, { push: () => undefined });
    assert.equal(rtnlRequestCount() - requests, 3, 'the bridge, the pair with its master, the port (8 before)');
    const end = await link(host, 'bthe3e3e3e3e3e3');
    assert.equal(end?.address, '02:42:0a:5b:00:06');
    assert.ok(!end?.flags.includes('UP'), 'dockerd brings it up in the sandbox');
    assert.equal((await link(host, 'vethe3e3e3e'))?.master, 'br-b1d1test');
    await driver.detachEndpoint(ctx, net, ep, { netns: '', sandboxGoing: false, ports: [] });
    assert.equal(await link(host, 'bthe3e3e3e3e3e3'), undefined);
  });

  it('removes the bridge, idempotently', async () => {
    const ctx = contextOf(host);
    await driver.removeNetwork(ctx, net);
    await driver.removeNetwork(ctx, net);
    assert.equal(await link(host, 'br-b1d1test'), undefined);
  });

  it('plans a network against the host: its bridge name, options typed once, nothing changed', async () => {
    const ctx = contextOf(host);
    const plan = await driver.planNetwork(ctx, planRequestOf({ id: idOf('b3b3'), options: { icc: 'false' } }));
    assert.equal(plan.interfaceName, 'br-b3b300000000');
    assert.deepEqual(plan.options, { 'com.docker.network.bridge.enable_icc': 'false', 'com.docker.network.bridge.name': 'br-b3b300000000' });
    assert.equal((plan.typed as { icc: boolean }).icc, false);
    assert.deepEqual([plan.internal, plan.onLan, plan.adopt, plan.autoSubnetsAvoidHost], [false, undefined, undefined, true]);
    assert.equal(await link(host, 'br-b3b300000000'), undefined, 'planning makes nothing');
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id: idOf('b3b3'), options: { mtu: '9' } })), /invalid MTU "9"/);
    await assert.rejects(
      driver.planNetwork(ctx, planRequestOf({ id: idOf('b3b3'), networks: [{ ...net, interfaceName: 'br-b3b300000000' }] })),
      (err: unknown) => err instanceof ConflictError && /already used by another berth network/.test(err.message),
    );
  });

  it('refuses a bridge name or a parent the host cannot give, and asks the engine about other networks', async () => {
    const ctx = contextOf(host);
    await runOk(['nsenter', `--net=${host.netnsPath}`, '--', 'ip', 'link', 'add', 'lan0', 'type', 'veth', 'peer', 'name', 'lan1']);
    const id = idOf('b4b4');
    const lan = [{ subnet: '10.94.0.0/24', gateway: '10.94.0.254' }];
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id, options: { bridge_name: 'lan0' } })), (err: unknown) => err instanceof ConflictError && /an interface named "lan0" already exists/.test(err.message));
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id, options: { parent: 'lan1' } })), (err: unknown) => err instanceof UserError && /needs the LAN's --subnet/.test(err.message));
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id, options: { parent: 'nic9' }, subnets: lan })), /parent interface "nic9" does not exist on this host/);
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id, options: { parent: 'lo' }, subnets: lan })), /is the loopback interface/);
    const asked: unknown[] = [];
    const taken = new ConflictError('taken by another network');
    await assert.rejects(driver.planNetwork(ctx, planRequestOf({ id, options: { parent: 'lan1' }, subnets: lan, parentConflict: (r) => (asked.push(r), taken) })), (err: unknown) => err === taken);
    assert.deepEqual(asked, [{ kind: 'nat-free-bridge', parent: 'lan1' }]);
  });

  it('plans a NAT-free bridge on the LAN of its parent, which it takes over once, at creation', async () => {
    const ctx = contextOf(host);
    await runOk(['nsenter', `--net=${host.netnsPath}`, '--', 'ip', 'addr', 'add', '10.94.0.7/24', 'dev', 'lan1']);
    const plan = await driver.planNetwork(ctx, planRequestOf({ id: idOf('b4b4'), options: { parent: 'lan1' }, subnets: [{ subnet: '10.94.0.0/24', gateway: '10.94.0.254' }] }));
    assert.equal(plan.onLan, 'lan1');
    assert.ok(plan.adopt);
    const natFree = networkRecord({ id: idOf('b4b4'), driver: 'bridge', interfaceName: plan.interfaceName, options: plan.options, subnets: [{ subnet: '10.94.0.0/24', gateway: '10.94.0.254' }] });
    const state = await plan.adopt(ctx, natFree);
    assert.equal((state?.parent as { parent: string; addresses: string[] }).parent, 'lan1');
    assert.deepEqual((state?.parent as { addresses: string[] }).addresses, ['10.94.0.7/24']);
    assert.equal((await link(host, 'lan1'))?.master, 'br-b4b400000000');
    assert.deepEqual(await addressesOf(host, 'br-b4b400000000', 4), ['10.94.0.7/24'], 'the bridge holds the NIC\'s address');
    await driver.ensureNetwork(ctx, { ...natFree, ...(state ? { state } : {}) });
    await driver.removeNetwork(ctx, { ...natFree, ...(state ? { state } : {}) });
    assert.equal(await link(host, 'br-b4b400000000'), undefined);
    assert.equal((await link(host, 'lan1'))?.master, undefined);
    assert.deepEqual(await addressesOf(host, 'lan1', 4), ['10.94.0.7/24'], 'given back');
  });

  it('plans an endpoint from its network: a published port on the host binding address, none when internal', async () => {
    const ctx = contextOf(host);
    const bound = networkRecord({ ...net, options: { ...net.options, 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1' } });
    const plan = await driver.planEndpoint(ctx, bound, { publish: 1 });
    assert.deepEqual([plan.publishes, plan.defaultHostIp, plan.gatewayLeg, plan.exclusive], [true, '127.0.0.1', false, undefined]);
    assert.equal(plan.macOf(['10.91.0.5/24']), '02:42:0a:5b:00:05');
    assert.equal((await driver.planEndpoint(ctx, { ...net, internal: true }, { publish: 1 })).publishes, false);
  });
});
