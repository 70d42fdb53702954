// The publish file berth-init's relay reads (src/engine/port-relay.ts): one TCP or UDP port a line.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { publishFileText, relayCapacity, relayWarning, writePublishFile } from '../../src/engine/port-relay.js';
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

void describe('relay capacity', () => {
  const limits = (hard: string) => `Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 ${hard}                files\n`;
  void it('is the hard open-files limit minus a reserve', () => {
    assert.equal(relayCapacity(limits('20000')), 19488);
    assert.equal(relayCapacity(limits('unlimited')), Number.MAX_SAFE_INTEGER);
    assert.equal(relayCapacity(limits('100')), 0);
  });
  void it('leaves the ports beyond it out of the file, and says so', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-unit-'));
    try {
      const ports = [8080, 8081, 8082].map((hostPort) => port({ hostPort }));
      const f = writePublishFile(join(dir, 'publish'), ports, 2);
      assert.deepEqual(f, { relayed: 2, total: 3 });
      assert.equal(readFileSync(join(dir, 'publish'), 'utf8'), 'tcp 0.0.0.0 8080 172.17.0.2 80\ntcp 0.0.0.0 8081 172.17.0.2 80\n');
      assert.match(relayWarning(f) ?? '', /only 2 of 3 published ports answer on the host's own loopback/);
      assert.equal(relayWarning({ relayed: 3, total: 3 }), undefined);
      assert.deepEqual(writePublishFile(join(dir, 'none'), [], 2), { relayed: 0, total: 0 });
      assert.equal(existsSync(join(dir, 'none')), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
