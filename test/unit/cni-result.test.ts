// CNI results shaped for the input's cniVersion and merged after a previous plugin's result.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatResult, mergeResults, readResult, type CniResult } from '../../src/cni/result.js';

const own: CniResult = {
  interfaces: [{ name: 'veth1234567' }, { name: 'eth0', mac: '02:42:ac:11:00:02', sandbox: '/run/netns/x' }],
  ips: [
    { address: '172.17.0.2/16', gateway: '172.17.0.1', interface: 1 },
    { address: 'fd00::2/64', gateway: 'fd00::1', interface: 1 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '172.17.0.1' }],
  dns: {},
};

describe('CNI result', () => {
  it('0.3.1 and 0.4.0 name each address family; 1.0.0 and 1.1.0 do not', () => {
    for (const v of ['0.3.1', '0.4.0']) {
      const r = formatResult(v, own) as { cniVersion: string; ips: { version?: string }[] };
      assert.equal(r.cniVersion, v);
      assert.deepEqual(r.ips.map((ip) => ip.version), ['4', '6']);
    }
    for (const v of ['1.0.0', '1.1.0']) {
      const r = formatResult(v, own) as { ips: Record<string, unknown>[] };
      assert.ok(r.ips.every((ip) => !('version' in ip)));
    }
  });

  it('a previous result comes first, interface indices move up, DNS merges', () => {
    const prev = readResult({
      cniVersion: '0.4.0',
      interfaces: [{ name: 'dummy0' }],
      ips: [{ version: '4', address: '10.9.0.2/24', interface: 0 }],
      routes: [{ dst: '10.8.0.0/16' }],
      dns: { nameservers: ['10.9.0.1'] },
    });
    const m = mergeResults(prev, { ...own, dns: { nameservers: ['172.17.0.1'] } });
    assert.deepEqual(m.interfaces.map((i) => i.name), ['dummy0', 'veth1234567', 'eth0']);
    assert.deepEqual(m.ips.map((ip) => ip.interface), [0, 2, 2]);
    assert.deepEqual(m.routes.map((r) => r.dst), ['10.8.0.0/16', '0.0.0.0/0']);
    assert.deepEqual(m.dns.nameservers, ['10.9.0.1', '172.17.0.1']);
    const out = formatResult('1.0.0', m) as { ips: Record<string, unknown>[] };
    assert.ok(!('version' in (out.ips[0] ?? {})), 'the previous 0.4.0 address is reshaped for 1.0.0');
  });
});
