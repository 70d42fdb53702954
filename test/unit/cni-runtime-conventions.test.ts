// What real runtimes send that the CNI spec leaves to conventions (seen from podman 4.3 in
// test/e2e/cni-podman.test.ts): aliases keyed by network name, --ip and --mac-address in CNI_ARGS,
// and a runtime that holds the published host ports itself (hostPortRelay: false).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { cniArgsOf, parseConf } from '../../src/cni/conf.js';
import { CniError } from '../../src/cni/errors.js';

describe('CNI runtime conventions', () => {
  it('takes this network\'s entry of aliases keyed by network name (podman, dnsname)', () => {
    const conf = parseConf({ cniVersion: '1.0.0', name: 'apps', runtimeConfig: { aliases: { apps: ['web', 'www'], other: ['x'] } } });
    assert.deepEqual(conf.aliases, ['web', 'www']);
    assert.deepEqual(parseConf({ cniVersion: '1.0.0', name: 'none', runtimeConfig: { aliases: { apps: ['web'] } } }).aliases, []);
    assert.throws(() => parseConf({ cniVersion: '1.0.0', name: 'apps', runtimeConfig: { aliases: { apps: 'web' } } }), (e: unknown) => e instanceof CniError && e.code === 7 && e.message.includes('by network name'));
  });

  it('reads IP= (comma-separated) and MAC= from CNI_ARGS, checked as runtimeConfig (a bad one is code 4, as any bad CNI_ARGS)', () => {
    assert.deepEqual(cniArgsOf('IgnoreUnknown=1;K8S_POD_NAME=a;MAC=02:42:0A:4E:00:32;IP=10.78.0.50'), { pod: 'a', ip: '10.78.0.50', mac: '02:42:0a:4e:00:32' });
    assert.deepEqual(cniArgsOf('IP=10.79.0.9,fd00:79::9'), { ip: '10.79.0.9', ip6: 'fd00:79::9' });
    assert.deepEqual(cniArgsOf('K8S_POD_NAME=a'), { pod: 'a' });
    assert.deepEqual(cniArgsOf(undefined), {});
    assert.throws(() => cniArgsOf('IP=10.0.0.300'), (e: unknown) => e instanceof CniError && e.code === 4 && e.message.includes('10.0.0.300'));
    assert.throws(() => cniArgsOf('MAC=01:00:5e:00:00:01'), (e: unknown) => e instanceof CniError && e.code === 4 && e.message.includes('unicast'));
  });

  it('hostPortRelay: true unless the conf says false; anything else refused', () => {
    assert.equal(parseConf({ cniVersion: '1.0.0' }).hostPortRelay, true);
    assert.equal(parseConf({ cniVersion: '1.0.0', hostPortRelay: false }).hostPortRelay, false);
    assert.throws(() => parseConf({ cniVersion: '1.0.0', hostPortRelay: 'no' }), (e: unknown) => e instanceof CniError && e.code === 7 && e.message.includes('"no"'));
  });
});
