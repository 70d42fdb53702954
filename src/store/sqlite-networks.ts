// Networks in berth.db: unique by name and id, no subnet overlapping another network's; the
// gateway and aux addresses are reserved with the network.
import { ConflictError, NotFoundError } from '../common/errors.js';
import { cidrsOverlap, parseCidr, validateSubnetConfig, type SubnetConfig } from '../ipam/index.js';
import { checkInterfaceName, checkNewNetwork } from './records.js';
import type { SqliteDb } from './sqlite-db.js';
import type { NetworkRecord, NetworkScope, NewNetwork } from './store.js';

export interface NetworkRow {
  id: string;
  name: string;
  driver: string;
  scope: string;
  created: string;
  options: string;
  labels: string;
  internal: number;
  attachable: number;
  ipv6: number;
  interface: string | null;
  subnets: string;
  state: string;
}

function toNetwork(row: NetworkRow): NetworkRecord {
  const record = {
    id: row.id,
    name: row.name,
    driver: row.driver,
    scope: row.scope as NetworkScope,
    created: row.created,
    options: JSON.parse(row.options) as Record<string, string>,
    internal: row.internal === 1,
    attachable: row.attachable === 1,
    ipv6: row.ipv6 === 1,
    interfaceName: row.interface,
    subnets: JSON.parse(row.subnets) as SubnetConfig[],
    state: JSON.parse(row.state) as Record<string, unknown>,
  };
  // Labels are decoded on first use: most readers of a network (subnets, bridges, firewall, the
  // daemon's polls) never look at them, and they are the one part users make large (issue 11).
  let labels: Record<string, string> | undefined;
  return Object.defineProperty(record, 'labels', {
    enumerable: true,
    configurable: true,
    get: () => (labels ??= JSON.parse(row.labels) as Record<string, string>),
    set: (value: Record<string, string>) => void (labels = value),
  }) as NetworkRecord;
}

export class SqliteNetworks {
  constructor(private readonly db: SqliteDb) {}

  create(network: NewNetwork): NetworkRecord {
    const record = checkNewNetwork(network);
    return this.db.transaction(() => {
      if (this.row('name', record.name)) throw new ConflictError(`network with name ${record.name} already exists`);
      if (this.row('id', record.id)) throw new ConflictError(`network with id ${record.id} already exists`);
      this.checkNoOverlap(record);
      this.db
        .prepare(
          `INSERT INTO networks (id, name, driver, scope, created, options, labels, internal, attachable, ipv6, interface, subnets)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(
          record.id, record.name, record.driver, record.scope, record.created,
          JSON.stringify(record.options), JSON.stringify(record.labels),
          Number(record.internal), Number(record.attachable), Number(record.ipv6),
          record.interfaceName, JSON.stringify(record.subnets),
        );
      // The gateway and aux addresses are allocations like any other, so they show as in use.
      const insert = this.db.prepare('INSERT INTO allocations (network_id, subnet, address, owner) VALUES (?, ?, ?, ?)');
      for (const config of record.subnets) {
        const subnet = validateSubnetConfig(config);
        insert.run(record.id, subnet.cidr.text, subnet.gateway.text, 'gateway');
        for (const [name, address] of subnet.auxAddresses) insert.run(record.id, subnet.cidr.text, address.text, `aux:${name}`);
      }
      return { ...record, state: {} };
    });
  }

  private checkNoOverlap(record: NetworkRecord): void {
    for (const other of this.list()) {
      for (const mine of record.subnets) {
        const a = parseCidr(mine.subnet);
        const clash = other.subnets.find((s) => cidrsOverlap(a, parseCidr(s.subnet)));
        if (clash) {
          throw new ConflictError(
            `subnet ${a.text} overlaps subnet ${clash.subnet} of network ${other.name}; choose a subnet that overlaps no other network`,
          );
        }
      }
    }
  }

  /** The raw row, undecoded: for checks inside other aggregates' transactions. */
  row(column: 'id' | 'name', value: string): NetworkRow | undefined {
    return this.db.prepare<[string], NetworkRow>(`SELECT * FROM networks WHERE ${column} = ?`).get(value);
  }

  find(ref: string): NetworkRecord | undefined {
    const row = this.row('id', ref) ?? this.row('name', ref) ?? this.db.byIdPrefix<NetworkRow>('networks', 'network', ref);
    return row && toNetwork(row);
  }

  get(ref: string): NetworkRecord {
    const network = this.find(ref);
    if (!network) throw new NotFoundError(`network ${ref} not found`);
    return network;
  }

  list(): NetworkRecord[] {
    return this.db.prepare<[], NetworkRow>('SELECT * FROM networks ORDER BY created, name').all().map(toNetwork);
  }

  count(): number {
    return this.db.prepare<[], number>('SELECT count(*) FROM networks').pluck().get() as number;
  }

  setInterface(id: string, interfaceName: string | null): void {
    if (interfaceName !== null) checkInterfaceName(interfaceName);
    this.db.transaction(() => {
      const { changes } = this.db.prepare('UPDATE networks SET interface = ? WHERE id = ?').run(interfaceName, id);
      if (changes === 0) throw new NotFoundError(`network ${id} not found`);
    });
  }

  setState(id: string, state: Record<string, unknown>): void {
    this.db.transaction(() => {
      const { changes } = this.db.prepare('UPDATE networks SET state = ? WHERE id = ?').run(JSON.stringify(state), id);
      if (changes === 0) throw new NotFoundError(`network ${id} not found`);
    });
  }

  delete(id: string): boolean {
    const gone = this.db.transaction(() => {
      const row = this.row('id', id);
      if (!row) return false;
      const { count } = this.db
        .prepare<[string], { count: number }>('SELECT count(*) AS count FROM endpoints WHERE network_id = ?')
        .get(id) ?? { count: 0 };
      if (count > 0) {
        throw new ConflictError(`network ${row.name} (${id.slice(0, 12)}) has ${count} active endpoint(s); disconnect them first`);
      }
      this.db.prepare('DELETE FROM networks WHERE id = ?').run(id); // allocations go by ON DELETE CASCADE
      return true;
    });
    this.db.reclaim();
    return gone;
  }
}
