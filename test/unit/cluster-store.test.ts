// The pure parts of the cluster store: key layout, VNI/subnet/address picking, record checks.
// No etcd here: test/integration/cluster-store.test.ts runs the store against a real cluster.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError, SystemError } from '../../src/common/errors.js';
import { chooseSubnets, pickAddress, pickVni, checkRequestedVni, subnetFor } from '../../src/store/cluster-alloc.js';
import { ClusterUnreachableError, parseEndpoints } from '../../src/store/cluster-etcd.js';
import { ClusterKeys, VNI_MAX, VNI_MIN, parseVniSegment, prefixRangeEnd, vniSegment } from '../../src/store/cluster-keys.js';
import { checkEndpointRecord, checkHostRegistration, checkNewClusterNetwork } from '../../src/store/cluster-records.js';
import { throwsUser } from './assert-errors.js';

const NET = 'a'.repeat(64);
const EP = 'b'.repeat(64);

void test('key layout: versioned prefix, one key per record, prefixes end in a slash', () => {
  const k = new ClusterKeys();
  assert.equal(k.network(NET), `/berth/v1/networks/id/${NET}`);
  assert.equal(k.networkName('web'), '/berth/v1/networks/name/web');
  assert.equal(k.vni(4096), '/berth/v1/vnis/00004096');
  assert.equal(k.ipam(NET, '10.0.0.2'), `/berth/v1/ipam/${NET}/10.0.0.2`);
  assert.equal(k.endpoint(NET, EP), `/berth/v1/endpoints/${NET}/${EP}`);
  assert.equal(k.endpointsPrefix(), '/berth/v1/endpoints/');
  assert.equal(k.host('host-1'), '/berth/v1/hosts/host-1');
  assert.equal(new ClusterKeys('/test/x').hostsPrefix(), '/test/x/hosts/');
  throwsUser(() => new ClusterKeys('/berth/'), 'invalid cluster store prefix "/berth/"');
  throwsUser(() => k.network('web'), 'invalid network id "web"', '64 lowercase hex digits');
  throwsUser(() => k.host('-x'), 'invalid host id "-x"');
  throwsUser(() => k.host('a/b'), 'invalid host id "a/b"');
});

void test('VNI keys sort numerically; parse back only valid ones', () => {
  assert.ok(vniSegment(9999) < vniSegment(10_000));
  assert.equal(parseVniSegment('00004096'), 4096);
  assert.equal(parseVniSegment('00000001'), undefined);
  assert.equal(parseVniSegment('4096'), undefined);
  throwsUser(() => vniSegment(VNI_MAX + 1), `invalid VNI ${VNI_MAX + 1}`, `from ${VNI_MIN} to ${VNI_MAX}`);
});

void test('prefix range end: last byte plus one', () => {
  assert.equal(prefixRangeEnd('/a/').toString(), '/a0');
  assert.equal(prefixRangeEnd('ab').toString(), 'ac');
  assert.deepEqual(prefixRangeEnd(Buffer.from([0x61, 0xff])), Buffer.from([0x62]));
});

void test('pickVni: lowest free from 4096; a requested VNI must be free and in range', () => {
  assert.equal(pickVni([]), 4096);
  assert.equal(pickVni([4096, 4097, 4099]), 4098);
  assert.equal(checkRequestedVni(5000, undefined), 5000);
  assert.throws(() => checkRequestedVni(5000, 'web'), (e: unknown) => e instanceof ConflictError && /VNI 5000 is already used by overlay network web/.test(e.message));
  throwsUser(() => checkRequestedVni(42, undefined), 'invalid VNI 42', 'from 4096');
});

void test('chooseSubnets: given ones must not overlap other overlays; defaults are free /24s of 10.0.0.0/8', () => {
  const existing = [
    { name: 'a', subnets: [{ subnet: '10.0.0.0/24' }] },
    { name: 'b', subnets: [{ subnet: '10.0.1.0/24' }, { subnet: 'fd00:1::/64' }] },
  ];
  assert.deepEqual(chooseSubnets([], false, existing), [{ subnet: '10.0.2.0/24' }]);
  assert.deepEqual(chooseSubnets([{ subnet: '192.168.5.0/24' }], false, existing), [{ subnet: '192.168.5.0/24' }]);
  assert.throws(
    () => chooseSubnets([{ subnet: '10.0.0.0/16' }], false, existing),
    (e: unknown) => e instanceof ConflictError && e.message === 'subnet 10.0.0.0/16 overlaps 10.0.0.0/24 of overlay network a; choose a disjoint subnet',
  );
  const dual = chooseSubnets([], true, existing);
  assert.equal(dual.length, 2);
  assert.match(dual[1]?.subnet ?? '', /^fd[0-9a-f]{2}:/);
});

void test('subnetFor and pickAddress: gateway and reserved addresses are never handed out', () => {
  const net = { name: 'ov', subnets: [{ subnet: '10.50.0.0/24', gateway: '10.50.0.1', auxAddresses: { r: '10.50.0.2' } }, { subnet: 'fd00:50::/64' }] };
  const v4 = subnetFor(net);
  assert.equal(v4.cidr.text, '10.50.0.0/24');
  assert.equal(pickAddress(v4, []), '10.50.0.3');
  assert.equal(pickAddress(v4, ['10.50.0.3', '10.50.0.5']), '10.50.0.4');
  assert.equal(subnetFor(net, { family: 6 }).cidr.text, 'fd00:50::/64');
  assert.equal(subnetFor(net, { address: 'fd00:50::9' }).cidr.text, 'fd00:50::/64');
  assert.equal(pickAddress(v4, ['10.50.0.3'], '10.50.0.200'), '10.50.0.200');
  throwsUser(() => pickAddress(v4, [], '10.50.0.1'), 'requested address 10.50.0.1 is the gateway of 10.50.0.0/24');
  assert.throws(() => pickAddress(v4, ['10.50.0.9'], '10.50.0.9'), ConflictError);
  throwsUser(() => subnetFor(net, { address: '10.9.0.1' }), 'requested address 10.9.0.1 is in no subnet of network ov', '10.50.0.0/24, fd00:50::/64');
  throwsUser(() => subnetFor({ name: 'v6', subnets: [{ subnet: 'fd00::/64' }] }), 'network v6 has no IPv4 subnet');
  const full = subnetFor({ name: 'tiny', subnets: [{ subnet: '10.1.0.0/30' }] });
  assert.equal(pickAddress(full, []), '10.1.0.2');
  throwsUser(() => pickAddress(full, ['10.1.0.2']), 'no free address in 10.1.0.0/30');
});

void test('network records: overlay, swarm scope, validated like local networks', () => {
  const r = checkNewClusterNetwork({ name: 'web', options: { encrypted: '' } }, [{ subnet: '10.0.0.0/24' }], 'h1');
  assert.equal(r.driver, 'overlay');
  assert.equal(r.scope, 'swarm');
  assert.equal(r.createdBy, 'h1');
  assert.deepEqual(r.subnets, [{ subnet: '10.0.0.0/24', gateway: '10.0.0.1', auxAddresses: {} }]);
  throwsUser(() => checkNewClusterNetwork({ name: 'bad/name' }, [{ subnet: '10.0.0.0/24' }], 'h1'), 'invalid network name "bad/name"');
  throwsUser(() => checkNewClusterNetwork({ name: 'x' }, [{ subnet: '10.0.0.5/24' }], 'h1'), 'host bits are set');
});

void test('endpoint records: canonical addresses, lowercase MAC, VTEP from the host', () => {
  const e = checkEndpointRecord(
    { id: EP, networkId: NET, containerId: 'ctr1', containerName: 'web-1', mac: '02:42:0A:00:00:02', ipv4: '10.0.0.2', ipv6: 'FD00:0::2' },
    'h1',
    '192.0.2.1',
  );
  assert.deepEqual(e, {
    id: EP,
    networkId: NET,
    hostId: 'h1',
    containerId: 'ctr1',
    containerName: 'web-1',
    mac: '02:42:0a:00:00:02',
    ipv4: '10.0.0.2',
    ipv6: 'fd00::2',
    vtep: '192.0.2.1',
    aliases: [],
  });
  const base = { id: EP, networkId: NET, containerId: 'c', containerName: 'c', mac: '02:42:0a:00:00:02', ipv4: '10.0.0.2', ipv6: null };
  throwsUser(() => checkEndpointRecord({ ...base, mac: '02:42' }, 'h1', '192.0.2.1'), 'invalid MAC address "02:42"', 'six hex pairs');
  throwsUser(() => checkEndpointRecord({ ...base, ipv4: 'fd00::1' }, 'h1', '192.0.2.1'), 'invalid endpoint IPv4 address "fd00::1"');
  throwsUser(() => checkEndpointRecord({ ...base, ipv4: null }, 'h1', '192.0.2.1'), 'has no address');
  throwsUser(() => checkEndpointRecord({ ...base, id: 'x' }, 'h1', '192.0.2.1'), 'invalid endpoint id "x"');
});

void test('host records: VTEP defaults to the advertise address; WireGuard info is checked', () => {
  const h = checkHostRegistration('h1', { advertiseAddress: '192.0.2.1' });
  assert.equal(h.vtep, '192.0.2.1');
  assert.equal(h.wireguard, null);
  const key = 'mF0xI3vQ7zV4y1nD2b6cJ8kL0pR5sT9uW3xY7zA1bC4=';
  const wg = checkHostRegistration('h1', { advertiseAddress: '192.0.2.1', wireguard: { publicKey: key, endpoint: '192.0.2.1:51820', tunnelAddress: '10.255.0.1' } });
  assert.deepEqual(wg.wireguard, { publicKey: key, endpoint: '192.0.2.1:51820', tunnelAddress: '10.255.0.1' });
  throwsUser(() => checkHostRegistration('h1', { advertiseAddress: '192.0.2.1', wireguard: { publicKey: 'abc', endpoint: '192.0.2.1:51820' } }), 'invalid WireGuard public key "abc"');
  throwsUser(() => checkHostRegistration('h1', { advertiseAddress: '192.0.2.1', wireguard: { publicKey: key, endpoint: '192.0.2.1' } }), 'invalid WireGuard endpoint "192.0.2.1"', 'IP:PORT');
  throwsUser(() => checkHostRegistration('h1', { advertiseAddress: 'host' }), 'invalid advertise address "host"');
});

void test('etcd endpoints: H:P, with or without etcd:// or http://', () => {
  assert.deepEqual(parseEndpoints(['etcd://10.0.0.1:2379', 'http://10.0.0.2:2379', '[fd00::3]:2379']), ['10.0.0.1:2379', '10.0.0.2:2379', '[fd00::3]:2379']);
  throwsUser(() => parseEndpoints([]), 'no etcd endpoint given');
  throwsUser(() => parseEndpoints(['10.0.0.1']), 'invalid etcd endpoint "10.0.0.1"', 'HOST:PORT');
  throwsUser(() => parseEndpoints(['https://10.0.0.1:2379']), 'invalid etcd endpoint', 'TLS is not supported');
});

void test('ClusterUnreachableError names every endpoint and the cause; exit status 3', () => {
  const e = new ClusterUnreachableError(['10.0.0.1:2379', '10.0.0.2:2379'], 'no answer within 2500 ms');
  assert.equal(e.message, 'cluster store unreachable (etcd at 10.0.0.1:2379, 10.0.0.2:2379): no answer within 2500 ms');
  assert.ok(e instanceof SystemError);
  assert.equal(e.exitCode, 3);
});
