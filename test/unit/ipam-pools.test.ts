import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import {
  DEFAULT_POOLS,
  addressFromValue,
  cidrContaining,
  cidrCovers,
  cidrsOverlap,
  parseAddressPool,
  parseCidr,
  pickFreeSubnet,
  pickUlaSubnet,
  type Cidr,
} from '../../src/ipam/index.js';
import { throwsUser } from './assert-errors.js';


const cidrs = (...texts: string[]): Cidr[] => texts.map((t) => parseCidr(t, 'taken', 'mask'));

/** Every subnet the default pools offer, in order (31 of them). */
const allDefaultSubnets: Cidr[] = DEFAULT_POOLS.flatMap(({ base, size }) => {
  const out: Cidr[] = [];
  for (let c = cidrContaining(addressFromValue(4, base.first), size); cidrCovers(base, c); ) {
    out.push(c);
    if (c.last + 1n > base.last) break;
    c = cidrContaining(addressFromValue(4, c.last + 1n), size);
  }
  return out;
});

void describe('default pools', () => {
  void test("are Docker's: 172.17-31.0.0/16, then 192.168.0.0/16 as /20s", () => {
    assert.equal(allDefaultSubnets.length, 15 + 16);
    assert.equal(allDefaultSubnets[0]?.text, '172.17.0.0/16');
    assert.equal(allDefaultSubnets[14]?.text, '172.31.0.0/16');
    assert.equal(allDefaultSubnets[15]?.text, '192.168.0.0/20');
    assert.equal(allDefaultSubnets[30]?.text, '192.168.240.0/20');
  });

  void test('parseAddressPool rejects a size outside base prefix..family bits', () => {
    throwsUser(() => parseAddressPool('10.0.0.0/8', 7), 'size 7', '10.0.0.0/8', 'from 8 to 32');
    throwsUser(() => parseAddressPool('10.0.0.0/8', 33), 'size 33');
    throwsUser(() => parseAddressPool('10.0.0.1/8', 24), '10.0.0.1/8', '10.0.0.0/8');
  });
});

void describe('pickFreeSubnet', () => {
  void test('first pool subnet overlapping nothing taken', () => {
    assert.equal(pickFreeSubnet(DEFAULT_POOLS, []).text, '172.17.0.0/16');
    assert.equal(pickFreeSubnet(DEFAULT_POOLS, cidrs('172.17.0.0/16', '172.18.5.9/24')).text, '172.19.0.0/16');
    // a host route covering 172.16.0.0/12 takes every 172 pool at once
    assert.equal(pickFreeSubnet(DEFAULT_POOLS, cidrs('172.16.0.0/12', '192.168.1.7/24')).text, '192.168.16.0/20');
    assert.equal(pickFreeSubnet(DEFAULT_POOLS, cidrs('fd00::/8')).text, '172.17.0.0/16', 'other family ignored');
  });

  void test("exhaustion gives Docker's message", () => {
    throwsUser(
      () => pickFreeSubnet(DEFAULT_POOLS, cidrs('172.16.0.0/12', '192.168.0.0/16')),
      'could not find an available, non-overlapping IPv4 address pool among the defaults',
    );
  });

  void test('skips a large taken block without walking it (10.0.0.0/8 as /30s)', () => {
    const pools = [parseAddressPool('10.0.0.0/8', 30)];
    assert.equal(pickFreeSubnet(pools, cidrs('10.0.0.0/9', '10.128.0.0/30')).text, '10.128.0.4/30');
  });

  void test('property: the answer overlaps nothing taken and is the first such default subnet', () => {
    const takenArb = fc.array(
      fc
        .tuple(fc.constantFrom(0xac100000n, 0xc0a80000n, 0x0a000000n), fc.bigInt({ min: 0n, max: 0xfffffn }), fc.integer({ min: 11, max: 32 }))
        .map(([base, offset, prefix]) => cidrContaining(addressFromValue(4, base + offset * 16n), prefix)),
      { maxLength: 40 },
    );
    fc.assert(
      fc.property(takenArb, (taken) => {
        const expected = allDefaultSubnets.find((c) => !taken.some((t) => cidrsOverlap(t, c)));
        if (expected === undefined) {
          throwsUser(() => pickFreeSubnet(DEFAULT_POOLS, taken), 'could not find an available');
        } else {
          assert.equal(pickFreeSubnet(DEFAULT_POOLS, taken).text, expected.text);
        }
      }),
    );
  });
});

void describe('pickUlaSubnet', () => {
  const bytes =
    (...draws: number[][]) =>
    (): Uint8Array => {
      const next = draws.shift();
      assert.ok(next, 'asked for more random bytes than expected');
      return Uint8Array.from(next);
    };

  void test('fd + 40 random bits + subnet id 0, as a /64', () => {
    assert.equal(pickUlaSubnet([], bytes([0x12, 0x34, 0x56, 0x78, 0x9a])).text, 'fd12:3456:789a::/64');
  });

  void test('draws again when the first pick overlaps something taken', () => {
    const picked = pickUlaSubnet(cidrs('fd12:3456:789a::/48'), bytes([0x12, 0x34, 0x56, 0x78, 0x9a], [0xab, 0, 0, 0, 1]));
    assert.equal(picked.text, 'fdab:0:1::/64');
  });

  void test('gives up with a UserError when everything overlaps', () => {
    throwsUser(() => pickUlaSubnet(cidrs('fd00::/8')), 'could not find a free IPv6 unique-local /64', '--subnet');
  });

  void test('property: always a /64 inside fd00::/8 with subnet id 0', () => {
    const ula = parseCidr('fd00::/8');
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 5, maxLength: 5 }), (random) => {
        const picked = pickUlaSubnet([], () => random);
        assert.equal(picked.prefix, 64);
        assert.ok(cidrCovers(ula, picked));
        assert.equal((picked.first >> 64n) % 0x10000n, 0n, 'subnet id must be 0');
        assert.equal(picked.first >> 80n, (0xfdn << 40n) + BigInt('0x' + Buffer.from(random).toString('hex')));
      }),
    );
  });
});
