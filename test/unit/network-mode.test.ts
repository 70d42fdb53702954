// The one parser of a container's network mode, shared by `berth run --network` and the API's
// HostConfig.NetworkMode, and the record's string form read back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runSpecFromRequest } from '../../src/api/containers.js';
import { runSpecFromOptions } from '../../src/cli/commands/containers.js';
import { joinedContainerId, networkModeText, parseNetworkMode, storedNetworkMode, type NetworkMode } from '../../src/engine/network-mode.js';
import { throwsUser } from './assert-errors.js';

describe('network mode', () => {
  it('parses the pre-defined modes, container:X and network names', () => {
    assert.deepEqual(parseNetworkMode('bridge'), { kind: 'bridge' });
    assert.deepEqual(parseNetworkMode('default'), { kind: 'bridge' });
    assert.deepEqual(parseNetworkMode('host'), { kind: 'host' });
    assert.deepEqual(parseNetworkMode('none'), { kind: 'none' });
    assert.deepEqual(parseNetworkMode('container:web'), { kind: 'container', ref: 'web' });
    assert.deepEqual(parseNetworkMode('test 01'), { kind: 'network', ref: 'test 01' });
  });
  it('refuses an empty container reference and a name no network can have', () => {
    throwsUser(() => parseNetworkMode('container:'), '"container:"', 'container:NAME');
    throwsUser(() => parseNetworkMode(''), 'invalid network ""');
    throwsUser(() => parseNetworkMode('a/b'), 'invalid network "a/b"');
  });
  it('the record form reads back as the same mode', () => {
    const modes: NetworkMode[] = [{ kind: 'bridge' }, { kind: 'host' }, { kind: 'none' }, { kind: 'container', ref: 'a'.repeat(64) }, { kind: 'network', ref: 'n1' }];
    for (const m of modes) assert.deepEqual(storedNetworkMode(networkModeText(m)), m);
    assert.equal(joinedContainerId(`container:${'b'.repeat(64)}`), 'b'.repeat(64));
    assert.equal(joinedContainerId('n1'), undefined);
  });
  it('CLI and API share it: same value for the same text, same refusal', () => {
    const cli = (network: string) => runSpecFromOptions(['true'], { network, publish: [], expose: [], dns: [], networkAlias: [] }).network;
    const api = (NetworkMode: string) => runSpecFromRequest({ Cmd: ['true'], HostConfig: { NetworkMode } }, undefined).network;
    for (const text of ['bridge', 'default', 'host', 'none', 'container:c1', 'n1']) assert.deepEqual(api(text), cli(text));
    // Docker's empty NetworkMode is the default network
    assert.deepEqual(api(''), { kind: 'bridge' });
    throwsUser(() => api('container:'), 'container:NAME');
    throwsUser(() => cli('container:'), 'container:NAME');
  });
});
