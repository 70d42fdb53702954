// The connection to $BERTH_ROOT/berth.db that every SQLite aggregate shares: opening it with the
// right file modes, WAL and busy handling, the schema migrations, the statement cache,
// transactions (errors translated into berth's) and giving freed pages back.
import type BetterSqlite3 from 'better-sqlite3';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { BerthError, ConflictError, SystemError, UserError, quote } from '../common/errors.js';
import { MIGRATIONS } from './migrations.js';

const BUSY_TIMEOUT_MS = 5000;
/** Free pages (4 KiB each) worth giving back to the file system after a delete: 1 MiB. */
const RECLAIM_FREE_PAGES = 256;
/** The WAL file is cut back to this after a checkpoint (it otherwise keeps its largest size). */
const JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024;

// Loaded on first use, not at import: a V8 startup snapshot (scripts/bundle.mjs) holds
// this module's state and can hold neither a native addon nor shared memory.
let sqlite: typeof BetterSqlite3 | undefined;
const sqliteLib = (): typeof BetterSqlite3 => (sqlite ??= createRequire(import.meta.url)('better-sqlite3') as typeof BetterSqlite3);
let sleepBuffer: Int32Array | undefined;

/** Run fn again after short sleeps while SQLite says the database is busy or locked. */
function retryWhileBusy<T>(fn: () => T): T {
  const deadline = Date.now() + BUSY_TIMEOUT_MS;
  for (let delay = 2; ; delay = Math.min(delay * 2, 50)) {
    try {
      return fn();
    } catch (err) {
      const code = (err as { code?: string }).code ?? '';
      if (!code.startsWith('SQLITE_BUSY') && !code.startsWith('SQLITE_LOCKED')) throw err;
      if (Date.now() > deadline) throw err;
      Atomics.wait((sleepBuffer ??= new Int32Array(new SharedArrayBuffer(4))), 0, 0, delay);
    }
  }
}

/** berth.db and its -wal/-shm made by an older berth (0644): root's only. */
function narrowStoreFiles(db: string): void {
  for (const path of [db, `${db}-wal`, `${db}-shm`]) {
    try {
      chmodSync(path, 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

export class SqliteDb {
  readonly path: string;
  private readonly db: BetterSqlite3.Database;

  /** Open (creating if needed, mode 0700) the store in directory `root` and bring its schema up to date. */
  constructor(root: string) {
    this.path = join(root, 'berth.db');
    let db: BetterSqlite3.Database | undefined;
    try {
      mkdirSync(root, { recursive: true, mode: 0o700 });
      // the store holds every container's configuration: root's only, even in a directory that
      // existed (0755) before berth, and the files are made 0600 from the start (umask), not
      // narrowed after a window (SQLite gives -wal and -shm the database file's mode). A shared
      // directory such as /tmp is not berth's to close: refused instead.
      if (statSync(root).mode & 0o1002) {
        throw new UserError(`BERTH_ROOT ${quote(root)} is a shared, world-writable directory: give berth a directory of its own (default /var/lib/berth)`);
      }
      chmodSync(root, 0o700);
      const umask = process.umask(0o077);
      try {
        db = new (sqliteLib())(this.path, { timeout: BUSY_TIMEOUT_MS });
        const open = db;
        // Switching a fresh file to WAL needs an exclusive lock, and SQLite answers SQLITE_BUSY at
        // once (no busy handler) when another process is opening the same fresh file: retry.
        retryWhileBusy(() => open.pragma('journal_mode = WAL'));
      } finally {
        process.umask(umask);
      }
      narrowStoreFiles(this.path);
      db.pragma('foreign_keys = ON');
      db.pragma(`journal_size_limit = ${JOURNAL_SIZE_LIMIT}`);
      this.db = db;
      // before the first table of a fresh file, where the setting needs no VACUUM
      retryWhileBusy(() => this.useIncrementalVacuum());
      retryWhileBusy(() => this.migrate());
    } catch (err) {
      db?.close();
      if (err instanceof BerthError) throw err;
      throw new SystemError(`cannot open store ${this.path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  close(): void {
    this.db.close();
  }

  /**
   * Changes whenever the store's content may have changed: another connection committed (PRAGMA
   * data_version) or this one wrote (total_changes(); data_version ignores our own commits, and
   * in the daemon the thin client's commands write through the daemon's own connection). Both
   * only grow, so their sum changes when either does. Cheap change detection.
   */
  dataVersion(): number {
    return this.prepare<[], number>('SELECT (SELECT data_version FROM pragma_data_version()) + total_changes()').pluck().get() as number;
  }

  // Statements are compiled once and kept (the SQL texts are a small fixed set). better-sqlite3
  // frees a statement's native memory only when the JS object is garbage-collected: preparing on
  // every call made the long-running daemon churn and fragment malloc memory (issue 5).
  private readonly statements = new Map<string, BetterSqlite3.Statement>();
  prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): BetterSqlite3.Statement<P extends unknown[] ? P : [P], R> {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s as unknown as BetterSqlite3.Statement<P extends unknown[] ? P : [P], R>;
  }

  schemaVersion(): number {
    return this.db.pragma('user_version', { simple: true }) as number;
  }

  // Several processes may open a fresh file at once: the version is re-read under the write
  // lock, so exactly one of them applies the migrations and the others find nothing to do.
  private migrate(): void {
    const known = MIGRATIONS.length;
    const check = (version: number): void => {
      if (version > known) {
        throw new SystemError(`${this.path} has schema version ${version}, newer than this berth knows (${known}); upgrade berth`);
      }
    };
    const version = this.schemaVersion();
    check(version);
    if (version === known) return;
    this.transaction(() => {
      const lockedVersion = this.schemaVersion();
      check(lockedVersion);
      for (const sql of MIGRATIONS.slice(lockedVersion)) this.db.exec(sql);
      this.db.pragma(`user_version = ${known}`);
    });
  }

  /**
   * Freed pages go back to the file system (issue 11: berth.db stayed at 26 MB after a 64k-port
   * container was removed). A fresh file takes the setting before its first table; an older one
   * is rewritten once (VACUUM, outside any transaction; a process that finds it done does nothing).
   */
  private useIncrementalVacuum(): void {
    const INCREMENTAL = 2;
    if (this.db.pragma('auto_vacuum', { simple: true }) === INCREMENTAL) return;
    this.db.pragma('auto_vacuum = INCREMENTAL');
    if (this.db.pragma('auto_vacuum', { simple: true }) !== INCREMENTAL) this.db.exec('VACUUM');
  }

  /** After a delete: give free pages back once there are enough of them (cheap to ask). */
  reclaim(): void {
    try {
      if ((this.db.pragma('freelist_count', { simple: true }) as number) < RECLAIM_FREE_PAGES) return;
      this.db.pragma('incremental_vacuum');
      // the file shrinks when the WAL is checkpointed up to the vacuum's commit. FULL waits (the
      // busy timeout) for readers of older snapshots, e.g. the daemon's idle poll: PASSIVE stopped
      // short of the end under load and left berth.db at 1.2 MB instead of 80 KB
      this.db.pragma('wal_checkpoint(FULL)');
    } catch {
      // busy: the next delete, or another process, does it
    }
  }

  private translate(err: unknown): unknown {
    if (err instanceof BerthError || !(err instanceof sqliteLib().SqliteError)) return err;
    if (err.code.startsWith('SQLITE_CONSTRAINT')) return new ConflictError(`store ${this.path}: ${err.message}`, { cause: err });
    if (err.code.startsWith('SQLITE_BUSY')) {
      return new SystemError(`store ${this.path} stayed locked by another process for ${BUSY_TIMEOUT_MS} ms`, { cause: err });
    }
    return new SystemError(`store ${this.path}: ${err.message}`, { cause: err });
  }

  /** Run fn in one BEGIN IMMEDIATE transaction (a savepoint when nested); fn must be synchronous. */
  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      throw this.translate(err);
    }
  }

  /** Run fn in one read snapshot (a deferred transaction; a savepoint when nested); fn must be synchronous. */
  read<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).deferred();
    } catch (err) {
      throw this.translate(err);
    }
  }

  /** Docker's last resort: a unique prefix of the hex id. */
  byIdPrefix<Row>(table: 'networks' | 'containers', what: string, ref: string): Row | undefined {
    if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
    const rows = this.prepare<[number, string], Row>(`SELECT * FROM ${table} WHERE substr(id, 1, ?) = ? LIMIT 2`).all(ref.length, ref);
    if (rows.length > 1) throw new UserError(`${what} ${ref} is ambiguous: several ids start with it; give more of the id or the name`);
    return rows[0];
  }
}
