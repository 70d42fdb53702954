// End to end, berth-cni first in a chain with the reference meta plugins (/usr/lib/cni: tuning,
// bandwidth: a tbf on berth's host veth), driven as libcni drives a conflist: ADD in order, each getting the previous
// result as prevResult; CHECK of each with the final result; DEL in reverse order.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { REPO_ROOT, runIn } from '../lab/index.js';
import { type BasicLab, EXT_ADDR, basicLab } from './helpers.js';

const REFERENCE = '/usr/lib/cni';
const T = { timeout: 120_000, skip: existsSync(join(REFERENCE, 'tuning')) ? false : `no reference plugins in ${REFERENCE}` };

interface Result {
  cniVersion: string;
  interfaces: { name: string; sandbox?: string }[];
  ips: { address: string; gateway?: string }[];
}

void describe('berth-cni chained with the reference plugins', () => {
  let L: BasicLab;
  before(async () => {
    L = await basicLab('e2e cni-chain');
  });
  after(async () => {
    await L?.lab.close();
  });

  // the reference plugins here speak up to 1.0.0 (1.1.0 is covered by test/e2e/cni-spec.test.ts); CHECK came with 0.4.0
  for (const cniVersion of ['0.3.1', '0.4.0', '1.0.0']) {
    test(`cniVersion ${cniVersion}: berth, tuning, bandwidth`, T, async () => {
      const sb = await L.lab.createExternal(`chain${cniVersion.replace(/\./g, '')}`);
      const id = `chain-${cniVersion}`;
      const plugins = [
        { type: 'berth', argv: [process.execPath, join(REPO_ROOT, 'bin', 'berth-cni')], conf: {} },
        { type: 'tuning', argv: [join(REFERENCE, 'tuning')], conf: { mtu: 1400 } },
        { type: 'bandwidth', argv: [join(REFERENCE, 'bandwidth')], conf: { ingressRate: 8_000_000, ingressBurst: 64_000 } },
      ];
      const run = async (command: string, i: number, prevResult: unknown) => {
        const p = plugins[i];
        if (!p) throw new Error(`no plugin ${i}`);
        const conf = { cniVersion, name: 'chain', type: p.type, ...p.conf, ...(prevResult ? { prevResult } : {}) };
        const r = await L.h.exec(p.argv, {
          input: JSON.stringify(conf),
          env: { CNI_COMMAND: command, CNI_CONTAINERID: id, CNI_NETNS: sb.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: REFERENCE },
        });
        assert.equal(r.code, 0, `${command} ${p.type}: ${r.stdout}${r.stderr}`);
        return r.stdout.trim() ? (JSON.parse(r.stdout) as Result) : undefined;
      };
      let result: unknown;
      for (let i = 0; i < plugins.length; i++) result = await run('ADD', i, result);
      const final = result as Result;
      const hostEnd = final.interfaces.find((i) => !i.sandbox)?.name ?? '';
      const qdisc = await L.h.exec(['tc', 'qdisc', 'show', 'dev', hostEnd]);
      assert.match(qdisc.stdout, /tbf/, `bandwidth shaped berth's host veth ${hostEnd}: ${qdisc.stdout}`);
      assert.equal(final.cniVersion, cniVersion);
      const link = await runIn(sb, ['ip', '-o', 'link', 'show', 'eth0']);
      assert.match(link.stdout, /mtu 1400/, 'tuning set the MTU on berth\'s interface');
      assert.ok(await sb.ping(EXT_ADDR, { count: 1 }), 'the sandbox reaches the outside');
      if (cniVersion !== '0.3.1') for (let i = 0; i < plugins.length; i++) await run('CHECK', i, final);
      for (let i = plugins.length - 1; i >= 0; i--) await run('DEL', i, final);
      const gone = await runIn(sb, ['ip', '-o', 'link', 'show']);
      assert.doesNotMatch(gone.stdout, /eth0/);
    });
  }
});
