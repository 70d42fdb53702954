// Containers in berth.db: unique by name and id; config and state are the engine's, kept as JSON.
import { ConflictError, NotFoundError } from '../common/errors.js';
import { checkNewContainer } from './records.js';
import type { SqliteDb } from './sqlite-db.js';
import type { ContainerRecord, NewContainer } from './store.js';

interface ContainerRow {
  id: string;
  name: string;
  created: string;
  config: string;
  state: string;
}

function toContainer(row: ContainerRow): ContainerRecord {
  return {
    id: row.id,
    name: row.name,
    created: row.created,
    config: JSON.parse(row.config) as unknown,
    state: JSON.parse(row.state) as unknown,
  };
}

export class SqliteContainers {
  constructor(private readonly db: SqliteDb) {}

  create(container: NewContainer): ContainerRecord {
    const record = checkNewContainer(container);
    return this.db.transaction(() => {
      const holder = this.row('name', record.name);
      if (holder) throw new ConflictError(`container name ${record.name} is already in use by container ${holder.id}; choose another name`);
      if (this.row('id', record.id)) throw new ConflictError(`container with id ${record.id} already exists`);
      this.db
        .prepare('INSERT INTO containers (id, name, created, config, state) VALUES (?, ?, ?, ?, ?)')
        .run(record.id, record.name, record.created, JSON.stringify(record.config), JSON.stringify(record.state));
      return record;
    });
  }

  private row(column: 'id' | 'name', value: string): ContainerRow | undefined {
    return this.db.prepare<[string], ContainerRow>(`SELECT * FROM containers WHERE ${column} = ?`).get(value);
  }

  find(ref: string): ContainerRecord | undefined {
    const row = this.row('id', ref) ?? this.row('name', ref) ?? this.db.byIdPrefix<ContainerRow>('containers', 'container', ref);
    return row && toContainer(row);
  }

  get(ref: string): ContainerRecord {
    const container = this.find(ref);
    if (!container) throw new NotFoundError(`container ${ref} not found`);
    return container;
  }

  list(): ContainerRecord[] {
    return this.db.prepare<[], ContainerRow>('SELECT * FROM containers ORDER BY created, name').all().map(toContainer);
  }

  updateState(id: string, state: unknown): void {
    const json = JSON.stringify(state ?? null);
    this.db.transaction(() => {
      const { changes } = this.db.prepare('UPDATE containers SET state = ? WHERE id = ?').run(json, id);
      if (changes === 0) throw new NotFoundError(`container ${id} not found`);
    });
  }

  delete(id: string): boolean {
    const gone = this.db.transaction(() => this.db.prepare('DELETE FROM containers WHERE id = ?').run(id).changes > 0);
    this.db.reclaim();
    return gone;
  }
}
