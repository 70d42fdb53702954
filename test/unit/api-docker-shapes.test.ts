// Docker's answer shapes that clients decode strictly: ContainerSummary (`docker ps`) and the ages it shows.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { containerSummary, humanDuration } from '../../src/api/docker-shapes.js';
import type { Container } from '../../src/engine/containers.js';

describe('docker ps shapes', () => {
  it('ages as Docker prints them', () => {
    assert.equal(humanDuration(500), 'Less than a second');
    assert.equal(humanDuration(42_000), '42 seconds');
    assert.equal(humanDuration(90_000), 'About a minute');
    assert.equal(humanDuration(30 * 60_000), '30 minutes');
    assert.equal(humanDuration(3 * 3600_000), '3 hours');
    assert.equal(humanDuration(3 * 86400_000), '3 days');
  });
  it('ContainerSummary: Names, numeric Created, Ports from the inspect port map, Status text', () => {
    const now = Date.parse('2026-01-01T12:00:00Z');
    const c: Container = {
      id: 'a'.repeat(64), name: 'web', created: '2026-01-01T11:00:00Z',
      config: { cmd: ['sleep', '600'], hostname: 'h', networkMode: 'bridge', publish: [], exposed: [], rm: false, dns: [] },
      state: { status: 'exited', exitCode: 137, finishedAt: '2026-01-01T11:55:00Z' },
    };
    const inspected = {
      HostConfig: { NetworkMode: 'bridge' },
      NetworkSettings: { Ports: { '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '53/udp': null }, Networks: { bridge: { IPAddress: '172.17.0.2' } } },
    };
    const s = containerSummary(c, inspected, now);
    assert.deepEqual(s.Names, ['/web']);
    assert.equal(s.Created, Date.parse(c.created) / 1000);
    assert.equal(s.Command, 'sleep 600');
    assert.equal(s.Status, 'Exited (137) 5 minutes ago');
    assert.deepEqual(s.Ports, [{ IP: '0.0.0.0', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { PrivatePort: 53, Type: 'udp' }]);
    assert.deepEqual(s.NetworkSettings, { Networks: { bridge: { IPAddress: '172.17.0.2' } } });
  });
});
