import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { UserError } from '../../src/common/errors.js';
import { parseAddress } from '../../src/ipam/index.js';
import {
  expandPortSpecs,
  formatPortSpec,
  parseExposeSpec,
  parsePublishSpec,
  rangeLength,
  type PortRange,
  type PortSpec,
  type Proto,
} from '../../src/portmap/index.js';
import { throwsUser } from './assert-errors.js';


function spec(hostIp: string | undefined, hostPortRange: PortRange | undefined, containerPortRange: PortRange, proto: Proto = 'tcp'): PortSpec {
  return { hostIp, hostPortRange, containerPortRange, proto };
}

const PUBLISH_FORMS = '[IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/tcp|udp|sctp]';

void describe('parsePublishSpec: accepted forms', () => {
  const cases: [string, PortSpec][] = [
    ['80', spec(undefined, undefined, [80, 80])],
    ['80/udp', spec(undefined, undefined, [80, 80], 'udp')],
    ['80/sctp', spec(undefined, undefined, [80, 80], 'sctp')],
    ['80/UDP', spec(undefined, undefined, [80, 80], 'udp')], // Docker lowercases
    ['80/', spec(undefined, undefined, [80, 80])], // Docker: empty proto is tcp
    ['8080:80', spec(undefined, [8080, 8080], [80, 80])],
    ['0:80', spec(undefined, undefined, [80, 80])], // host port 0 = random
    [':80', spec(undefined, undefined, [80, 80])],
    ['0080:00443', spec(undefined, [80, 80], [443, 443])], // Docker reads base 10, leading zeros allowed
    ['127.0.0.1:8080:80', spec('127.0.0.1', [8080, 8080], [80, 80])],
    ['127.0.0.1::80', spec('127.0.0.1', undefined, [80, 80])],
    ['127.0.0.1:0:80/udp', spec('127.0.0.1', undefined, [80, 80], 'udp')],
    ['[::1]:8080:80', spec('::1', [8080, 8080], [80, 80])],
    ['[2001:DB8:0::68]::333', spec('2001:db8::68', undefined, [333, 333])],
    ['::1:8080:80', spec('::1', [8080, 8080], [80, 80])], // Docker also takes unbracketed IPv6
    ['::::80', spec('::', undefined, [80, 80])],
    ['[1.2.3.4]:1:2', spec('1.2.3.4', [1, 1], [2, 2])],
    ['8000-8002:80-82', spec(undefined, [8000, 8002], [80, 82])],
    ['0.0.0.0:1234-1235:3333-3334/tcp', spec('0.0.0.0', [1234, 1235], [3333, 3334])],
    ['8000-8010:80', spec(undefined, [8000, 8010], [80, 80])],
    ['8080-8080:80', spec(undefined, [8080, 8080], [80, 80])],
    ['80-82', spec(undefined, undefined, [80, 82])],
    ['10.0.0.1::80-82/udp', spec('10.0.0.1', undefined, [80, 82], 'udp')],
    ['1:65535', spec(undefined, [1, 1], [65535, 65535])],
  ];
  for (const [text, expected] of cases) {
    void test(JSON.stringify(text), () => assert.deepEqual(parsePublishSpec(text), expected));
  }
});

void describe('parsePublishSpec: errors name the value and the accepted forms', () => {
  const cases: [string, string[]][] = [
    ['', ['invalid publish spec ""', 'no container port', PUBLISH_FORMS]],
    ['8080:', ['invalid publish spec "8080:"', 'no container port']],
    ['/udp', ['invalid publish spec "/udp"', 'no container port']],
    ['80000', ['invalid port "80000"', 'expected a port from 1 to 65535']],
    ['80000:80', ['invalid port "80000" in "80000:80"', 'from 1 to 65535']],
    ['0', ['invalid port "0"', 'from 1 to 65535']],
    ['8080:0', ['invalid port "0" in "8080:0"']],
    ['-1', ['invalid port range "-1"', 'START-END']],
    ['http', ['invalid port "http"', 'from 1 to 65535']],
    [' 80', ['invalid port " 80"']],
    ['80-90-100', ['invalid port range "80-90-100"', 'START-END']],
    ['0-10:80', ['invalid port "0" in "0-10:80"', 'from 1 to 65535']],
    ['1-70000:80', ['invalid port "70000" in "1-70000:80"']],
    ['1.2.3:80:80', ['invalid publish spec "1.2.3:80:80"', 'host IP "1.2.3"', PUBLISH_FORMS]],
    ['localhost:80:80', ['invalid publish spec "localhost:80:80"', 'host IP "localhost"']],
    ['[::1]:80', ['invalid publish spec "[::1]:80"', 'bracketed IP must be followed by :HOST_PORT:CONTAINER_PORT', PUBLISH_FORMS]],
    ['[::1:80:80', ['invalid publish spec "[::1:80:80"', 'bracketed IP']],
    ['[::1]8080:80', ['bracketed IP']],
    ['[]:80:80', ['host IP ""']],
    ['[::1]]:80:80', ['bracketed IP']],
    ['fe80::1%eth0:80:80', ['host IP "fe80::1%eth0"']],
    ['80/icmp', ['invalid proto "icmp" in "80/icmp"', 'expected tcp, udp or sctp']],
    ['80/tcp/udp', ['invalid proto "tcp/udp"']],
    ['90-80', ['invalid port range "90-80"', 'ends before it starts']],
    ['9000-8000:80', ['invalid port range "9000-8000" in "9000-8000:80"', 'ends before it starts']],
    ['8000-8001:80-82', ['invalid publish spec "8000-8001:80-82"', '8000-8001', '80-82', 'differ in length', 'equal length']],
    ['8080:80-81', ['invalid publish spec "8080:80-81"', 'differ in length']],
  ];
  for (const [text, fragments] of cases) {
    void test(JSON.stringify(text), () => throwsUser(() => parsePublishSpec(text), ...fragments));
  }
});

void describe('formatPortSpec', () => {
  void test('writes canonical text', () => {
    assert.equal(formatPortSpec(parsePublishSpec('80')), '80/tcp');
    assert.equal(formatPortSpec(parsePublishSpec('0:80/UDP')), '80/udp');
    assert.equal(formatPortSpec(parsePublishSpec('::1:8080-8081:80-81')), '[::1]:8080-8081:80-81/tcp');
    assert.equal(formatPortSpec(parsePublishSpec('10.0.0.1::80')), '10.0.0.1::80/tcp');
  });
});

void describe('parseExposeSpec', () => {
  void test('single ports, protocols and ranges', () => {
    assert.deepEqual(parseExposeSpec('80'), [{ port: 80, proto: 'tcp' }]);
    assert.deepEqual(parseExposeSpec('53/UDP'), [{ port: 53, proto: 'udp' }]);
    assert.deepEqual(parseExposeSpec('9/sctp'), [{ port: 9, proto: 'sctp' }]);
    assert.deepEqual(parseExposeSpec('3000-3002/tcp'), [
      { port: 3000, proto: 'tcp' },
      { port: 3001, proto: 'tcp' },
      { port: 3002, proto: 'tcp' },
    ]);
    assert.deepEqual(parseExposeSpec('8080-8080/udp'), [{ port: 8080, proto: 'udp' }]);
  });

  const cases: [string, string[]][] = [
    ['8080:80', ['invalid expose spec "8080:80"', 'PORT[-END][/tcp|udp|sctp]', '-p']],
    [':', ['invalid expose spec ":"']],
    ['', ['invalid expose spec ""', 'no port']],
    ['/tcp', ['invalid expose spec "/tcp"', 'no port']],
    ['80000', ['invalid port "80000"', 'from 1 to 65535']],
    ['NaN-NaN/tcp', ['invalid port range "NaN-NaN" in "NaN-NaN/tcp"']],
    ['8080-NaN/tcp', ['invalid port range "8080-NaN"']],
    ['90-80', ['invalid port range "90-80"', 'ends before it starts']],
    ['8080/ncp', ['invalid proto "ncp" in "8080/ncp"', 'tcp, udp or sctp']],
  ];
  for (const [text, fragments] of cases) {
    void test(`rejects ${JSON.stringify(text)}`, () => throwsUser(() => parseExposeSpec(text), ...fragments));
  }
});

void describe('expandPortSpecs', () => {
  void test('one binding per container port, host ports paired by position', () => {
    assert.deepEqual(expandPortSpecs([parsePublishSpec('127.0.0.1:8000-8001:80-81/udp')], [], false), [
      { hostIp: '127.0.0.1', hostPort: 8000, containerPort: 80, proto: 'udp' },
      { hostIp: '127.0.0.1', hostPort: 8001, containerPort: 81, proto: 'udp' },
    ]);
  });

  void test('random host ports, and a host range to pick from for one container port', () => {
    assert.deepEqual(expandPortSpecs([parsePublishSpec('80-81'), parsePublishSpec('8000-8010:443')], [], false), [
      { hostIp: undefined, hostPort: undefined, containerPort: 80, proto: 'tcp' },
      { hostIp: undefined, hostPort: undefined, containerPort: 81, proto: 'tcp' },
      { hostIp: undefined, hostPort: undefined, hostPortRange: [8000, 8010], containerPort: 443, proto: 'tcp' },
    ]);
  });

  void test('drops identical bindings, keeps one container port on several host ports', () => {
    const specs = ['8080:80', '8080:80', '8081:80', '10.0.0.1:8080:80', '8080:80/udp'].map(parsePublishSpec);
    assert.deepEqual(
      expandPortSpecs(specs, [], false).map((b) => `${b.hostIp ?? '*'}:${b.hostPort}->${b.containerPort}/${b.proto}`),
      ['*:8080->80/tcp', '*:8081->80/tcp', '10.0.0.1:8080->80/tcp', '*:8080->80/udp'],
    );
  });

  void test('-P publishes exposed ports nothing binds yet, each once', () => {
    const exposed = [...parseExposeSpec('80'), ...parseExposeSpec('443'), ...parseExposeSpec('443'), ...parseExposeSpec('53/udp')];
    assert.deepEqual(expandPortSpecs([parsePublishSpec('8080:80')], exposed, true), [
      { hostIp: undefined, hostPort: 8080, containerPort: 80, proto: 'tcp' },
      { hostIp: undefined, hostPort: undefined, containerPort: 443, proto: 'tcp' },
      { hostIp: undefined, hostPort: undefined, containerPort: 53, proto: 'udp' },
    ]);
  });

  void test('without -P exposed ports are not published', () => {
    assert.deepEqual(expandPortSpecs([], parseExposeSpec('80-90'), false), []);
  });
});

// Valid specs, built as values: ranges of matching length, or a pool range for one container port.
const protoArb = fc.constantFrom<Proto>('tcp', 'udp', 'sctp');
const hostIpArb = fc.option(
  fc.oneof(fc.ipV4(), fc.ipV6()).map((ip) => parseAddress(ip).text),
  { nil: undefined },
);
const rangeArb = (maxLength: number): fc.Arbitrary<PortRange> =>
  fc
    .tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: maxLength }))
    .map(([first, length]): PortRange => [first, Math.min(65535, first + length - 1)]);
const specArb: fc.Arbitrary<PortSpec> = fc
  .tuple(hostIpArb, rangeArb(64), protoArb, fc.constantFrom('random', 'paired', 'pool'), rangeArb(64))
  .map(([hostIp, containerPortRange, proto, host, pool]) => {
    const length = rangeLength(containerPortRange);
    const paired = (): PortRange => {
      const first = Math.min(pool[0], 65536 - length);
      return [first, first + length - 1];
    };
    const hostPortRange = host === 'random' ? undefined : host === 'paired' || length > 1 ? paired() : pool;
    return { hostIp, hostPortRange, containerPortRange, proto };
  });

void describe('publish spec properties', () => {
  void test('formatting then parsing gives the same spec', () => {
    fc.assert(fc.property(specArb, (s) => assert.deepEqual(parsePublishSpec(formatPortSpec(s)), s)), { numRuns: 500 });
  });

  void test('a spec expands to one binding per container port', () => {
    fc.assert(
      fc.property(specArb, (s) => {
        const bindings = expandPortSpecs([s], [], false);
        assert.equal(bindings.length, rangeLength(s.containerPortRange));
        assert.deepEqual(
          bindings.map((b) => b.containerPort),
          Array.from({ length: bindings.length }, (_, i) => s.containerPortRange[0] + i),
        );
      }),
    );
  });

  void test('parsing arbitrary text either succeeds or throws a UserError', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom(...'0123456789:-/[].abcdeftpu'.split('')), maxLength: 24 }), (text) => {
        try {
          parsePublishSpec(text);
        } catch (err) {
          assert.ok(err instanceof UserError, `${JSON.stringify(text)} threw ${String(err)}`);
        }
      }),
      { numRuns: 1000 },
    );
  });
});
