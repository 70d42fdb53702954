import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  addressFromValue,
  addressValue,
  cidrContaining,
  cidrContains,
  cidrCovers,
  cidrsOverlap,
  parseAddress,
  parseCidr,
  type Cidr,
  type IpFamily,
} from '../../src/ipam/index.js';
import { throwsUser } from './assert-errors.js';


const familyArb = fc.constantFrom<IpFamily>(4, 6);
const addressArb = familyArb.chain((family) =>
  fc.bigInt({ min: 0n, max: family === 4 ? 2n ** 32n - 1n : 2n ** 128n - 1n }).map((v) => addressFromValue(family, v)),
);
const cidrArb = (family: IpFamily): fc.Arbitrary<Cidr> =>
  fc
    .tuple(fc.bigInt({ min: 0n, max: family === 4 ? 2n ** 32n - 1n : 2n ** 128n - 1n }), fc.integer({ min: 0, max: family === 4 ? 32 : 128 }))
    .map(([v, prefix]) => cidrContaining(addressFromValue(family, v), prefix));
// Pairs that are often nested or equal, so overlap is exercised, not just disjointness.
const cidrPairArb = familyArb.chain((family) =>
  fc.tuple(cidrArb(family), fc.integer({ min: 0, max: family === 4 ? 32 : 128 }), fc.bigInt({ min: 0n, max: 2n ** 128n - 1n })).map(
    ([a, prefix, offset]): [Cidr, Cidr] => {
      const inside = addressFromValue(family, a.first + (offset % (a.last - a.first + 1n)));
      return [a, cidrContaining(inside, prefix)];
    },
  ),
);

void describe('parseAddress', () => {
  void test('parses and canonicalises both families', () => {
    assert.deepEqual(parseAddress('10.0.0.5'), { family: 4, value: 0x0a000005n, text: '10.0.0.5' });
    assert.equal(parseAddress('FD00:0:0::1').text, 'fd00::1');
    assert.equal(parseAddress('FD00:0:0::1').family, 6);
    assert.equal(parseAddress('::').value, 0n);
  });

  for (const bad of ['', 'hello', '10.0.0', '10.0.0.256', '010.0.0.1', ' 10.0.0.1', '10.0.0.1/24', 'fe80::1%eth0', 'fd00::1::2', '1:2:3:4:5:6:7:8:9']) {
    void test(`rejects ${JSON.stringify(bad)} naming it and the accepted forms`, () => {
      throwsUser(() => parseAddress(bad, 'gateway'), 'gateway', JSON.stringify(bad), 'IPv4 address like', 'IPv6 address like');
    });
  }

  void test('round-trips its canonical text', () => {
    fc.assert(fc.property(addressArb, (a) => assert.deepEqual(parseAddress(a.text), a)));
  });
});

void describe('addressValue (the allocator\'s fast read of stored addresses)', () => {
  void test('equals parseAddress(...).value for every canonical address of both families', () => {
    fc.assert(fc.property(addressArb, (a) => assert.equal(addressValue(a.text), a.value)), { numRuns: 2000 });
    assert.equal(addressValue('255.255.255.255'), 0xffffffffn);
    assert.equal(addressValue('0.0.0.0'), 0n);
  });

  for (const bad of ['', '10.0.0', '10.0.0.256', '010.0.0.1', ' 10.0.0.1', '10.0.0.1/24', '1.2.3.4.5']) {
    void test(`refuses ${JSON.stringify(bad)} as parseAddress does`, () => {
      throwsUser(() => addressValue(bad, 'used address'), 'used address', JSON.stringify(bad));
    });
  }
});

void describe('parseCidr', () => {
  void test('parses subnets of both families', () => {
    const v4 = parseCidr('10.0.0.0/24');
    assert.deepEqual(v4, { family: 4, prefix: 24, first: 0x0a000000n, last: 0x0a0000ffn, text: '10.0.0.0/24' });
    const v6 = parseCidr('FD00:0::/64');
    assert.equal(v6.text, 'fd00::/64');
    assert.equal(v6.last - v6.first, 2n ** 64n - 1n);
    assert.equal(parseCidr('0.0.0.0/0').last, 2n ** 32n - 1n);
    assert.equal(parseCidr('10.0.0.7/32').first, 0x0a000007n);
  });

  void test('host bits set: error names the value and suggests the network, as Docker does', () => {
    throwsUser(() => parseCidr('10.0.0.5/24'), '10.0.0.5/24', 'it should be 10.0.0.0/24');
    throwsUser(() => parseCidr('fd00::5/64', 'ip-range'), 'ip-range', 'fd00::5/64', 'fd00::/64');
  });

  void test("hostBits 'mask' returns the containing network", () => {
    assert.equal(parseCidr('192.168.1.77/20', 'route', 'mask').text, '192.168.0.0/20');
  });

  for (const bad of ['10.0.0.0', '10.0.0.0/', '/24', 'x/24', '10.0.0.0/024', '10.0.0.0/-1', '10.0.0.0/2 4', '10.0.0.0/24/1', 'fe80::%eth0/64']) {
    void test(`rejects ${JSON.stringify(bad)} naming it and CIDR notation`, () => {
      throwsUser(() => parseCidr(bad), 'subnet', JSON.stringify(bad), 'CIDR notation');
    });
  }

  void test('rejects prefixes longer than the family allows', () => {
    throwsUser(() => parseCidr('10.0.0.0/33'), '"10.0.0.0/33"', '/0 to /32');
    throwsUser(() => parseCidr('fd00::/129'), '"fd00::/129"', '/0 to /128');
  });

  void test('accepts exactly the aligned networks, and round-trips them', () => {
    fc.assert(
      fc.property(addressArb, fc.integer({ min: 0, max: 128 }), (address, p) => {
        const prefix = address.family === 4 ? p % 33 : p;
        const network = cidrContaining(address, prefix);
        assert.deepEqual(parseCidr(network.text), network);
        const text = `${address.text}/${prefix}`;
        if (network.first === address.value) assert.deepEqual(parseCidr(text), network);
        else throwsUser(() => parseCidr(text), text, network.text);
      }),
    );
  });
});

void describe('containment and overlap', () => {
  void test('examples', () => {
    const net = parseCidr('10.0.0.0/16');
    assert.ok(cidrContains(net, parseAddress('10.0.255.255')));
    assert.ok(!cidrContains(net, parseAddress('10.1.0.0')));
    assert.ok(!cidrContains(parseCidr('::/0'), parseAddress('10.0.0.1')), 'families never mix');
    assert.ok(cidrCovers(net, parseCidr('10.0.4.0/24')));
    assert.ok(!cidrCovers(parseCidr('10.0.4.0/24'), net));
    assert.ok(cidrsOverlap(net, parseCidr('10.0.0.0/8')));
    assert.ok(!cidrsOverlap(net, parseCidr('10.1.0.0/16')));
    assert.ok(!cidrsOverlap(parseCidr('0.0.0.0/0'), parseCidr('::/0')));
  });

  void test('overlap is symmetric and means one block nests in the other', () => {
    fc.assert(
      fc.property(cidrPairArb, ([a, b]) => {
        assert.equal(cidrsOverlap(a, b), cidrsOverlap(b, a));
        assert.equal(cidrsOverlap(a, b), cidrCovers(a, b) || cidrCovers(b, a));
      }),
    );
  });

  void test('overlap across independent blocks agrees with shared addresses', () => {
    fc.assert(
      fc.property(familyArb.chain((f) => fc.tuple(cidrArb(f), cidrArb(f))), ([a, b]) => {
        const shares = cidrContains(a, addressFromValue(b.family, b.first)) || cidrContains(b, addressFromValue(a.family, a.first));
        assert.equal(cidrsOverlap(a, b), shares);
      }),
    );
  });

  void test('a block contains exactly its first..last addresses', () => {
    fc.assert(
      fc.property(cidrPairArb, ([a]) => {
        const at = (v: bigint): boolean => cidrContains(a, addressFromValue(a.family, v));
        assert.ok(at(a.first) && at(a.last));
        if (a.first > 0n) assert.ok(!at(a.first - 1n));
        if (a.last < (a.family === 4 ? 2n ** 32n - 1n : 2n ** 128n - 1n)) assert.ok(!at(a.last + 1n));
      }),
    );
  });
});
