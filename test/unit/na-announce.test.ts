// The unsolicited neighbour advertisement berth announces a remote overlay endpoint's IPv6
// addresses with (kernel/na-announce.ts): the layout Linux's ndisc_recv_na accepts (hop limit 255,
// a valid checksum, override without solicited), and refusal of bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { naFrame } from '../../src/kernel/na-announce.js';

const MAC = Buffer.from([0x02, 0x42, 0x0a, 0x8c, 0x08, 0x13]);
// fd00:8c::13
const IP = Buffer.from([0xfd, 0, 0, 0x8c, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x13]);
const ALL_NODES = Buffer.from([0xff, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

/** One's complement sum over pseudo-header + ICMPv6 message, folded: 0xffff when the checksum is right. */
function verify(f: Buffer): number {
  const icmp = f.subarray(54);
  const pseudo = Buffer.concat([f.subarray(22, 38), f.subarray(38, 54), Buffer.from([0, 0, 0, icmp.length, 0, 0, 0, 58])]);
  let sum = 0;
  for (const b of [pseudo, icmp]) for (let i = 0; i < b.length; i += 2) sum += (b[i] as number) * 256 + (b[i + 1] ?? 0);
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

test('an unsolicited neighbour advertisement: to ff02::1, hop limit 255, override only, target = sender', () => {
  const f = naFrame({ ip: 'fd00:8c::13', mac: '02:42:0a:8c:08:13' });
  assert.equal(f.length, 14 + 40 + 32);
  assert.deepEqual(f.subarray(0, 6), Buffer.from([0x33, 0x33, 0, 0, 0, 1]), "to ff02::1's multicast MAC");
  assert.deepEqual(f.subarray(6, 12), MAC, 'from the endpoint MAC');
  assert.equal(f.readUInt16BE(12), 0x86dd, 'ethertype IPv6');
  assert.equal(f[14] as number >> 4, 6, 'IPv6');
  assert.equal(f.readUInt16BE(18), 32, 'payload length');
  assert.deepEqual([f[20], f[21]], [58, 255], 'ICMPv6, hop limit 255 (Linux drops ND with any other)');
  assert.deepEqual(f.subarray(22, 38), IP, 'source: the address itself');
  assert.deepEqual(f.subarray(38, 54), ALL_NODES, 'destination ff02::1');
  assert.deepEqual([f[54], f[55]], [136, 0], 'neighbour advertisement, code 0');
  assert.equal(verify(f), 0xffff, 'the ICMPv6 checksum is right');
  assert.equal(f.readUInt32BE(58), 0x20000000, 'override; not solicited (Linux drops a solicited NA to multicast), not router');
  assert.deepEqual(f.subarray(62, 78), IP, 'target');
  assert.deepEqual([f[78], f[79]], [2, 1], 'target link-layer address option, 8 bytes');
  assert.deepEqual(f.subarray(80, 86), MAC, 'its MAC');
});

test('bad addresses are refused, naming the value', () => {
  assert.throws(() => naFrame({ ip: '10.0.0.1', mac: '02:42:0a:8c:08:13' }), /invalid IPv6 address "10\.0\.0\.1"/);
  assert.throws(() => naFrame({ ip: 'ff02::1', mac: '02:42:0a:8c:08:13' }), /invalid IPv6 address "ff02::1": a multicast/);
  assert.throws(() => naFrame({ ip: 'fd00::1', mac: '02:42:0a:8c:08' }), /invalid MAC address "02:42:0a:8c:08"/);
});
