// Gathering idempotent element deletions into one nft commit (kernel/nft/gather.ts), as `rm -f`
// of many containers does: no kernel needed, the commit is a recording function.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gatheredNftBatch, gatherNftDeletions } from '../../src/kernel/nft/gather.js';
import * as m from '../../src/kernel/nft/model.js';
import type { NftOp } from '../../src/kernel/nft/model.js';
import type { NftTarget } from '../../src/kernel/nft/engines.js';

const T = m.table('inet', 'berth');
const unpublish = (port: number): NftOp[] => [m.del(m.elements(T, 'pub4any', [{ key: m.tuple('tcp', port), data: m.tuple('10.0.0.2', 80) }]), { ifExists: true })];
const host: NftTarget = { netns: null };

function recorder(failFirst = 0) {
  const commits: NftOp[][] = [];
  let failures = failFirst;
  return {
    commits,
    commit: (ops: readonly NftOp[]) => {
      if (failures-- > 0) throw new Error('nft: No such file or directory');
      commits.push([...ops]);
    },
  };
}

void describe('gatherNftDeletions', () => {
  void it('commits the idempotent element deletions of many releases as one batch, at the end', async () => {
    const r = recorder();
    const { value, gathered } = await gatherNftDeletions(
      host,
      async () => {
        for (let p = 1; p <= 100; p++) {
          await Promise.resolve(); // across awaits, as a release is
          assert.equal(gatheredNftBatch(unpublish(p), host), true);
        }
        assert.equal(r.commits.length, 0, 'nothing committed while fn runs');
        return 'done';
      },
      r.commit,
    );
    assert.equal(value, 'done');
    assert.equal(gathered, 100);
    assert.equal(r.commits.length, 1, 'one commit');
    assert.equal(r.commits[0]?.length, 100, 'holding every deletion');
  });

  void it('does not take additions, plain deletions, another namespace, or calls outside fn', async () => {
    const r = recorder();
    await gatherNftDeletions(
      host,
      async () => {
        assert.equal(gatheredNftBatch([m.add(m.elements(T, 'pub4any', [{ key: m.tuple('tcp', 1), data: m.tuple('10.0.0.2', 80) }]))], host), false);
        assert.equal(gatheredNftBatch([m.del(m.elements(T, 'pub4any', [m.tuple('tcp', 1)]))], host), false, 'a deletion that must find its element');
        assert.equal(gatheredNftBatch([m.del(T, { ifExists: true })], host), false, 'not an element');
        assert.equal(gatheredNftBatch(unpublish(1), { netns: '/run/berth/netns/x' }), false, 'another namespace');
        assert.equal(gatheredNftBatch([], host), false);
      },
      r.commit,
    );
    assert.equal(gatheredNftBatch(unpublish(1), host), false, 'outside any gathering');
    assert.equal(r.commits.length, 0);
  });

  void it('commits what was gathered when fn throws, and rethrows', async () => {
    const r = recorder();
    await assert.rejects(
      gatherNftDeletions(
        host,
        async () => {
          gatheredNftBatch(unpublish(1), host);
          throw new Error('boom');
        },
        r.commit,
      ),
      /boom/,
    );
    assert.equal(r.commits.length, 1);
  });

  void it('when the one batch fails, applies each gathered batch alone', async () => {
    const r = recorder(1);
    await gatherNftDeletions(
      host,
      async () => {
        for (const p of [1, 2, 3]) gatheredNftBatch(unpublish(p), host);
      },
      r.commit,
    );
    assert.deepEqual(r.commits.map((c) => c.length), [1, 1, 1]);
  });
});
