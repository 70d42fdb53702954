// The Store in $BERTH_ROOT/berth.db. Several berth processes share the file: WAL lets readers
// run beside one writer, busy_timeout makes writers queue instead of failing, and every method
// that reserves something reads and writes inside one BEGIN IMMEDIATE transaction, so its
// check-then-insert cannot interleave with another process's.
import Database from 'better-sqlite3';
import { chmodSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError, ConflictError, NotFoundError, SystemError, UserError, quote } from '../common/errors.js';
import { allocateAddress, cidrsOverlap, parseAddress, parseCidr, validateSubnetConfig, type SubnetConfig } from '../ipam/index.js';
import { MIGRATIONS } from './migrations.js';
import {
  checkHostPort,
  checkInterfaceName,
  checkNewContainer,
  checkNewEndpoint,
  checkNewNetwork,
  checkOwner,
  checkPortRecord,
} from './records.js';
import type {
  ContainerRecord,
  EndpointRecord,
  NetworkRecord,
  NetworkScope,
  NewContainer,
  NewEndpoint,
  NewNetwork,
  PortProto,
  PortRecord,
  Store,
} from './store.js';

const BUSY_TIMEOUT_MS = 5000;
/** Free pages (4 KiB each) worth giving back to the file system after a delete: 1 MiB. */
const RECLAIM_FREE_PAGES = 256;
/** The WAL file is cut back to this after a checkpoint (it otherwise keeps its largest size). */
const JOURNAL_SIZE_LIMIT = 4 * 1024 * 1024;

interface NetworkRow {
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

interface ContainerRow {
  id: string;
  name: string;
  created: string;
  config: string;
  state: string;
}

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

interface PortRow {
  proto: string;
  host_ip: string;
  host_port: number;
  container_id: string;
  endpoint_id: string | null;
  target_ip: string;
  target_port: number;
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

function toContainer(row: ContainerRow): ContainerRecord {
  return {
    id: row.id,
    name: row.name,
    created: row.created,
    config: JSON.parse(row.config) as unknown,
    state: JSON.parse(row.state) as unknown,
  };
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

const sleepBuffer = new Int32Array(new SharedArrayBuffer(4));

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
      Atomics.wait(sleepBuffer, 0, 0, delay);
    }
  }
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

export class SqliteStore implements Store {
  readonly path: string;
  private readonly db: Database.Database;

  /** Open (creating if needed, mode 0700) the store in directory `root` and bring its schema up to date. */
  constructor(root: string) {
    this.path = join(root, 'berth.db');
    let db: Database.Database | undefined;
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
        db = new Database(this.path, { timeout: BUSY_TIMEOUT_MS });
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
  private readonly statements = new Map<string, Database.Statement>();
  private prepare<P extends unknown[] | object = unknown[], R = unknown>(sql: string): Database.Statement<P extends unknown[] ? P : [P], R> {
    let s = this.statements.get(sql);
    if (!s) this.statements.set(sql, (s = this.db.prepare(sql)));
    return s as unknown as Database.Statement<P extends unknown[] ? P : [P], R>;
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
  private reclaim(): void {
    try {
      if ((this.db.pragma('freelist_count', { simple: true }) as number) < RECLAIM_FREE_PAGES) return;
      this.db.pragma('incremental_vacuum');
      // the file shrinks when the WAL is checkpointed; PASSIVE waits for nobody
      this.db.pragma('wal_checkpoint(PASSIVE)');
    } catch {
      // busy: the next delete, or another process, does it
    }
  }

  private translate(err: unknown): unknown {
    if (err instanceof BerthError || !(err instanceof Database.SqliteError)) return err;
    if (err.code.startsWith('SQLITE_CONSTRAINT')) return new ConflictError(`store ${this.path}: ${err.message}`, { cause: err });
    if (err.code.startsWith('SQLITE_BUSY')) {
      return new SystemError(`store ${this.path} stayed locked by another process for ${BUSY_TIMEOUT_MS} ms`, { cause: err });
    }
    return new SystemError(`store ${this.path}: ${err.message}`, { cause: err });
  }

  transaction<T>(fn: () => T): T {
    try {
      return this.db.transaction(fn).immediate();
    } catch (err) {
      throw this.translate(err);
    }
  }

  // ---- networks ----

  createNetwork(network: NewNetwork): NetworkRecord {
    const record = checkNewNetwork(network);
    return this.transaction(() => {
      if (this.networkRow('name', record.name)) throw new ConflictError(`network with name ${record.name} already exists`);
      if (this.networkRow('id', record.id)) throw new ConflictError(`network with id ${record.id} already exists`);
      this.checkNoOverlap(record);
      this
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
      const insert = this.prepare('INSERT INTO allocations (network_id, subnet, address, owner) VALUES (?, ?, ?, ?)');
      for (const config of record.subnets) {
        const subnet = validateSubnetConfig(config);
        insert.run(record.id, subnet.cidr.text, subnet.gateway.text, 'gateway');
        for (const [name, address] of subnet.auxAddresses) insert.run(record.id, subnet.cidr.text, address.text, `aux:${name}`);
      }
      return { ...record, state: {} };
    });
  }

  private checkNoOverlap(record: NetworkRecord): void {
    for (const other of this.listNetworks()) {
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

  private networkRow(column: 'id' | 'name', value: string): NetworkRow | undefined {
    return this.prepare<[string], NetworkRow>(`SELECT * FROM networks WHERE ${column} = ?`).get(value);
  }

  findNetwork(ref: string): NetworkRecord | undefined {
    const row = this.networkRow('id', ref) ?? this.networkRow('name', ref) ?? this.byIdPrefix<NetworkRow>('networks', 'network', ref);
    return row && toNetwork(row);
  }

  getNetwork(ref: string): NetworkRecord {
    const network = this.findNetwork(ref);
    if (!network) throw new NotFoundError(`network ${ref} not found`);
    return network;
  }

  listNetworks(): NetworkRecord[] {
    return this.prepare<[], NetworkRow>('SELECT * FROM networks ORDER BY created, name').all().map(toNetwork);
  }

  countNetworks(): number {
    return this.prepare<[], number>('SELECT count(*) FROM networks').pluck().get() as number;
  }

  setNetworkInterface(id: string, interfaceName: string | null): void {
    if (interfaceName !== null) checkInterfaceName(interfaceName);
    this.transaction(() => {
      const { changes } = this.prepare('UPDATE networks SET interface = ? WHERE id = ?').run(interfaceName, id);
      if (changes === 0) throw new NotFoundError(`network ${id} not found`);
    });
  }

  setNetworkState(id: string, state: Record<string, unknown>): void {
    this.transaction(() => {
      const { changes } = this.prepare('UPDATE networks SET state = ? WHERE id = ?').run(JSON.stringify(state), id);
      if (changes === 0) throw new NotFoundError(`network ${id} not found`);
    });
  }

  deleteNetwork(id: string): boolean {
    const gone = this.transaction(() => {
      const row = this.networkRow('id', id);
      if (!row) return false;
      const { count } = this
        .prepare<[string], { count: number }>('SELECT count(*) AS count FROM endpoints WHERE network_id = ?')
        .get(id) ?? { count: 0 };
      if (count > 0) {
        throw new ConflictError(`network ${row.name} (${id.slice(0, 12)}) has ${count} active endpoint(s); disconnect them first`);
      }
      this.prepare('DELETE FROM networks WHERE id = ?').run(id); // allocations go by ON DELETE CASCADE
      return true;
    });
    this.reclaim();
    return gone;
  }

  /** Docker's last resort: a unique prefix of the hex id. */
  private byIdPrefix<Row>(table: 'networks' | 'containers', what: string, ref: string): Row | undefined {
    if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
    const rows = this.prepare<[number, string], Row>(`SELECT * FROM ${table} WHERE substr(id, 1, ?) = ? LIMIT 2`).all(ref.length, ref);
    if (rows.length > 1) throw new UserError(`${what} ${ref} is ambiguous: several ids start with it; give more of the id or the name`);
    return rows[0];
  }

  // ---- addresses ----

  allocateAddress(networkId: string, subnetCidr: string, owner: string, request: { static?: string } = {}): string {
    checkOwner(owner);
    const cidr = parseCidr(subnetCidr, 'subnet');
    return this.transaction(() => {
      const network = this.networkRow('id', networkId);
      if (!network) throw new NotFoundError(`network ${networkId} not found`);
      const subnets = JSON.parse(network.subnets) as SubnetConfig[];
      const config = subnets.find((s) => s.subnet === cidr.text);
      if (!config) {
        const known = subnets.map((s) => s.subnet).join(', ') || 'none';
        throw new UserError(`network ${network.name} has no subnet ${cidr.text}; its subnets: ${known}`);
      }
      const used = this
        .prepare<[string, string], { address: string }>('SELECT address FROM allocations WHERE network_id = ? AND subnet = ?')
        .all(networkId, cidr.text)
        .map((r) => r.address);
      const address = allocateAddress(validateSubnetConfig(config), used, request.static);
      this
        .prepare('INSERT INTO allocations (network_id, subnet, address, owner) VALUES (?, ?, ?, ?)')
        .run(networkId, cidr.text, address.text, owner);
      return address.text;
    });
  }

  releaseAddress(networkId: string, address: string): boolean {
    const canonical = parseAddress(address).text;
    return this.transaction(
      () => this.prepare('DELETE FROM allocations WHERE network_id = ? AND address = ?').run(networkId, canonical).changes > 0,
    );
  }

  releaseOwner(owner: string): number {
    return this.transaction(() => this.prepare('DELETE FROM allocations WHERE owner = ?').run(owner).changes);
  }

  listAllocations(networkId: string): { subnet: string; address: string; owner: string }[] {
    return this
      .prepare<[string], { subnet: string; address: string; owner: string }>(
        'SELECT subnet, address, owner FROM allocations WHERE network_id = ? ORDER BY subnet, address',
      )
      .all(networkId);
  }

  // ---- containers ----

  createContainer(container: NewContainer): ContainerRecord {
    const record = checkNewContainer(container);
    return this.transaction(() => {
      const holder = this.containerRow('name', record.name);
      if (holder) throw new ConflictError(`container name ${record.name} is already in use by container ${holder.id}; choose another name`);
      if (this.containerRow('id', record.id)) throw new ConflictError(`container with id ${record.id} already exists`);
      this
        .prepare('INSERT INTO containers (id, name, created, config, state) VALUES (?, ?, ?, ?, ?)')
        .run(record.id, record.name, record.created, JSON.stringify(record.config), JSON.stringify(record.state));
      return record;
    });
  }

  private containerRow(column: 'id' | 'name', value: string): ContainerRow | undefined {
    return this.prepare<[string], ContainerRow>(`SELECT * FROM containers WHERE ${column} = ?`).get(value);
  }

  findContainer(ref: string): ContainerRecord | undefined {
    const row = this.containerRow('id', ref) ?? this.containerRow('name', ref) ?? this.byIdPrefix<ContainerRow>('containers', 'container', ref);
    return row && toContainer(row);
  }

  getContainer(ref: string): ContainerRecord {
    const container = this.findContainer(ref);
    if (!container) throw new NotFoundError(`container ${ref} not found`);
    return container;
  }

  listContainers(): ContainerRecord[] {
    return this.prepare<[], ContainerRow>('SELECT * FROM containers ORDER BY created, name').all().map(toContainer);
  }

  updateContainerState(id: string, state: unknown): void {
    const json = JSON.stringify(state ?? null);
    this.transaction(() => {
      const { changes } = this.prepare('UPDATE containers SET state = ? WHERE id = ?').run(json, id);
      if (changes === 0) throw new NotFoundError(`container ${id} not found`);
    });
  }

  deleteContainer(id: string): boolean {
    const gone = this.transaction(() => this.prepare('DELETE FROM containers WHERE id = ?').run(id).changes > 0);
    this.reclaim();
    return gone;
  }

  // ---- endpoints ----

  createEndpoint(endpoint: NewEndpoint): EndpointRecord {
    const record = checkNewEndpoint(endpoint);
    return this.transaction(() => {
      if (!this.networkRow('id', record.networkId)) throw new NotFoundError(`network ${record.networkId} not found`);
      if (this.getEndpoint(record.id)) throw new ConflictError(`endpoint with id ${record.id} already exists`);
      const sameName = this
        .prepare<[string, string], { id: string }>('SELECT id FROM endpoints WHERE container_id = ? AND interface = ?')
        .get(record.containerId, record.interfaceName);
      if (sameName) {
        throw new ConflictError(
          `container ${record.containerId} already has an interface ${record.interfaceName} (endpoint ${sameName.id.slice(0, 12)})`,
        );
      }
      this
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

  getEndpoint(id: string): EndpointRecord | undefined {
    const row = this.prepare<[string], EndpointRow>('SELECT * FROM endpoints WHERE id = ?').get(id);
    return row && toEndpoint(row);
  }

  listEndpoints(filter: { networkId?: string; containerId?: string } = {}): EndpointRecord[] {
    return this
      .prepare<{ networkId: string | null; containerId: string | null }, EndpointRow>(
        `SELECT * FROM endpoints
         WHERE (@networkId IS NULL OR network_id = @networkId) AND (@containerId IS NULL OR container_id = @containerId)
         ORDER BY container_id, interface`,
      )
      .all({ networkId: filter.networkId ?? null, containerId: filter.containerId ?? null })
      .map(toEndpoint);
  }

  deleteEndpoint(id: string): boolean {
    const gone = this.transaction(() => {
      this.prepare('DELETE FROM ports WHERE endpoint_id = ?').run(id);
      this.prepare('DELETE FROM allocations WHERE owner = ?').run(id);
      return this.prepare('DELETE FROM endpoints WHERE id = ?').run(id).changes > 0;
    });
    this.reclaim();
    return gone;
  }

  // ---- published ports ----

  reservePort(port: PortRecord): PortRecord {
    const record = checkPortRecord(port);
    return this.transaction(() => {
      const clash = this
        .prepare<[string, number], PortRow>('SELECT * FROM ports WHERE proto = ? AND host_port = ?')
        .all(record.proto, record.hostPort)
        .find((row) => hostIpsClash(row.host_ip, record.hostIp));
      if (clash) {
        throw new ConflictError(
          `cannot publish ${record.proto} ${hostPortText(record.hostIp, record.hostPort)}: port is already allocated ` +
            `to container ${clash.container_id.slice(0, 12)} (${hostPortText(clash.host_ip, clash.host_port)}); choose another host port`,
        );
      }
      if (record.endpointId !== null && !this.getEndpoint(record.endpointId)) {
        throw new NotFoundError(`endpoint ${record.endpointId} not found`);
      }
      this
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

  releasePort(proto: PortProto, hostIp: string, hostPort: number): boolean {
    const key = checkHostPort(proto, hostIp, hostPort);
    return this.transaction(
      () => this.prepare('DELETE FROM ports WHERE proto = ? AND host_ip = ? AND host_port = ?').run(...key).changes > 0,
    );
  }

  releasePorts(owner: { containerId: string } | { endpointId: string }): number {
    const [column, value] = 'containerId' in owner ? ['container_id', owner.containerId] : ['endpoint_id', owner.endpointId];
    const released = this.transaction(() => this.prepare(`DELETE FROM ports WHERE ${column} = ?`).run(value).changes);
    this.reclaim();
    return released;
  }

  listPorts(filter: { containerId?: string; endpointId?: string } = {}): PortRecord[] {
    return this
      .prepare<{ containerId: string | null; endpointId: string | null }, PortRow>(
        `SELECT * FROM ports
         WHERE (@containerId IS NULL OR container_id = @containerId) AND (@endpointId IS NULL OR endpoint_id = @endpointId)
         ORDER BY proto, host_port, host_ip`,
      )
      .all({ containerId: filter.containerId ?? null, endpointId: filter.endpointId ?? null })
      .map(toPort);
  }
}

