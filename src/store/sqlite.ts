// The Store in $BERTH_ROOT/berth.db. Several berth processes share the file: WAL lets readers
// run beside one writer, busy_timeout makes writers queue instead of failing, and every method
// that reserves something reads and writes inside one BEGIN IMMEDIATE transaction, so its
// check-then-insert cannot interleave with another process's.
// SqliteStore is the façade; each aggregate lives in its own module over one SqliteDb (the
// connection, file modes, migrations and transactions: sqlite-db.ts): networks
// (sqlite-networks.ts), addresses (sqlite-addresses.ts), containers (sqlite-containers.ts),
// endpoints (sqlite-endpoints.ts) and published ports (sqlite-ports.ts).
import { SqliteAddresses } from './sqlite-addresses.js';
import { SqliteChanges } from './sqlite-changes.js';
import { SqliteContainers } from './sqlite-containers.js';
import { SqliteDb } from './sqlite-db.js';
import { SqliteEndpoints } from './sqlite-endpoints.js';
import { SqliteNetworks } from './sqlite-networks.js';
import { SqlitePorts } from './sqlite-ports.js';
import type {
  ContainerRecord,
  EndpointRecord,
  NetworkRecord,
  NewContainer,
  NewEndpoint,
  NewNetwork,
  PortProto,
  PortRecord,
  Store,
  StoreChanges,
} from './store.js';

export class SqliteStore implements Store {
  readonly path: string;
  private readonly db: SqliteDb;
  private readonly networks: SqliteNetworks;
  private readonly addresses: SqliteAddresses;
  private readonly containers: SqliteContainers;
  private readonly endpoints: SqliteEndpoints;
  private readonly ports: SqlitePorts;
  private readonly changes: SqliteChanges;

  /** Open (creating if needed, mode 0700) the store in directory `root` and bring its schema up to date. */
  constructor(root: string) {
    this.db = new SqliteDb(root);
    this.path = this.db.path;
    this.networks = new SqliteNetworks(this.db);
    this.addresses = new SqliteAddresses(this.db, this.networks);
    this.containers = new SqliteContainers(this.db);
    this.endpoints = new SqliteEndpoints(this.db, this.networks);
    this.ports = new SqlitePorts(this.db, this.endpoints);
    this.changes = new SqliteChanges(this.db);
  }

  close(): void {
    this.db.close();
  }

  dataVersion(): number {
    return this.db.dataVersion();
  }

  schemaVersion(): number {
    return this.db.schemaVersion();
  }

  changesSeq(): number {
    return this.changes.seq();
  }

  changesSince(seq: number): StoreChanges | undefined {
    return this.changes.since(seq);
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn);
  }

  // ---- networks ----

  createNetwork(network: NewNetwork): NetworkRecord {
    return this.networks.create(network);
  }

  findNetwork(ref: string): NetworkRecord | undefined {
    return this.networks.find(ref);
  }

  getNetwork(ref: string): NetworkRecord {
    return this.networks.get(ref);
  }

  listNetworks(): NetworkRecord[] {
    return this.networks.list();
  }

  countNetworks(): number {
    return this.networks.count();
  }

  setNetworkInterface(id: string, interfaceName: string | null): void {
    this.networks.setInterface(id, interfaceName);
  }

  setNetworkState(id: string, state: Record<string, unknown>): void {
    this.networks.setState(id, state);
  }

  deleteNetwork(id: string): boolean {
    return this.networks.delete(id);
  }

  // ---- addresses ----

  allocateAddress(networkId: string, subnetCidr: string, owner: string, request: { static?: string } = {}): string {
    return this.addresses.allocate(networkId, subnetCidr, owner, request);
  }

  releaseAddress(networkId: string, address: string): boolean {
    return this.addresses.release(networkId, address);
  }

  releaseOwner(owner: string): number {
    return this.addresses.releaseOwner(owner);
  }

  listAllocations(networkId: string): { subnet: string; address: string; owner: string }[] {
    return this.addresses.list(networkId);
  }

  // ---- containers ----

  createContainer(container: NewContainer): ContainerRecord {
    return this.containers.create(container);
  }

  findContainer(ref: string): ContainerRecord | undefined {
    return this.containers.find(ref);
  }

  getContainer(ref: string): ContainerRecord {
    return this.containers.get(ref);
  }

  listContainers(): ContainerRecord[] {
    return this.containers.list();
  }

  updateContainerState(id: string, state: unknown): void {
    this.containers.updateState(id, state);
  }

  deleteContainer(id: string): boolean {
    return this.containers.delete(id);
  }

  // ---- endpoints ----

  createEndpoint(endpoint: NewEndpoint): EndpointRecord {
    return this.endpoints.create(endpoint);
  }

  getEndpoint(id: string): EndpointRecord | undefined {
    return this.endpoints.get(id);
  }

  listEndpoints(filter: { networkId?: string; containerId?: string } = {}): EndpointRecord[] {
    return this.endpoints.list(filter);
  }

  setEndpointContainer(id: string, containerId: string): void {
    this.endpoints.setContainer(id, containerId);
  }

  deleteEndpoint(id: string): boolean {
    return this.endpoints.delete(id);
  }

  // ---- published ports ----

  reservePort(port: PortRecord): PortRecord {
    return this.ports.reserve(port);
  }

  releasePort(proto: PortProto, hostIp: string, hostPort: number): boolean {
    return this.ports.release(proto, hostIp, hostPort);
  }

  releasePorts(owner: { containerId: string } | { endpointId: string }): number {
    return this.ports.releaseAll(owner);
  }

  listPorts(filter: { containerId?: string; endpointId?: string } = {}): PortRecord[] {
    return this.ports.list(filter);
  }

  // ---- settings ----

  getSetting(key: string): string | undefined {
    return this.db.prepare<[string], string>('SELECT value FROM settings WHERE key = ?').pluck().get(key);
  }

  setSetting(key: string, value: string): void {
    this.db.prepare<[string, string]>('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value').run(key, value);
  }
}
