// Unit: `network create -d macvlan -o` options: keys, aliases, typed values, and every refusal
// naming the bad value and what is accepted.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalMacvlanOptions, macvlanOptions } from '../../src/engine/macvlan-options.js';
import { throwsUser } from './assert-errors.js';

const parse = (raw: Record<string, string>) => macvlanOptions(canonicalMacvlanOptions(raw));

void describe('macvlan options', () => {
  void test('defaults: bridge mode, no parent (internal), no host access', () => {
    assert.deepEqual(parse({}), { mode: 'bridge', hostAccess: false });
  });

  void test('parent, every mode, host_access and the MTU alias', () => {
    assert.deepEqual(parse({ parent: 'eth1', macvlan_mode: 'vepa', host_access: 'true', mtu: '1400' }), {
      parent: 'eth1', mode: 'vepa', hostAccess: true, mtu: 1400,
    });
    for (const mode of ['bridge', 'private', 'vepa', 'passthru'] as const) assert.equal(parse({ parent: 'eth1', macvlan_mode: mode }).mode, mode);
    assert.equal(parse({ host_access: '0' }).hostAccess, false);
    assert.deepEqual(canonicalMacvlanOptions({ mtu: '1500' }), { 'com.docker.network.driver.mtu': '1500' });
  });

  void test('IF.VID parents name the 802.1q sub-interface to create', () => {
    assert.deepEqual(parse({ parent: 'eth1.10' }).vlan, { link: 'eth1', vid: 10 });
    assert.deepEqual(parse({ parent: 'bond0.4094' }).vlan, { link: 'bond0', vid: 4094 });
    assert.equal(parse({ parent: 'eth1' }).vlan, undefined);
    throwsUser(() => parse({ parent: 'eth1.0' }), '"0"', '1 to 4094');
    throwsUser(() => parse({ parent: 'eth1.4095' }), '"4095"', '1 to 4094');
  });

  void test('bad values name themselves and what is accepted', () => {
    throwsUser(() => parse({ macvlan_mode: 'brigde' }), '"brigde"', 'bridge, private, vepa, passthru');
    throwsUser(() => parse({ host_access: 'yes' }), '"yes"', 'true or false');
    throwsUser(() => parse({ mtu: '10' }), '"10"', '68 to 65535');
    throwsUser(() => parse({ parent: '' }), '-o parent', 'IF.VID');
    throwsUser(() => parse({ parent: 'a-very-long-interface' }), 'a-very-long-interface', '1-15');
    throwsUser(() => parse({ parent: 'eth/1' }), 'eth/1');
  });

  void test('unknown keys are refused, bridge ones included', () => {
    throwsUser(() => canonicalMacvlanOptions({ mode: 'bridge' }), '"mode"', 'macvlan_mode');
    throwsUser(() => canonicalMacvlanOptions({ 'com.docker.network.bridge.name': 'x' }), 'com.docker.network.bridge.name', 'parent');
  });

  void test('host access needs a mode whose children talk to a sibling shim', () => {
    throwsUser(() => parse({ parent: 'eth1', macvlan_mode: 'private', host_access: 'true' }), 'host_access', 'private', 'bridge or vepa');
    throwsUser(() => parse({ parent: 'eth1', macvlan_mode: 'passthru', host_access: 'true' }), 'host_access', 'passthru');
    assert.equal(parse({ parent: 'eth1', macvlan_mode: 'vepa', host_access: 'true' }).hostAccess, true);
  });
});
