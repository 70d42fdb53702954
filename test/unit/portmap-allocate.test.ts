import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { ConflictError } from '../../src/common/errors.js';
import {
  EPHEMERAL_PORT_RANGE,
  formatBinding,
  formatBindings,
  inspectPortMap,
  parseExposeSpec,
  pickHostPort,
  type PortBinding,
  type PortTaken,
  type PublishedPort,
} from '../../src/portmap/index.js';
import { throwsUser } from './assert-errors.js';


const randomBinding: PortBinding = { hostIp: undefined, hostPort: undefined, containerPort: 80, proto: 'tcp' };
const nothingTaken: PortTaken = () => false;
const takenSet =
  (ports: Iterable<number>): PortTaken =>
  (_proto, _ip, port) =>
    new Set(ports).has(port);

void describe('pickHostPort', () => {
  void test('a fixed host port is returned when free', () => {
    assert.equal(pickHostPort({ ...randomBinding, hostPort: 8080 }, nothingTaken), 8080);
  });

  void test('a fixed host port already taken is a conflict naming it', () => {
    assert.throws(
      () => pickHostPort({ ...randomBinding, hostIp: '10.0.0.1', hostPort: 8080 }, takenSet([8080])),
      (err: unknown) => err instanceof ConflictError && /8080\/tcp is already allocated/.test(err.message) && err.message.includes('10.0.0.1'),
    );
  });

  void test('random ports come from the ephemeral range 32768-60999 by default', () => {
    assert.deepEqual(EPHEMERAL_PORT_RANGE, [32768, 60999]);
    for (const r of [0, 0.5, 0.999999]) {
      const port = pickHostPort(randomBinding, nothingTaken, undefined, () => r);
      assert.ok(port >= 32768 && port <= 60999, `${port}`);
    }
    assert.equal(pickHostPort(randomBinding, nothingTaken, undefined, () => 0), 32768);
  });

  void test('scans from a random offset and wraps past the end', () => {
    // offset lands on 60999 (taken); the scan wraps to 32768
    assert.equal(pickHostPort(randomBinding, takenSet([60999]), undefined, () => 0.99999999), 32768);
    assert.equal(pickHostPort(randomBinding, takenSet([100, 101]), [100, 102], () => 0), 102);
  });

  void test('an explicit host range is filled from its start, as Docker does', () => {
    const binding: PortBinding = { ...randomBinding, hostPortRange: [8000, 8010] };
    assert.equal(pickHostPort(binding, nothingTaken, undefined, () => 0.7), 8000);
    assert.equal(pickHostPort(binding, takenSet([8000, 8001]), undefined, () => 0.7), 8002);
  });

  void test('passes proto and host IP to isTaken', () => {
    const calls: unknown[] = [];
    pickHostPort({ hostIp: '::1', hostPort: 53, containerPort: 53, proto: 'udp' }, (...args) => (calls.push(args), false));
    assert.deepEqual(calls, [['udp', '::1', 53]]);
  });

  void test('exhaustion is an error naming the range', () => {
    throwsUser(() => pickHostPort(randomBinding, () => true, [5000, 5003]), 'every host port in 5000-5003 is taken', '80/tcp');
    throwsUser(() => pickHostPort({ ...randomBinding, hostPortRange: [8000, 8001] }, () => true), '8000-8001');
    throwsUser(() => pickHostPort(randomBinding, () => true), '32768-60999');
  });

  void test('a bad range is refused', () => {
    throwsUser(() => pickHostPort(randomBinding, nothingTaken, [100, 50]), 'invalid host port range 100-50');
    throwsUser(() => pickHostPort(randomBinding, nothingTaken, [0, 50]), 'invalid host port range 0-50');
  });

  void test('never returns a taken port, and finds the only free one', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 65000 }),
        fc.integer({ min: 1, max: 300 }),
        fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }),
        fc.nat(),
        fc.boolean(),
        (first, size, r, freeIndex, asHostRange) => {
          const last = Math.min(65535, first + size - 1);
          const free = first + (freeIndex % (last - first + 1));
          const isTaken: PortTaken = (_p, _ip, port) => port !== free;
          const binding: PortBinding = asHostRange ? { ...randomBinding, hostPortRange: [first, last] } : randomBinding;
          assert.equal(pickHostPort(binding, isTaken, [first, last], () => r), free);
        },
      ),
    );
  });

  void test('with random taken ports, the pick is free and in range', () => {
    fc.assert(
      fc.property(fc.uniqueArray(fc.integer({ min: 1000, max: 1063 }), { maxLength: 63 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), (taken, r) => {
        const port = pickHostPort(randomBinding, takenSet(taken), [1000, 1063], () => r);
        assert.ok(!taken.includes(port) && port >= 1000 && port <= 1063);
      }),
    );
  });
});

const published = (hostIp: string, hostPort: number, containerPort: number, proto: 'tcp' | 'udp' = 'tcp'): PublishedPort => ({
  hostIp,
  hostPort,
  containerPort,
  proto,
});

void describe('docker port lines', () => {
  void test('formatBinding: IPv4 plain, IPv6 in brackets', () => {
    assert.equal(formatBinding(published('0.0.0.0', 8080, 80)), '80/tcp -> 0.0.0.0:8080');
    assert.equal(formatBinding(published('::', 8080, 80)), '80/tcp -> [::]:8080');
    assert.equal(formatBinding(published('fd00::1', 5353, 53, 'udp')), '53/udp -> [fd00::1]:5353');
  });

  void test('formatBindings sorts naturally, like docker/cli', () => {
    assert.deepEqual(
      formatBindings([published('::', 8080, 80), published('0.0.0.0', 9000, 443), published('0.0.0.0', 8080, 80), published('0.0.0.0', 53, 53, 'udp')]),
      ['53/udp -> 0.0.0.0:53', '80/tcp -> 0.0.0.0:8080', '80/tcp -> [::]:8080', '443/tcp -> 0.0.0.0:9000'],
    );
  });
});

void describe('inspectPortMap', () => {
  void test("NetworkSettings.Ports: bindings per port, null for exposed-only, keys in Go's sorted order", () => {
    const map = inspectPortMap(
      [published('0.0.0.0', 8080, 80), published('::', 8080, 80), published('127.0.0.1', 5353, 53, 'udp')],
      [...parseExposeSpec('443'), ...parseExposeSpec('80')],
    );
    assert.deepEqual(map, {
      '443/tcp': null,
      '53/udp': [{ HostIp: '127.0.0.1', HostPort: '5353' }],
      '80/tcp': [
        { HostIp: '0.0.0.0', HostPort: '8080' },
        { HostIp: '::', HostPort: '8080' },
      ],
    });
    assert.deepEqual(Object.keys(map), ['443/tcp', '53/udp', '80/tcp']);
    assert.equal(JSON.stringify(inspectPortMap([], [])), '{}');
  });
});
