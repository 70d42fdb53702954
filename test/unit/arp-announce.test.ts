// The gratuitous ARP frame berth announces a remote overlay endpoint with (kernel/arp-announce.ts):
// the layout Linux's arp_process takes as a gratuitous reply, and refusal of bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { garpFrame } from '../../src/kernel/arp-announce.js';

test('a gratuitous ARP reply: broadcast, sender = target, padded to 60 bytes', () => {
  const f = garpFrame({ ip: '10.140.8.19', mac: '02:42:0a:8c:08:13' });
  const mac = Buffer.from([0x02, 0x42, 0x0a, 0x8c, 0x08, 0x13]);
  const ip = Buffer.from([10, 140, 8, 19]);
  assert.equal(f.length, 60);
  assert.deepEqual(f.subarray(0, 6), Buffer.alloc(6, 0xff), 'to the broadcast address');
  assert.deepEqual(f.subarray(6, 12), mac, 'from the endpoint MAC');
  assert.equal(f.readUInt16BE(12), 0x0806, 'ethertype ARP');
  assert.deepEqual([f.readUInt16BE(14), f.readUInt16BE(16), f[18], f[19]], [1, 0x0800, 6, 4], 'Ethernet/IPv4');
  assert.equal(f.readUInt16BE(20), 2, 'a reply: the VXLAN proxy answers only requests, so it stays local');
  assert.deepEqual(f.subarray(22, 28), mac, 'sender MAC');
  assert.deepEqual(f.subarray(28, 32), ip, 'sender IP');
  // Linux counts a reply as gratuitous (and lets it override a recent entry) only if tha == sha and tip == sip
  assert.deepEqual(f.subarray(32, 38), mac, 'target MAC = sender MAC');
  assert.deepEqual(f.subarray(38, 42), ip, 'target IP = sender IP');
  assert.deepEqual(f.subarray(42), Buffer.alloc(18), 'zero padding');
});

test('bad addresses are refused, naming the value', () => {
  assert.throws(() => garpFrame({ ip: '10.0.0.256', mac: '02:42:0a:8c:08:13' }), /invalid IPv4 address "10\.0\.0\.256"/);
  assert.throws(() => garpFrame({ ip: 'fd00::1', mac: '02:42:0a:8c:08:13' }), /invalid IPv4 address "fd00::1"/);
  assert.throws(() => garpFrame({ ip: '10.0.0.1', mac: '02:42:0a:8c:08' }), /invalid MAC address "02:42:0a:8c:08"/);
});
