// What the last listing of berth's nft tables found, kept while the ruleset generation says
// nothing else happened since. Every committed nft transaction bumps the generation by one, so:
// seen current at generation G, and the generation still G, the tables are still current. berth's
// own commits move it too; one is carried over when the generation read right before it was G and
// right after it is G+1 (so no one else committed in between) and it only added or deleted set
// elements (no table, chain or rule touched). Anything else (another process's commit, a failed
// batch, a table or rule op, an unreadable generation) drops what was known: the next check
// lists the tables again, so a deleted or flushed table is found by the next check after it.
// One case the generation cannot tell apart: a batch of ours that changed nothing (adding
// elements already there commits nothing) while someone else committed within the microseconds
// between our generation reads; that is taken as ours. The daemon's watch (nft-watch.ts) does
// not use this cache: it lists the tables whenever the generation moved, so such a commit is
// still found and repaired within its tick.
import type { NftOp } from '../kernel/nft/model.js';

/** The generation after g: the kernel's counter is a u32 that skips 0 when it wraps. */
export function nextGeneration(g: number): number {
  return g >= 0xffffffff ? 1 : g + 1;
}

/** A batch that cannot remove or change a table, chain or rule. */
export function elementsOnly(ops: readonly NftOp[]): boolean {
  return ops.every((o) => (o.op === 'add' || o.op === 'delete') && o.obj.kind === 'element');
}

export class FirewallCache {
  /** the generation at which the tables were last known current */
  private current: number | undefined;
  /** the generation read right before the commit under way */
  private beforeCommit: number | undefined;

  /** read: the ruleset generation now, undefined if it cannot be read */
  constructor(private readonly read: () => number | undefined) {}

  /**
   * The generation now (undefined: unreadable). Read it before listing the tables, and hand it to
   * seen() if the listing found them current: a commit between the two makes the next check list again.
   */
  generation(): number | undefined {
    return this.read();
  }

  /** True if the tables were known current at this generation (read with generation()). */
  currentAt(generation: number | undefined): boolean {
    return generation !== undefined && generation === this.current;
  }

  seen(generation: number | undefined): void {
    this.current = generation;
  }

  forget(): void {
    this.current = undefined;
  }

  commitStarts(): void {
    this.beforeCommit = this.current === undefined ? undefined : this.read();
  }

  commitEnded(ops: readonly NftOp[], ok: boolean): void {
    const before = this.beforeCommit;
    this.beforeCommit = undefined;
    if (this.current === undefined) return;
    const after = this.read();
    if (after !== undefined && after === this.current) return; // nothing was committed
    const ours = ok && before !== undefined && before === this.current && after === nextGeneration(before);
    this.current = ours && elementsOnly(ops) ? after : undefined;
  }
}
