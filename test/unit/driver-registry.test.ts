// The driver registry: one name → one driver; unknown names are the user's mistake; scope (not
// the driver's name) tells cluster networks apart. And what each driver's endpoint plan says
// (pure: no kernel for these), which the engine's one attach path follows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import { DEFAULT_TUNNEL_SUBNET } from '../../src/drivers/overlay/tunnel-subnet.js';
import { DEFAULT_DRIVER, DRIVER_NAMES, driverOf, findDriver, isClusterNetwork, scopeOfDriver } from '../../src/drivers/registry.js';
import type { NetworkRecord } from '../../src/store/store.js';

void describe('driver registry', () => {
  void it('holds bridge, macvlan and overlay, bridge by default', () => {
    assert.deepEqual([...DRIVER_NAMES].sort(), ['bridge', 'macvlan', 'overlay']);
    assert.equal(DEFAULT_DRIVER, 'bridge');
    for (const name of DRIVER_NAMES) assert.equal(driverOf(name).name, name);
  });

  void it('plans a bridge endpoint: ports published unless internal, a MAC from the IPv4 address or a random one', async () => {
    const bridge = driverOf('bridge');
    const plan = await bridge.planEndpoint({ hostNetns: null, tunnelSubnet: DEFAULT_TUNNEL_SUBNET }, net('bridge', { 'com.docker.network.bridge.host_binding_ipv4': '127.0.0.1' }), { publish: 1 });
    assert.equal(plan.publishes, true);
    assert.equal(plan.gatewayLeg, false);
    assert.equal(plan.defaultHostIp, '127.0.0.1');
    assert.equal(plan.macOf(['10.1.2.3/24', 'fd00::3/64']), '02:42:0a:01:02:03');
    assert.match(plan.macOf(['fd00::3/64']) ?? '', /^02:42(:[0-9a-f]{2}){4}$/);
    assert.equal((await bridge.planEndpoint({ hostNetns: null, tunnelSubnet: DEFAULT_TUNNEL_SUBNET }, net('bridge', {}, true), { publish: 1 })).publishes, false);
    assert.equal((await bridge.planEndpoint({ hostNetns: null, tunnelSubnet: DEFAULT_TUNNEL_SUBNET }, net('bridge'), { publish: 0, mac: '02:00:00:00:00:01' })).macOf(['10.1.2.3/24']), '02:00:00:00:00:01');
  });

  void it('plans a macvlan endpoint: no ports (with a warning), one endpoint in passthru mode', async () => {
    const macvlan = driverOf('macvlan');
    const state = { macvlan: { parent: 'lan0' } };
    const bridgeMode = await macvlan.planEndpoint({ hostNetns: null, tunnelSubnet: DEFAULT_TUNNEL_SUBNET }, { ...net('macvlan', { parent: 'lan0' }), state }, { publish: 1 });
    assert.equal(bridgeMode.publishes, false);
    assert.match(bridgeMode.portsDiscarded ?? '', /Published ports are discarded on macvlan network "n"/);
    assert.equal(bridgeMode.exclusive, undefined);
    assert.equal(bridgeMode.macOf(['fd00::3/64']), null);
    const passthru = await macvlan.planEndpoint({ hostNetns: null, tunnelSubnet: DEFAULT_TUNNEL_SUBNET }, { ...net('macvlan', { parent: 'lan0', macvlan_mode: 'passthru' }), state }, { publish: 0, mac: '02:00:00:00:00:01' });
    assert.match(passthru.exclusive?.('web') ?? '', /taken whole by container "web"/);
  });

  void it('plans an overlay endpoint: ports and egress through the gateway leg, unless internal', async () => {
    const overlay = driverOf('overlay');
    const plan = await overlay.planEndpoint({ hostNetns: null, tunnelSubnet: DEFAULT_TUNNEL_SUBNET }, net('overlay'), { publish: 1 });
    assert.deepEqual([plan.publishes, plan.gatewayLeg, plan.portsDiscarded], [false, true, undefined]);
    assert.throws(() => plan.macOf(['fd00::3/64']), (err: unknown) => err instanceof UserError && /give --mac-address/.test(err.message));
    const internal = await overlay.planEndpoint({ hostNetns: null, tunnelSubnet: DEFAULT_TUNNEL_SUBNET }, net('overlay', {}, true), { publish: 1 });
    assert.deepEqual([internal.publishes, internal.gatewayLeg], [false, false]);
    assert.match(internal.portsDiscarded ?? '', /internal overlay network "n"/);
  });

  void it('refuses an unknown driver with the list of known ones', () => {
    assert.equal(findDriver('ipvlan'), undefined);
    assert.throws(() => driverOf('ipvlan'), (err: unknown) => err instanceof UserError && err.message === 'network driver "ipvlan" is not supported: expected one of bridge, macvlan, overlay');
  });

  void it('tells scopes: overlay networks live in the cluster, the others on the host', () => {
    assert.equal(scopeOfDriver('overlay'), 'swarm');
    assert.equal(scopeOfDriver('bridge'), 'local');
    assert.equal(scopeOfDriver('host'), 'local');
    assert.equal(isClusterNetwork({ driver: 'overlay' }), true);
    assert.equal(isClusterNetwork({ driver: 'macvlan' }), false);
    assert.equal(driverOf('macvlan').usesFirewall, false);
    assert.equal(driverOf('bridge').usesFirewall, true);
  });
});

function net(driver: string, options: Record<string, string> = {}, internal = false): NetworkRecord {
  return {
    id: 'f'.repeat(64), name: 'n', driver, scope: driver === 'overlay' ? 'swarm' : 'local', created: new Date(0).toISOString(), options, labels: {},
    internal, attachable: false, ipv6: false, interfaceName: null, subnets: [{ subnet: '10.1.2.0/24', gateway: '10.1.2.1' }],
  };
}
