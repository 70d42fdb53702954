// End to end, issue 16: `berth rm -f ID...` of many containers removes them side by side with
// their releases batched: one nft commit for all their published ports and anti-spoofing
// elements (before: one per container, each waiting an RCU grace period; 1000 containers took
// 80+ s), their veths left to their namespaces' deletion. Deterministic: the ruleset generation
// (bumped once per committed nft transaction) moves by a few, not by one per container. And it
// leaves the host as it was; a refused `rm` (a running container without -f, an unknown id)
// changes nothing.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { NftGeneration } from '../../src/kernel/nft/generation.js';
import { type BasicLab, basicLab, hostState } from './helpers.js';

const T = { timeout: 300_000 };
const N = 24;

void describe('rm -f of many containers in one command', () => {
  let L: BasicLab;
  before(async () => {
    L = await basicLab('e2e rm-many');
  });
  after(async () => {
    await L?.lab.close();
  });

  void test(`rm -f of ${N} containers with published ports: one nft commit or so, nothing left behind`, T, async () => {
    const { h } = L;
    await h.berthOk(['network', 'create', '--subnet', '10.211.0.0/24', 'many']);
    await h.berthOk(['run', '--rm', '--network', 'many', '--', 'true']); // the bridge and the table, made once
    const baseline = await hostState(h);
    const ids: string[] = [];
    for (let i = 0; i < N; i++) {
      ids.push((await h.berthOk(['run', '-d', '--network', i % 2 ? 'many' : 'bridge', '-p', `${21000 + i}:80`, '--', 'sleep', '300'])).stdout.trim());
    }

    // refused as a whole: nothing removed
    const running = await h.berth(['rm', ids[0] as string, ids[1] as string]);
    assert.equal(running.code, 1, `rm of running containers without -f: ${running.stderr}`);
    assert.match(running.stderr, /cannot remove running container .*use rm -f/);
    const unknown = await h.berth(['rm', '-f', ids[0] as string, 'no-such-container']);
    assert.notEqual(unknown.code, 0, 'rm -f with an unknown id fails');
    assert.match(unknown.stderr, /no-such-container/);
    assert.equal((await h.berthOk(['ps', '-q'])).stdout.trim().split('\n').length, N, 'every container still runs');

    const gen = NftGeneration.open(h.netnsPath);
    try {
      const before0 = gen.read();
      const r = await h.berthOk(['rm', '-f', ...ids]);
      const commits = gen.read() - before0;
      console.log(`# rm-many: rm -f of ${N} containers in ${r.durationMs} ms, ${commits} nft commits`);
      assert.deepEqual(r.stdout.trim().split('\n'), ids, 'prints every id, in the order given');
      assert.ok(commits <= 3, `${commits} nft commits for ${N} containers (one per container before)`);
    } finally {
      gen.close();
    }
    assert.deepEqual(await hostState(h), baseline, 'the host is as before the containers');
  });
});
