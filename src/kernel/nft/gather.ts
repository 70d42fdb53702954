// Gathering idempotent deletions into one commit. Every nft commit that deletes something waits
// for an RCU grace period (~14 ms here), so `rm -f` of 1000 containers paid ~14 s in commits that
// each removed one port's elements. Inside gatherNftDeletions, a batch of idempotent deletions
// (ifExists, as unpublishing and unguarding send) aimed at the same namespace is queued instead
// and all of them are committed as one batch when fn ends. Only calls made from fn's own async
// context are gathered (AsyncLocalStorage): other work of the same process commits as before.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { NftOp } from './model.js';
import type { NftTarget } from './engines.js';

interface Gathering {
  readonly target: NftTarget;
  readonly batches: NftOp[][];
}

const gathering = new AsyncLocalStorage<Gathering>();

/** True (and queued) if ops are idempotent deletions that the current gathering takes. */
export function gatheredNftBatch(ops: readonly NftOp[], target: NftTarget): boolean {
  const g = gathering.getStore();
  if (!g || !ops.length || (target.netns ?? null) !== (g.target.netns ?? null) || target.engine !== g.target.engine) return false;
  if (!ops.every((o) => o.op === 'delete' && o.ifExists === true && o.obj.kind === 'element')) return false;
  g.batches.push([...ops]);
  return true;
}

export type Commit = (ops: readonly NftOp[], target: NftTarget) => unknown;

/**
 * Run fn; the idempotent element deletions it applies in target's namespace are committed as one
 * batch once it settles (also when it throws). If that batch fails (a table or set went away
 * meanwhile), each gathered batch is applied alone, as it would have been without gathering; the
 * first error of those is thrown. Returns fn's value and how many batches were gathered.
 */
export async function gatherNftDeletions<T>(target: NftTarget, fn: () => Promise<T>, commit: Commit): Promise<{ value: T; gathered: number }> {
  const g: Gathering = { target, batches: [] };
  let value: T;
  try {
    value = await gathering.run(g, fn);
  } finally {
    flush(g, commit);
  }
  return { value, gathered: g.batches.length };
}

function flush(g: Gathering, commit: Commit): void {
  if (!g.batches.length) return;
  try {
    commit(g.batches.flat(), g.target);
    return;
  } catch {
    // one batch at a time below
  }
  let first: Error | undefined;
  for (const b of g.batches) {
    try {
      commit(b, g.target);
    } catch (err) {
      first ??= err instanceof Error ? err : new Error(String(err));
    }
  }
  if (first !== undefined) throw first;
}
