// The CNI front end's edge: the conf on stdin validated into a typed value, bad values refused
// with the spec's code and a message naming them.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cniArgsOf, decodeConf, parseConf } from '../../src/cni/conf.js';

const podNameOf = (a: string | undefined) => cniArgsOf(a).pod;
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
    assert.equal(podNameOf(undefined), undefined);
  });

  it('refuses a bad CNI_ARGS (4): a bad pod name, a pair without "=", an unknown key without IgnoreUnknown', () => {
    refused(() => podNameOf('K8S_POD_NAME=bad name'), 4, 'bad name');
    refused(() => podNameOf('K8S_POD_NAME'), 4, '"K8S_POD_NAME"');
    refused(() => podNameOf('FOO=1'), 4, 'FOO');
    assert.equal(podNameOf('IgnoreUnknown=1;FOO=1;K8S_POD_NAME=a'), 'a');
  });

  it('reads podman\'s IP and MAC from CNI_ARGS, and its aliases keyed by network name', () => {
    assert.deepEqual(cniArgsOf('IgnoreUnknown=1;K8S_POD_NAME=c1;MAC=02:AA:00:00:00:01;IP=10.1.0.5,fd00::5'), { pod: 'c1', ip: '10.1.0.5', ip6: 'fd00::5', mac: '02:aa:00:00:00:01' });
    refused(() => cniArgsOf('IP=10.1.0.300'), 4, '10.1.0.300');
    refused(() => cniArgsOf('MAC=01:00:5e:00:00:01'), 4, '01:00:5e:00:00:01');
    assert.deepEqual(parseConf({ cniVersion: '1.0.0', name: 'n1', runtimeConfig: { aliases: { n1: ['web'], n2: ['other'] } } }).aliases, ['web']);
    refused(() => parseConf({ cniVersion: '1.0.0', name: 'n1', runtimeConfig: { aliases: { n1: ['bad name'] } } }), 7, 'runtimeConfig.aliases');
  });

  it('refuses unknown and mistyped fields (7), naming the field, the problem and what is accepted', () => {
    const details = (fn: () => unknown): string => {
      try {
        fn();
      } catch (err) {
        return `${(err as CniError).message} ${(err as CniError).details}`;
      }
      return '';
    };
    refused(() => parseConf({ cniVersion: '1.0.0', netwrk: 'x' }), 7, '"netwrk"');
    assert.match(details(() => parseConf({ cniVersion: '1.0.0', netwrk: 'x' })), /accepted: .*network/);
    refused(() => parseConf({ cniVersion: '1.0.0', network: 5 }), 7, '"network" 5');
    refused(() => parseConf({ cniVersion: '1.0.0', runtimeConfig: { portMapings: [] } }), 7, 'runtimeConfig.portMapings');
    assert.match(details(() => parseConf({ cniVersion: '1.0.0', runtimeConfig: { portMapings: [] } })), /accepted: portMappings, /);
    refused(() => parseConf({ cniVersion: '1.0.0', runtimeConfig: { portMappings: [{ hostPort: '80', containerPort: 80 }] } }), 7, 'runtimeConfig.portMappings[0].hostPort');
    refused(() => parseConf({ cniVersion: '1.0.0', runtimeConfig: { bandwidth: { ingressRate: 1000 } } }), 7, 'ingressBurst');
    refused(() => parseConf({ cniVersion: '1.0.0', runtimeConfig: { bandwidth: { ingressRate: -1, ingressBurst: 1 } } }), 7, 'ingressRate');
    refused(() => parseConf({ cniVersion: '1.0.0', runtimeConfig: { dns: { servers: ['nope'] } } }), 7, 'runtimeConfig.dns.servers[0]');
    // the spec's reserved namespace passes
    assert.equal(parseConf({ cniVersion: '1.1.0', 'cni.dev/other': 1, type: 'berth', capabilities: { bandwidth: true } }).network, 'bridge');
  });

  it('reads bandwidth (runtimeConfig over the conf) and dns', () => {
    const c = parseConf({ cniVersion: '1.0.0', bandwidth: { egressRate: 8000, egressBurst: 16000 }, runtimeConfig: { bandwidth: { ingressRate: 1000000, ingressBurst: 80000 }, dns: { servers: ['10.0.0.53'], searches: ['example.test'] } } });
    assert.deepEqual(c.bandwidth, { ingress: { rate: 1000000, burst: 80000 } });
    assert.deepEqual(parseConf({ cniVersion: '1.0.0', bandwidth: { egressRate: 8000, egressBurst: 16000 } }).bandwidth, { egress: { rate: 8000, burst: 16000 } });
    assert.deepEqual(c.dns, { servers: ['10.0.0.53'], searches: ['example.test'] });
  });

  it('reads GC valid attachments', () => {
    const c = parseConf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] });
    assert.deepEqual(c.validAttachments, [{ containerId: 'a', ifname: 'eth0' }]);
    refused(() => parseConf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ id: 'a' }] }), 7, 'valid-attachments');
  });
});

describe('CNI conf: the warm engine ("engine")', () => {
  const base = { cniVersion: '1.0.0', name: 'n', type: 'berth' };
  const refused = (engine: unknown): CniError => {
    try {
      parseConf({ ...base, engine });
    } catch (err) {
      assert.ok(err instanceof CniError);
      return err;
    }
    assert.fail(`engine ${JSON.stringify(engine)} was accepted`);
  };
  it('defaults to on, 30 s idle; "off" and {"idleSeconds": N} as given', () => {
    assert.deepEqual(parseConf(base).engine, { off: false, idleSeconds: 30 });
    assert.deepEqual(parseConf({ ...base, engine: {} }).engine, { off: false, idleSeconds: 30 });
    assert.deepEqual(parseConf({ ...base, engine: 'off' }).engine, { off: true });
    assert.deepEqual(parseConf({ ...base, engine: { idleSeconds: 5 } }).engine, { off: false, idleSeconds: 5 });
  });
  it('refuses anything else with code 7, naming the field', () => {
    for (const [engine, msg] of [
      [{ idleSeconds: 0 }, /"engine\.idleSeconds" 0: expected a whole number of seconds, 1-86400/],
      [{ idleSeconds: 2.5 }, /"engine\.idleSeconds" 2\.5/],
      [{ idleSeconds: 86_401 }, /"engine\.idleSeconds" 86401/],
      [{ idleSeconds: 5, x: 1 }, /unknown field "engine\.x"/],
      ['on', /"engine" "on": expected "off" or \{"idleSeconds": N\}/],
      [true, /"engine" true/],
    ] as const) {
      const err = refused(engine);
      assert.equal(err.code, 7, err.message);
      assert.match(err.message, msg);
    }
  });
});
