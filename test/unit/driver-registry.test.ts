// The driver registry: one name → one driver, each with its engine part; unknown names are the
// user's mistake; scope (not the driver's name) tells cluster networks apart.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import { DEFAULT_DRIVER, DRIVER_NAMES, driverOf, findDriver, isClusterNetwork, scopeOfDriver } from '../../src/drivers/registry.js';
import { engineDriverOf } from '../../src/engine/network-drivers.js';

void describe('driver registry', () => {
  void it('holds bridge, macvlan and overlay, bridge by default', () => {
    assert.deepEqual([...DRIVER_NAMES].sort(), ['bridge', 'macvlan', 'overlay']);
    assert.equal(DEFAULT_DRIVER, 'bridge');
    for (const name of DRIVER_NAMES) assert.equal(driverOf(name).name, name);
  });

  void it('gives every driver its engine part', () => {
    for (const name of DRIVER_NAMES) assert.equal(typeof engineDriverOf(name).createNetwork, 'function');
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
