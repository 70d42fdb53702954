// Pure parts of the kernel layer: attribute encoding, address conversions, name validation.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import { validateIfName } from '../../src/common/ifname.js';
import { bufferToIp, bufferToMac, ipToBuffer, macToBuffer, parseCidr, AF_INET, AF_INET6 } from '../../src/kernel/addr.js';
import { nla, nlaNested, nlaString, nlaToString, nlaU16be, nlaU32, parseNla, NLA_F_NESTED } from '../../src/kernel/nla.js';

describe('netlink attributes', () => {
  it('pads to 4 bytes and records the unpadded length', () => {
    const a = nla(3, Buffer.from([1, 2, 3, 4, 5]));
    assert.equal(a.length, 12);
    assert.equal(a.readUInt16LE(0), 9);
    assert.equal(a.readUInt16LE(2), 3);
  });
  it('encodes strings NUL-terminated, u32 little-endian, ports big-endian', () => {
    assert.deepEqual([...nlaString(1, 'veth')], [9, 0, 1, 0, 0x76, 0x65, 0x74, 0x68, 0, 0, 0, 0]);
    assert.deepEqual([...nlaU32(1, 4096).subarray(4)], [0, 16, 0, 0]);
    assert.deepEqual([...nlaU16be(15, 4789).subarray(4, 6)], [0x12, 0xb5]);
  });
  it('round-trips nested attributes and strips the nested flag', () => {
    const nested = nlaNested(2, [nlaU32(1, 7), nlaString(3, 'br0')]);
    assert.equal(nested.readUInt16LE(2), 2 | NLA_F_NESTED);
    const outer = parseNla(Buffer.concat([nlaString(1, 'bridge'), nested]));
    assert.equal(nlaToString(outer.get(1) as Buffer), 'bridge');
    const inner = parseNla(outer.get(2) as Buffer);
    assert.equal((inner.get(1) as Buffer).readUInt32LE(0), 7);
    assert.equal(nlaToString(inner.get(3) as Buffer), 'br0');
  });
  it('stops at a truncated attribute instead of reading past the buffer', () => {
    const b = nlaU32(1, 1);
    b.writeUInt16LE(200, 0);
    assert.equal(parseNla(b).size, 0);
  });
});

describe('address conversions', () => {
  it('round-trips IPv4 and IPv6 in canonical form', () => {
    assert.deepEqual([...ipToBuffer('10.1.2.3')], [10, 1, 2, 3]);
    assert.equal(bufferToIp(ipToBuffer('10.1.2.3')), '10.1.2.3');
    assert.equal(bufferToIp(ipToBuffer('fd00:0:0::0001')), 'fd00::1');
    assert.equal(bufferToIp(ipToBuffer('::1')), '::1');
    assert.equal(ipToBuffer('::').length, 16);
  });
  it('parses interface CIDRs and rejects bad ones, naming them', () => {
    assert.deepEqual(parseCidr('10.0.0.2/24'), { ip: '10.0.0.2', prefixLen: 24, family: AF_INET });
    assert.deepEqual(parseCidr('FD00::2/64'), { ip: 'fd00::2', prefixLen: 64, family: AF_INET6 });
    for (const bad of ['10.0.0.2', '10.0.0.2/33', '10.0.0.256/24', 'fd00::1/129', 'x/24', '']) {
      assert.throws(() => parseCidr(bad), (e: Error) => e instanceof UserError && e.message.includes(`"${bad}"`));
    }
  });
  it('round-trips MAC addresses and rejects malformed ones', () => {
    assert.equal(bufferToMac(macToBuffer('02:42:AC:11:00:02')), '02:42:ac:11:00:02');
    assert.throws(() => macToBuffer('02:42:ac:11:00'), /invalid MAC address "02:42:ac:11:00"/);
  });
});

describe('interface names', () => {
  it('accepts what the kernel accepts', () => {
    for (const ok of ['eth0', 'br-0123456789ab', 'veth1234567', 'a', 'x.y_z-1']) assert.equal(validateIfName(ok), ok);
  });
  it('rejects long names and illegal characters with the accepted form', () => {
    for (const bad of ['', 'abcdefghijklmnop', 'a/b', 'a:b', 'a b', '.', '..', 'ééééééééé']) {
      assert.throws(() => validateIfName(bad), (e: Error) => e instanceof UserError && /1-15 bytes/.test(e.message));
    }
  });
});
