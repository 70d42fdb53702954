// Endpoints in berth.db: a container's interface on a network, unique by (container, interface
// name). Deleting one also releases its published ports and the addresses it owns.
import { ConflictError, NotFoundError } from '../common/errors.js';
import { checkNewEndpoint } from './records.js';
import type { SqliteDb } from './sqlite-db.js';
import type { SqliteNetworks } from './sqlite-networks.js';
import type { EndpointRecord, NewEndpoint } from './store.js';

interface EndpointRow {
  id: string;
  network_id: string;
  container_id: string;
  interface: string;
  mac: string | null;
  addresses: string;
  aliases: string;
  gw_priority: number;
}

function toEndpoint(row: EndpointRow): EndpointRecord {
  return {
    id: row.id,
    networkId: row.network_id,
    containerId: row.container_id,
    interfaceName: row.interface,
    mac: row.mac,
    addresses: JSON.parse(row.addresses) as string[],
    aliases: JSON.parse(row.aliases) as string[],
    gwPriority: row.gw_priority,
  };
}

export class SqliteEndpoints {
  constructor(
    private readonly db: SqliteDb,
    private readonly networks: SqliteNetworks,
  ) {}

  create(endpoint: NewEndpoint): EndpointRecord {
    const record = checkNewEndpoint(endpoint);
    return this.db.transaction(() => {
      if (!this.networks.row('id', record.networkId)) throw new NotFoundError(`network ${record.networkId} not found`);
      if (this.get(record.id)) throw new ConflictError(`endpoint with id ${record.id} already exists`);
      const sameName = this.db
        .prepare<[string, string], { id: string }>('SELECT id FROM endpoints WHERE container_id = ? AND interface = ?')
        .get(record.containerId, record.interfaceName);
      if (sameName) {
        throw new ConflictError(
          `container ${record.containerId} already has an interface ${record.interfaceName} (endpoint ${sameName.id.slice(0, 12)})`,
        );
      }
      this.db
        .prepare(
          'INSERT INTO endpoints (id, network_id, container_id, interface, mac, addresses, aliases, gw_priority) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
        )
        .run(
          record.id, record.networkId, record.containerId, record.interfaceName, record.mac,
          JSON.stringify(record.addresses), JSON.stringify(record.aliases), record.gwPriority ?? 0,
        );
      return { ...record, gwPriority: record.gwPriority ?? 0 };
    });
  }

  get(id: string): EndpointRecord | undefined {
    const row = this.db.prepare<[string], EndpointRow>('SELECT * FROM endpoints WHERE id = ?').get(id);
    return row && toEndpoint(row);
  }

  list(filter: { networkId?: string; containerId?: string } = {}): EndpointRecord[] {
    // one statement per filter: with `@x IS NULL OR column = @x` SQLite cannot use the column's
    // index and scanned every endpoint for each container's lookup (issue 16)
    const where = [
      ...(filter.networkId !== undefined ? ['network_id = @networkId'] : []),
      ...(filter.containerId !== undefined ? ['container_id = @containerId'] : []),
    ];
    return this.db
      .prepare<{ networkId?: string; containerId?: string }, EndpointRow>(
        `SELECT * FROM endpoints${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY container_id, interface`,
      )
      .all({ ...(filter.networkId !== undefined ? { networkId: filter.networkId } : {}), ...(filter.containerId !== undefined ? { containerId: filter.containerId } : {}) })
      .map(toEndpoint);
  }

  /** Hand an endpoint and its published ports to another container id (Docker's sandbox, known only at Join). */
  setContainer(id: string, containerId: string): void {
    const record = this.get(id);
    if (!record) throw new NotFoundError(`endpoint ${id} not found`);
    checkNewEndpoint({ ...record, containerId });
    this.db.transaction(() => {
      this.db.prepare('UPDATE endpoints SET container_id = ? WHERE id = ?').run(containerId, id);
      this.db.prepare('UPDATE ports SET container_id = ? WHERE endpoint_id = ?').run(containerId, id);
    });
  }

  delete(id: string): boolean {
    const gone = this.db.transaction(() => {
      this.db.prepare('DELETE FROM ports WHERE endpoint_id = ?').run(id);
      this.db.prepare('DELETE FROM allocations WHERE owner = ?').run(id);
      return this.db.prepare('DELETE FROM endpoints WHERE id = ?').run(id).changes > 0;
    });
    this.db.reclaim();
    return gone;
  }
}
