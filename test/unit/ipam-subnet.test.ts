import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  firstHostAddress,
  parseCidr,
  toSubnetConfig,
  validateSubnetConfig,
  validateSubnetConfigs,
  type SubnetConfig,
} from '../../src/ipam/index.js';
import { throwsUser } from './assert-errors.js';


void describe('validateSubnetConfig', () => {
  void test('default gateway is the first host address', () => {
    assert.equal(validateSubnetConfig({ subnet: '172.18.0.0/16' }).gateway.text, '172.18.0.1');
    assert.equal(validateSubnetConfig({ subnet: 'fd12:3456:789a::/64' }).gateway.text, 'fd12:3456:789a::1');
    // /31 and /32 have no network or broadcast address (RFC 3021), as in Docker's IPAM.
    assert.equal(validateSubnetConfig({ subnet: '10.0.0.4/31' }).gateway.text, '10.0.0.4');
    assert.equal(validateSubnetConfig({ subnet: '10.0.0.9/32' }).gateway.text, '10.0.0.9');
    assert.equal(firstHostAddress(parseCidr('fd00::/127')).text, 'fd00::1');
  });

  void test('a full config is checked and normalised', () => {
    const config: SubnetConfig = {
      subnet: '172.28.0.0/16',
      gateway: '172.28.5.254',
      ipRange: '172.28.5.0/24',
      auxAddresses: { 'my-router': '172.28.1.5', host1: '172.28.1.6' },
    };
    const subnet = validateSubnetConfig(config);
    assert.equal(subnet.cidr.text, '172.28.0.0/16');
    assert.equal(subnet.ipRange?.text, '172.28.5.0/24');
    assert.equal(subnet.auxAddresses.get('my-router')?.text, '172.28.1.5');
    assert.deepEqual(toSubnetConfig(subnet), config);
    assert.deepEqual(toSubnetConfig(validateSubnetConfig({ subnet: 'FD00:0::/64' })), {
      subnet: 'fd00::/64',
      gateway: 'fd00::1',
      auxAddresses: {},
    });
  });

  const bad: [string, SubnetConfig, ...string[]][] = [
    ['unparsable subnet', { subnet: '10.0.0/24' }, '"10.0.0/24"', 'CIDR notation'],
    ['subnet with host bits', { subnet: '10.0.0.5/24' }, '10.0.0.5/24', '10.0.0.0/24'],
    ['subnet without host addresses', { subnet: 'fd00::1/128' }, 'fd00::1/128', 'no host address'],
    ['unparsable gateway', { subnet: '10.0.0.0/24', gateway: '10.0.0.300' }, 'gateway', '"10.0.0.300"'],
    ['gateway outside the subnet', { subnet: '10.0.0.0/24', gateway: '10.0.1.1' }, 'gateway 10.0.1.1', 'not inside', '10.0.0.1-10.0.0.254'],
    ['gateway = network address', { subnet: '10.0.0.0/24', gateway: '10.0.0.0' }, 'gateway 10.0.0.0', 'network address'],
    ['gateway = broadcast address', { subnet: '10.0.0.0/24', gateway: '10.0.0.255' }, 'gateway 10.0.0.255', 'broadcast address'],
    ['gateway = IPv6 network address', { subnet: 'fd00::/64', gateway: 'fd00::' }, 'gateway fd00::', 'network address'],
    ['gateway of the other family', { subnet: '10.0.0.0/24', gateway: 'fd00::1' }, 'gateway fd00::1', 'IPv6', 'IPv4'],
    ['gateway with a prefix', { subnet: '10.0.0.0/24', gateway: '10.0.0.1/24' }, '"10.0.0.1/24"'],
    ['ip-range outside the subnet', { subnet: '10.0.0.0/24', ipRange: '10.0.1.0/28' }, 'ip-range 10.0.1.0/28', 'not inside subnet 10.0.0.0/24'],
    ['ip-range wider than the subnet', { subnet: '10.0.0.0/24', ipRange: '10.0.0.0/16' }, 'ip-range 10.0.0.0/16'],
    ['ip-range with host bits', { subnet: '10.0.0.0/24', ipRange: '10.0.0.5/28' }, 'ip-range', '10.0.0.0/28'],
    ['ip-range of the other family', { subnet: '10.0.0.0/24', ipRange: 'fd00::/120' }, 'ip-range fd00::/120'],
    ['aux outside the subnet', { subnet: '10.0.0.0/24', auxAddresses: { r: '10.9.0.1' } }, 'aux-address r', '10.9.0.1', 'not inside'],
    ['aux = gateway', { subnet: '10.0.0.0/24', auxAddresses: { r: '10.0.0.1' } }, 'aux-address r=10.0.0.1', 'the gateway'],
    ['aux twice', { subnet: '10.0.0.0/24', auxAddresses: { a: '10.0.0.9', b: '10.0.0.9' } }, 'aux-address b=10.0.0.9', 'aux-address a'],
    ['aux = broadcast', { subnet: '10.0.0.0/24', auxAddresses: { r: '10.0.0.255' } }, 'aux-address r', 'broadcast'],
    ['aux unparsable', { subnet: '10.0.0.0/24', auxAddresses: { r: 'router' } }, 'aux-address r', '"router"'],
    ['aux bad name', { subnet: '10.0.0.0/24', auxAddresses: { 'a b': '10.0.0.9' } }, 'aux-address name', '"a b"'],
  ];
  for (const [why, config, ...fragments] of bad) {
    void test(`rejects ${why}`, () => throwsUser(() => validateSubnetConfig(config), ...fragments));
  }
});

void describe('validateSubnetConfigs', () => {
  void test('accepts disjoint subnets of both families', () => {
    const subnets = validateSubnetConfigs([{ subnet: '10.0.0.0/24' }, { subnet: '10.0.1.0/24' }, { subnet: 'fd00::/64' }]);
    assert.deepEqual(subnets.map((s) => s.cidr.text), ['10.0.0.0/24', '10.0.1.0/24', 'fd00::/64']);
  });

  void test('rejects overlapping subnets, naming both', () => {
    throwsUser(() => validateSubnetConfigs([{ subnet: '10.0.0.0/16' }, { subnet: '10.0.3.0/24' }]), '10.0.3.0/24', '10.0.0.0/16', 'overlaps');
    throwsUser(() => validateSubnetConfigs([{ subnet: 'fd00::/64' }, { subnet: 'fd00::/64' }]), 'fd00::/64');
  });
});
