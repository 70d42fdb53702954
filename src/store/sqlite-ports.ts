// Published ports in berth.db: one row per (proto, host ip, host port); a wildcard host address
// clashes with every address of its family on the same proto and port.
import { ConflictError, NotFoundError } from '../common/errors.js';
import { parseAddress } from '../ipam/index.js';
import { checkHostPort, checkPortRecord } from './records.js';
import type { SqliteDb } from './sqlite-db.js';
import type { SqliteEndpoints } from './sqlite-endpoints.js';
import type { PortProto, PortRecord } from './store.js';

interface PortRow {
  proto: string;
  host_ip: string;
  host_port: number;
  container_id: string;
  endpoint_id: string | null;
  target_ip: string;
  target_port: number;
}

function toPort(row: PortRow): PortRecord {
  return {
    proto: row.proto as PortProto,
    hostIp: row.host_ip,
    hostPort: row.host_port,
    containerId: row.container_id,
    endpointId: row.endpoint_id,
    targetIp: row.target_ip,
    targetPort: row.target_port,
  };
}

function hostPortText(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** Two host addresses clash on the same proto/port when equal, or when either is its family's wildcard. */
function hostIpsClash(a: string, b: string): boolean {
  const x = parseAddress(a, 'host ip');
  const y = parseAddress(b, 'host ip');
  return x.family === y.family && (x.value === y.value || x.value === 0n || y.value === 0n);
}

export class SqlitePorts {
  constructor(
    private readonly db: SqliteDb,
    private readonly endpoints: SqliteEndpoints,
  ) {}

  reserve(port: PortRecord): PortRecord {
    const record = checkPortRecord(port);
    return this.db.transaction(() => {
      const clash = this.db
        .prepare<[string, number], PortRow>('SELECT * FROM ports WHERE proto = ? AND host_port = ?')
        .all(record.proto, record.hostPort)
        .find((row) => hostIpsClash(row.host_ip, record.hostIp));
      if (clash) {
        throw new ConflictError(
          `cannot publish ${record.proto} ${hostPortText(record.hostIp, record.hostPort)}: port is already allocated ` +
            `to container ${clash.container_id.slice(0, 12)} (${hostPortText(clash.host_ip, clash.host_port)}); choose another host port`,
        );
      }
      if (record.endpointId !== null && !this.endpoints.get(record.endpointId)) {
        throw new NotFoundError(`endpoint ${record.endpointId} not found`);
      }
      this.db
        .prepare(
          `INSERT INTO ports (proto, host_ip, host_port, container_id, endpoint_id, target_ip, target_port)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.proto, record.hostIp, record.hostPort, record.containerId, record.endpointId, record.targetIp, record.targetPort,
        );
      return record;
    });
  }

  release(proto: PortProto, hostIp: string, hostPort: number): boolean {
    const key = checkHostPort(proto, hostIp, hostPort);
    return this.db.transaction(
      () => this.db.prepare('DELETE FROM ports WHERE proto = ? AND host_ip = ? AND host_port = ?').run(...key).changes > 0,
    );
  }

  releaseAll(owner: { containerId: string } | { endpointId: string }): number {
    const [column, value] = 'containerId' in owner ? ['container_id', owner.containerId] : ['endpoint_id', owner.endpointId];
    const released = this.db.transaction(() => this.db.prepare(`DELETE FROM ports WHERE ${column} = ?`).run(value).changes);
    this.db.reclaim();
    return released;
  }

  list(filter: { containerId?: string; endpointId?: string } = {}): PortRecord[] {
    // one statement per filter: with `@x IS NULL OR column = @x` SQLite cannot use the column's
    // index and scanned every port for each container's lookup (issue 16)
    const where = [
      ...(filter.containerId !== undefined ? ['container_id = @containerId'] : []),
      ...(filter.endpointId !== undefined ? ['endpoint_id = @endpointId'] : []),
    ];
    return this.db
      .prepare<{ containerId?: string; endpointId?: string }, PortRow>(
        `SELECT * FROM ports${where.length ? ` WHERE ${where.join(' AND ')}` : ''} ORDER BY proto, host_port, host_ip`,
      )
      .all({ ...(filter.containerId !== undefined ? { containerId: filter.containerId } : {}), ...(filter.endpointId !== undefined ? { endpointId: filter.endpointId } : {}) })
      .map(toPort);
  }
}
