// The CNI front end's edge: the conf on stdin validated into a typed value, bad values refused
// with the spec's code and a message naming them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeConf, parseConf, podNameOf } from '../../src/cni/conf.js';
import { CniError } from '../../src/cni/errors.js';

function refused(fn: () => unknown, code: number, fragment: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof CniError, `expected CniError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(err.message.includes(fragment), `"${err.message}" should mention ${fragment}`);
    return true;
  });
}

describe('CNI conf', () => {
  it('refuses undecodable input (6), a missing cniVersion (7) and an unknown one (1)', () => {
    refused(() => decodeConf('{not json'), 6, 'cannot decode');
    refused(() => decodeConf('[1]'), 6, 'not a JSON object');
    refused(() => parseConf({ name: 'x' }), 7, 'cniVersion');
    refused(() => parseConf({ cniVersion: '9.9.9' }), 1, '"9.9.9"');
  });

  it('reads the network, port mappings, ips, mac, aliases and the state location', () => {
    const c = parseConf({
      cniVersion: '0.4.0',
      name: 'n',
      network: 'net1',
      berthRoot: '/tmp/r',
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80 }], ips: ['10.1.0.5/24', 'fd00::5'], mac: '02:42:AC:11:00:09', aliases: ['web'] },
    });
    assert.equal(c.network, 'net1');
    assert.deepEqual(c.publish, [{ hostIp: undefined, hostPort: 8080, containerPort: 80, proto: 'tcp' }]);
    assert.equal(c.ip, '10.1.0.5');
    assert.equal(c.ip6, 'fd00::5');
    assert.equal(c.mac, '02:42:ac:11:00:09');
    assert.deepEqual(c.aliases, ['web']);
    assert.equal(c.berthRoot, '/tmp/r');
    assert.equal(parseConf({ cniVersion: '1.1.0' }).network, 'bridge');
  });

  it('refuses bad runtimeConfig values, naming them (7)', () => {
    const rc = (runtimeConfig: unknown) => () => parseConf({ cniVersion: '1.0.0', runtimeConfig });
    refused(rc({ ips: ['10.1.0.300'] }), 7, '10.1.0.300');
    refused(rc({ ips: ['10.1.0.5', '10.1.0.6'] }), 7, 'one per family');
    refused(rc({ mac: '01:00:5e:00:00:01' }), 7, 'multicast');
    refused(rc({ mac: 'zz' }), 7, '"zz"');
    refused(rc({ portMappings: [{ hostPort: 0, containerPort: 80 }] }), 7, 'hostPort');
    refused(rc({ portMappings: [{ hostPort: 1, containerPort: 80, protocol: 'icmp' }] }), 7, 'icmp');
    refused(() => parseConf({ cniVersion: '1.0.0', berthRoot: 'relative' }), 7, 'relative');
    refused(rc({ aliases: ['ok', 'bad name'] }), 7, 'bad name');
  });

  it('reads the pod name from CNI_ARGS', () => {
    assert.equal(podNameOf('IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0'), 'web-0');
    assert.equal(podNameOf('K8S_POD_NAME=bad name'), undefined);
    assert.equal(podNameOf(undefined), undefined);
  });

  it('reads GC valid attachments', () => {
    const c = parseConf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] });
    assert.deepEqual(c.validAttachments, [{ containerId: 'a', ifname: 'eth0' }]);
    refused(() => parseConf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ id: 'a' }] }), 7, 'valid-attachments');
  });
});
