// End to end, berth-cni's conf schema and capabilities (issue 13): unknown or mistyped fields
// and a bad CNI_ARGS refused naming the field with nothing changed; the `bandwidth` capability
// measured with real TCP transfers both ways; the `dns` capability and the embedded DNS answering
// for a CNI sandbox under the runtime's name; network inspect naming the sandbox.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type External, REPO_ROOT, runIn } from '../lab/index.js';
import { type BasicLab, basicLab, hostState } from './helpers.js';

const T = { timeout: 180_000 };
const PLUGIN = [process.execPath, join(REPO_ROOT, 'bin', 'berth-cni')];

export interface CniOut {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
  dns?: { nameservers?: string[]; search?: string[]; options?: string[] };
  code?: number;
  msg?: string;
  details?: string;
}

void describe('berth-cni: conf schema and capabilities', () => {
  let L: BasicLab;

  before(async () => {
    L = await basicLab('e2e cni-caps');
    await L.h.berthOk(['network', 'create', '--subnet', '10.79.0.0/24', 'caps']);
  });
  after(async () => {
    await L?.lab.close();
  });

  const call = async (command: string, env: Record<string, string>, conf: unknown, argv = PLUGIN): Promise<{ status: number; out: CniOut; stderr: string }> => {
    const r = await L.h.exec(argv, { input: JSON.stringify(conf), env: { CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin', ...env } });
    return { status: r.code ?? -1, out: (r.stdout.trim() ? JSON.parse(r.stdout) : {}) as CniOut, stderr: r.stderr };
  };
  const envOf = (id: string, sb: External, ifname = 'eth0') => ({ CNI_CONTAINERID: id, CNI_NETNS: sb.netnsPath, CNI_IFNAME: ifname });

  test('unknown and mistyped fields, a bad CNI_ARGS: refused naming the field, nothing changed', T, async () => {
    const sb = await L.lab.createExternal('badconf');
    const before = await hostState(L.h);
    const base = { cniVersion: '1.0.0', name: 'caps', type: 'berth', network: 'caps' };
    const cases: { conf: unknown; env?: Record<string, string>; code: number; mentions: RegExp[] }[] = [
      { conf: { ...base, netwrok: 'caps' }, code: 7, mentions: [/"netwrok"/, /accepted: .*network/] },
      { conf: { ...base, network: ['caps'] }, code: 7, mentions: [/"network" \["caps"\]/, /expected a string/] },
      { conf: { ...base, runtimeConfig: { portMappings: [{ hostPort: '8080', containerPort: 80 }] } }, code: 7, mentions: [/runtimeConfig\.portMappings\[0\]\.hostPort/, /1-65535/] },
      { conf: { ...base, runtimeConfig: { bandwith: { ingressRate: 1 } } }, code: 7, mentions: [/"runtimeConfig\.bandwith"/, /accepted: .*bandwidth/] },
      { conf: { ...base, runtimeConfig: { bandwidth: { ingressRate: 1_000_000 } } }, code: 7, mentions: [/ingressBurst/] },
      { conf: { ...base, runtimeConfig: { dns: { servers: 'x' } } }, code: 7, mentions: [/runtimeConfig\.dns\.servers/] },
      { conf: base, env: { CNI_ARGS: 'K8S_POD_NAME=bad name' }, code: 4, mentions: [/K8S_POD_NAME "bad name"/] },
      { conf: base, env: { CNI_ARGS: 'FOO=1' }, code: 4, mentions: [/"FOO"/, /IgnoreUnknown/] },
    ];
    for (const c of cases) {
      const r = await call('ADD', { ...envOf('badconf', sb), ...c.env }, c.conf);
      assert.equal(r.status, 1, JSON.stringify(c.conf));
      assert.equal(r.out.code, c.code, `${JSON.stringify(c.conf)}: ${JSON.stringify(r.out)}`);
      for (const m of c.mentions) assert.match(`${r.out.msg ?? ''} ${r.out.details ?? ''}`, m);
    }
    assert.deepEqual(await hostState(L.h), before, 'refused calls changed nothing on the host');
    const links = await runIn(sb, ['ip', '-o', 'link', 'show']);
    assert.doesNotMatch(links.stdout, /eth0/, 'nor in the sandbox');
    // the same conf, corrected, works: the refusals were about the named fields only
    const ok = await call('ADD', { ...envOf('badconf', sb), CNI_ARGS: 'IgnoreUnknown=1;FOO=1;K8S_POD_NAME=goodname' }, base);
    assert.equal(ok.status, 0, JSON.stringify(ok.out) + ok.stderr);
    assert.ok(await sb.ping(ok.out.ips[0]?.gateway ?? '', { count: 1 }), 'the sandbox reaches its gateway');
    assert.equal((await call('DEL', envOf('badconf', sb), base)).status, 0);
  });
});
