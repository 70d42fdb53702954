// The publish file berth-init's relay reads (src/engine/port-relay.ts): one TCP or UDP port a line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { publishFileText } from '../../src/engine/port-relay.js';
import type { PortRecord } from '../../src/store/store.js';

const port = (p: Partial<PortRecord>): PortRecord => ({
  proto: 'tcp', hostIp: '0.0.0.0', hostPort: 8080, containerId: 'c', endpointId: 'e', targetIp: '172.17.0.2', targetPort: 80, ...p,
});

void describe('publish file', () => {
  void it('lists TCP and UDP ports, IPv4 and IPv6, and leaves SCTP out (not relayed)', () => {
    const text = publishFileText([
      port({}),
      port({ proto: 'udp', hostIp: '127.0.0.1', hostPort: 5353, targetPort: 53 }),
      port({ hostIp: '::', targetIp: 'fd00::2' }),
      port({ proto: 'sctp', hostPort: 9 }),
    ]);
    assert.equal(text, 'tcp 0.0.0.0 8080 172.17.0.2 80\nudp 127.0.0.1 5353 172.17.0.2 53\ntcp :: 8080 fd00::2 80\n');
  });
  void it('is empty without ports', () => assert.equal(publishFileText([]), ''));
});
