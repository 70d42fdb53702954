// The change log in berth.db (migration 3): triggers append (kind, id) for every container,
// endpoint and network row written, by any process. A reader remembers the last seq it saw and
// asks what changed since, so a sweep costs what changed, not every record.
import type { SqliteDb } from './sqlite-db.js';
import type { StoreChange, StoreChanges } from './store.js';

export class SqliteChanges {
  constructor(private readonly db: SqliteDb) {}

  /** The newest seq written (0 when none). */
  seq(): number {
    return this.db.prepare<[], number>("SELECT coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'changes'), 0)").pluck().get() as number;
  }

  since(seq: number): StoreChanges | undefined {
    // one snapshot: the oldest kept row and the rows after seq must agree
    return this.db.read(() => {
      const oldest = this.db.prepare<[], number | null>('SELECT min(seq) FROM changes').pluck().get() as number | null;
      const newest = this.seq();
      // rows after seq were pruned (or seq is from another file): the reader must read everything again
      if (seq > newest || (newest > seq && (oldest === null || oldest > seq + 1))) return undefined;
      const rows = this.db.prepare<[number], StoreChange & { seq: number }>('SELECT seq, kind, id FROM changes WHERE seq > ? ORDER BY seq').all(seq);
      return { seq: Math.max(seq, newest), changes: rows.map(({ kind, id }) => ({ kind, id })) };
    });
  }
}
