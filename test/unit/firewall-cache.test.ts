// The cache of berth's nft tables by ruleset generation: when a check may skip listing the
// tables, and every way the knowledge is dropped (so a deleted table is always found again).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FirewallCache, elementsOnly, nextGeneration } from '../../src/engine/firewall-cache.js';
import { add, chain, del, elements, flush, table, type NftOp } from '../../src/kernel/nft/model.js';

const T = table('inet', 'berth');
const addElement: NftOp[] = [add(elements(T, 'bridges', ['br-x']))];
const delElement: NftOp[] = [del(elements(T, 'pub4any', []), { ifExists: true })];

/** A kernel generation counter and a check like firewall-state's, counting its listings. */
function harness() {
  const k = { gen: 7, readable: true };
  const cache = new FirewallCache(() => (k.readable ? k.gen : undefined));
  let listings = 0;
  const check = (): void => {
    const at = cache.generation();
    if (cache.currentAt(at)) return;
    listings++;
    cache.seen(at);
  };
  /** one of our own batches, as applyNft reports it; others: commits by someone else meanwhile */
  const commit = (ops: readonly NftOp[], o: { ok?: boolean; others?: number } = {}): void => {
    cache.commitStarts();
    k.gen += o.others ?? 0;
    if (o.ok !== false) k.gen++;
    cache.commitEnded(ops, o.ok !== false);
  };
  return { k, cache, check, commit, listings: () => listings };
}

describe('firewall cache by ruleset generation', () => {
  it('lists once while nothing is committed, and keeps that across its own element batches', () => {
    const h = harness();
    h.check();
    h.check();
    assert.equal(h.listings(), 1);
    // an ADD's commits: bridge elements, guard elements, a published port
    h.commit(addElement);
    h.commit(addElement);
    h.commit(delElement);
    h.check();
    assert.equal(h.listings(), 1, 'own element batches do not make it list again');
  });

  it('lists again after anyone else commits (a flushed ruleset, a deleted table)', () => {
    const h = harness();
    h.check();
    h.k.gen++; // `nft flush ruleset` in another process
    h.check();
    assert.equal(h.listings(), 2);
    // someone's commit between the generation read before ours and our commit
    h.commit(addElement, { others: 1 });
    h.check();
    assert.equal(h.listings(), 3);
  });

  it('lists again after its own batch that touches a table, chain or rule, or one that failed', () => {
    const h = harness();
    h.check();
    h.commit([add(T), add(chain(T, 'forward'))]);
    h.check();
    assert.equal(h.listings(), 2);
    h.commit([flush(chain(T, 'forward'))]);
    h.check();
    assert.equal(h.listings(), 3);
    h.commit([del(T)]);
    h.check();
    assert.equal(h.listings(), 4);
    h.commit(addElement, { ok: false, others: 1 });
    h.check();
    assert.equal(h.listings(), 5);
  });

  it('lists every time the generation cannot be read, and after forget()', () => {
    const h = harness();
    h.k.readable = false;
    h.check();
    h.check();
    assert.equal(h.listings(), 2);
    h.k.readable = true;
    h.check();
    h.cache.forget();
    h.check();
    assert.equal(h.listings(), 4);
  });

  it('follows the kernel counter over its wrap (it skips 0), and knows element-only batches', () => {
    assert.equal(nextGeneration(41), 42);
    assert.equal(nextGeneration(0xffffffff), 1);
    assert.equal(elementsOnly([...addElement, ...delElement]), true);
    assert.equal(elementsOnly([add(T)]), false);
    assert.equal(elementsOnly([flush({ kind: 'set', table: T, name: 'bridges', type: 'ifname' })]), false);
  });
});
