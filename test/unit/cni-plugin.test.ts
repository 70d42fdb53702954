// The CNI front end's answers that need no engine: VERSION, and calls refused at the edge with
// the spec's code, the input's cniVersion and a message naming the bad value.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { runCni } from '../../src/cni/plugin.js';

const noEngine = () => {
  throw new Error('the engine must not be opened');
};
const call = async (env: Record<string, string>, conf: unknown) => {
  const r = await runCni(noEngine, env, typeof conf === 'string' ? conf : JSON.stringify(conf));
  return { status: r.status, out: JSON.parse(r.stdout) as { cniVersion: string; code?: number; msg?: string; supportedVersions?: string[] } };
};
const base = { CNI_CONTAINERID: 'c1', CNI_IFNAME: 'eth0', CNI_NETNS: '/run/netns/x', CNI_PATH: '/opt/cni/bin' };

describe('CNI plugin edge', () => {
  it('VERSION echoes the input cniVersion and lists 0.3.1 to 1.1.0', async () => {
    const v = await call({ CNI_COMMAND: 'VERSION' }, { cniVersion: '0.3.1' });
    assert.equal(v.out.cniVersion, '0.3.1');
    assert.deepEqual(v.out.supportedVersions, ['0.3.1', '0.4.0', '1.0.0', '1.1.0']);
    assert.equal((await call({ CNI_COMMAND: 'VERSION' }, '')).out.cniVersion, '1.1.0');
  });

  it('refuses an unknown command, bad CNI_CONTAINERID and CNI_IFNAME (4), answering in the input version', async () => {
    const unknown = await call({ ...base, CNI_COMMAND: 'FROB' }, { cniVersion: '0.4.0' });
    assert.equal(unknown.status, 1);
    assert.equal(unknown.out.code, 4);
    assert.equal(unknown.out.cniVersion, '0.4.0');
    assert.match(unknown.out.msg ?? '', /"FROB"/);
    const badId = await call({ ...base, CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a/b' }, { cniVersion: '1.0.0' });
    assert.equal(badId.out.code, 4);
    assert.match(badId.out.msg ?? '', /"a\/b"/);
    const badIf = await call({ ...base, CNI_COMMAND: 'ADD', CNI_IFNAME: 'a-very-long-interface' }, { cniVersion: '1.0.0' });
    assert.equal(badIf.out.code, 4);
    assert.match(badIf.out.msg ?? '', /a-very-long-interface/);
  });

  it('refuses a conf without cniVersion (7) and a missing netns (3) before opening the engine', async () => {
    const noVersion = await call({ ...base, CNI_COMMAND: 'ADD' }, { name: 'x' });
    assert.equal(noVersion.out.code, 7);
    assert.match(noVersion.out.msg ?? '', /cniVersion/);
    const noNetns = await call({ ...base, CNI_COMMAND: 'ADD', CNI_NETNS: '/run/netns/berth-unit-no-such' }, { cniVersion: '1.1.0' });
    assert.equal(noNetns.out.code, 3);
    assert.match(noNetns.out.msg ?? '', /berth-unit-no-such/);
  });
});
