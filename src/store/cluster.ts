// The cluster store: cluster-scope state of overlay networks in etcd (DESIGN.md, Layers: store/).
// One ClusterStore per host daemon. It holds:
//   - overlay network definitions, unique by name and by VNI (from 4096 up);
//   - their IPAM, one key per address claimed by compare-and-swap, so no address is handed out
//     twice across hosts;
//   - this host's record and its endpoint records, all under one lease of this host: when the
//     daemon dies they expire after the lease TTL, and every other host's watch sees them go.
// Key layout: cluster-keys.ts. Timeouts and the "unreachable" error: cluster-etcd.ts. Watches:
// cluster-watch.ts.
//
// Lease loss: if the lease expires while the daemon lives (etcd unreachable for longer than the
// TTL) the store takes a new lease and re-registers the host and the endpoints it registered,
// retrying until etcd answers; onSessionEvent reports it. After a daemon restart (new process,
// new store) the caller passes its local endpoints to resync().
import type { Etcd3, IKeyValue, Lease } from 'etcd3';
import { etcd3Lib } from './etcd-lib.js';
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import { cidrContains, parseAddress, validateSubnetConfig } from '../ipam/index.js';
import { type AddressRequest, checkRequestedVni, chooseSubnets, pickAddress, pickVni, subnetFor } from './cluster-alloc.js';
import {
  type EtcdTimings,
  ClusterUnreachableError,
  bounded,
  createEtcdClient,
  isUnreachable,
  op,
  parseEndpoints,
  rangePrefix,
  txn,
} from './cluster-etcd.js';
import { ClusterKeys, DEFAULT_CLUSTER_PREFIX, checkHostId, parseVniSegment } from './cluster-keys.js';
import {
  type AllocationRecord,
  type ClusterAllocation,
  type ClusterEndpointRecord,
  type ClusterHostRecord,
  type ClusterNetworkRecord,
  type HostRegistration,
  type NewClusterEndpoint,
  type NewClusterNetwork,
  checkEndpointRecord,
  checkHostRegistration,
  checkNewClusterNetwork,
  checkOwner,
  parseStored,
} from './cluster-records.js';
import { ClusterWatch, type WatchChange, type WatchOptions } from './cluster-watch.js';
import { newId } from './store.js';

export { ClusterUnreachableError } from './cluster-etcd.js';
export type { AddressRequest } from './cluster-alloc.js';
export type * from './cluster-records.js';
export type { ClusterWatch, WatchChange, WatchOptions } from './cluster-watch.js';

export interface ClusterStoreOptions extends EtcdTimings {
  /** This host's id in the cluster (stable across daemon restarts). */
  hostId: string;
  /** TTL of this host's lease: how long its records outlive a dead daemon. Default 15 s. */
  leaseTtlSeconds?: number;
  /** Key prefix. Default /berth/v1. */
  prefix?: string;
  onSessionEvent?: (event: SessionEvent) => void;
}

export type SessionEvent =
  /** The lease expired or was revoked in etcd: this host's records are gone from the cluster. */
  | { type: 'lease-lost'; error: Error }
  /** A new lease was taken and the host record and `endpoints` endpoint records put back. */
  | { type: 're-registered'; endpoints: number; dropped: ResyncReport['missingNetworks'] }
  /** One attempt at re-registering failed (e.g. still unreachable); it is retried. */
  | { type: 're-register-failed'; error: Error };

export interface ResyncReport {
  /** Endpoint records now in etcd for this host. */
  registered: number;
  /** Endpoint ids of this host that were in etcd but not in the local list: removed, addresses released. */
  removed: string[];
  /** Local endpoints left out because an address of theirs is held by someone else. */
  conflicts: { endpointId: string; address: string; holder: AllocationRecord }[];
  /** Local endpoints left out because their network no longer exists in the cluster. */
  missingNetworks: { endpointId: string; networkId: string }[];
}

const CONFLICT_RETRIES = 200;
const RE_REGISTER_MIN_MS = 250;
const RE_REGISTER_MAX_MS = 2000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

function decode<T>(kv: IKeyValue): T {
  return parseStored<T>(kv.key.toString(), kv.value);
}

function allocationValue(owner: string, hostId: string): AllocationRecord {
  return { owner, hostId };
}

export class ClusterStore {
  readonly keys: ClusterKeys;
  readonly hostId: string;
  readonly leaseTtlSeconds: number;
  /** Compare-and-swap attempts lost to other hosts (allocation, network create): contention. */
  readonly stats = { casConflicts: 0 };
  private lease: Lease | undefined;
  private leaseGranted = false;
  private localHost: ClusterHostRecord | undefined;
  /** Endpoints this store registered, keyed by etcd key: what a new lease must carry again. */
  private readonly localEndpoints = new Map<string, ClusterEndpointRecord>();
  private readonly networkCache = new Map<string, ClusterNetworkRecord>();
  private readonly watches = new Set<ClusterWatch<unknown>>();
  private reRegistering: Promise<void> | undefined;
  private closed = false;

  private constructor(
    private readonly client: Etcd3,
    /** `H:P` of every member, as given: named in ClusterUnreachableError. */
    readonly endpoints: readonly string[],
    private readonly timings: Required<EtcdTimings>,
    private readonly opts: ClusterStoreOptions,
  ) {
    this.keys = new ClusterKeys(opts.prefix ?? DEFAULT_CLUSTER_PREFIX);
    this.hostId = checkHostId(opts.hostId);
    this.leaseTtlSeconds = opts.leaseTtlSeconds ?? 15;
  }

  /**
   * Connect to etcd and take this host's lease. Fails with ClusterUnreachableError when no member
   * answers within operationTimeoutMs; with UserError on bad endpoints or options.
   */
  static async connect(endpoints: readonly string[], opts: ClusterStoreOptions): Promise<ClusterStore> {
    const parsed = parseEndpoints(endpoints);
    const ttl = opts.leaseTtlSeconds ?? 15;
    if (!Number.isInteger(ttl) || ttl < 2 || ttl > 3600) {
      throw new UserError(`invalid lease TTL ${JSON.stringify(ttl)}: expected whole seconds from 2 to 3600`);
    }
    checkHostId(opts.hostId);
    const timings: Required<EtcdTimings> = {
      requestTimeoutMs: opts.requestTimeoutMs ?? 1000,
      operationTimeoutMs: opts.operationTimeoutMs ?? 2500,
    };
    const client = createEtcdClient(parsed, timings);
    const store = new ClusterStore(client, parsed, timings, opts);
    try {
      await store.run(() => store.leaseId());
    } catch (e) {
      store.closed = true;
      store.lease?.release();
      client.close();
      throw e;
    }
    return store;
  }

  /** One operation, bounded in time; unreachable etcd becomes ClusterUnreachableError. */
  private run<T>(fn: () => Promise<T>, scale = 1): Promise<T> {
    if (this.closed) return Promise.reject(new Error('cluster store is closed'));
    return bounded(this.endpoints, this.timings.operationTimeoutMs * scale, fn);
  }

  // ---- lease ------------------------------------------------------------------------------------

  /** The current lease's id, taking a new lease when there is none. */
  private leaseId(): Promise<string> {
    if (!this.lease) {
      const lease = this.client.lease(this.leaseTtlSeconds);
      this.lease = lease;
      this.leaseGranted = false;
      lease.on('lost', (err) => this.onLeaseLost(lease, err));
      void lease.grant().then(
        () => {
          if (this.lease === lease) this.leaseGranted = true;
        },
        () => undefined,
      );
    }
    return this.lease.grant();
  }

  private onLeaseLost(lease: Lease, err: Error): void {
    if (this.lease !== lease || this.closed) return;
    const wasGranted = this.leaseGranted;
    this.lease = undefined;
    this.leaseGranted = false;
    // A grant that never succeeded lost nothing: the next operation simply asks again.
    if (!wasGranted) return;
    this.opts.onSessionEvent?.({ type: 'lease-lost', error: err });
    if (this.localHost || this.localEndpoints.size) this.scheduleReRegister();
  }

  private scheduleReRegister(): void {
    this.reRegistering ??= (async () => {
      let delay = RE_REGISTER_MIN_MS;
      while (!this.closed) {
        try {
          const dropped = await this.run(() => this.putLocalRecords(), 2);
          this.opts.onSessionEvent?.({ type: 're-registered', endpoints: this.localEndpoints.size, dropped });
          return;
        } catch (e) {
          this.opts.onSessionEvent?.({ type: 're-register-failed', error: e as Error });
          await sleep(delay);
          delay = Math.min(delay * 2, RE_REGISTER_MAX_MS);
        }
      }
    })().finally(() => {
      this.reRegistering = undefined;
    });
  }

  /**
   * Put the host record and every local endpoint record under the current lease; endpoints whose
   * network is gone are dropped from the local set and returned.
   */
  private async putLocalRecords(): Promise<ResyncReport['missingNetworks']> {
    const lease = await this.leaseId();
    if (this.localHost) {
      this.localHost = { ...this.localHost, updated: new Date().toISOString() };
      await txn(this.client, [], [op.put(this.keys.host(this.hostId), this.localHost, lease)]);
    }
    const byNetwork = new Map<string, ClusterEndpointRecord[]>();
    for (const e of this.localEndpoints.values()) byNetwork.set(e.networkId, [...(byNetwork.get(e.networkId) ?? []), e]);
    const missing: ResyncReport['missingNetworks'] = [];
    for (const [networkId, eps] of byNetwork) {
      const r = await txn(
        this.client,
        [{ key: this.keys.network(networkId), target: 'Version', result: 'Greater', value: 0 }],
        eps.map((e) => op.put(this.keys.endpoint(networkId, e.id), e, lease)),
      );
      if (!r.succeeded) {
        for (const e of eps) {
          this.localEndpoints.delete(this.keys.endpoint(networkId, e.id));
          missing.push({ endpointId: e.id, networkId });
        }
      }
    }
    return missing;
  }

  /** Run a leased write; if etcd says the lease is gone, take a new one (re-registering) and retry once. */
  private async withLease<T>(fn: (lease: string) => Promise<T>): Promise<T> {
    const lease = await this.leaseId();
    try {
      return await fn(lease);
    } catch (e) {
      if (!(e instanceof etcd3Lib().EtcdLeaseInvalidError)) throw e;
      const current = this.lease;
      if (current) this.onLeaseLost(current, e);
      this.lease = undefined;
      return fn(await this.leaseId());
    }
  }

  // ---- hosts ------------------------------------------------------------------------------------

  /** Publish (or update) this host's record under its lease: VTEP, WireGuard key and endpoint. */
  async registerHost(registration: HostRegistration): Promise<ClusterHostRecord> {
    const record = checkHostRegistration(this.hostId, registration);
    await this.run(() => this.withLease((lease) => txn(this.client, [], [op.put(this.keys.host(this.hostId), record, lease)])));
    this.localHost = record;
    return record;
  }

  async listHosts(): Promise<ClusterHostRecord[]> {
    const { kvs } = await this.run(() => rangePrefix(this.client, this.keys.hostsPrefix()));
    return kvs.map((kv) => decode<ClusterHostRecord>(kv));
  }

  async getHost(hostId: string): Promise<ClusterHostRecord | undefined> {
    const key = this.keys.host(hostId);
    const r = await this.run(() => txn(this.client, [], [op.get(key)]));
    const kv = r.kvs(0)[0];
    return kv ? decode<ClusterHostRecord>(kv) : undefined;
  }

  /**
   * This host's address in the WireGuard tunnel subnet: the one it holds already, else
   * `preferred` if free (kept locally from an earlier run), else the lowest free one, claimed by
   * compare-and-swap. Not leased: a host keeps its tunnel address across restarts and lost leases.
   */
  async claimTunnelAddress(subnet: string, preferred?: string): Promise<string> {
    const s = validateSubnetConfig({ subnet });
    const wanted = preferred === undefined ? undefined : parseAddress(preferred, 'tunnel address');
    return this.run(async () => {
      for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
        const { kvs } = await rangePrefix(this.client, this.keys.tunnelPrefix());
        const held = kvs.map((kv) => ({ address: kv.key.toString().slice(this.keys.tunnelPrefix().length), ...decode<AllocationRecord>(kv) }));
        const mine = held.find((h) => h.hostId === this.hostId && cidrContains(s.cidr, parseAddress(h.address)));
        if (mine) return mine.address;
        const used = held.map((h) => h.address);
        const free = wanted && cidrContains(s.cidr, wanted) && !used.includes(wanted.text) ? wanted.text : undefined;
        const address = pickAddress(s, used, free);
        const key = this.keys.tunnel(address);
        const r = await txn(this.client, [{ key, target: 'Create', result: 'Equal', value: 0 }], [op.put(key, allocationValue(this.hostId, this.hostId))]);
        if (r.succeeded) return address;
        this.stats.casConflicts++;
      }
      throw new ConflictError(`no tunnel address claimed in ${s.cidr.text} after ${CONFLICT_RETRIES} conflicts with other hosts; try again`);
    });
  }

  // ---- networks ---------------------------------------------------------------------------------

  private async readNetworks(): Promise<{ networks: ClusterNetworkRecord[]; revision: number }> {
    const { kvs, revision } = await rangePrefix(this.client, this.keys.networksPrefix());
    return { networks: kvs.map((kv) => decode<ClusterNetworkRecord>(kv)), revision };
  }

  /**
   * Create an overlay network for the whole cluster. ConflictError when the name or the requested
   * VNI is taken, or a subnet overlaps another overlay network's. Safe against concurrent creates
   * on other hosts: the write only succeeds if no network changed since the read.
   */
  async createNetwork(network: NewClusterNetwork): Promise<ClusterNetworkRecord> {
    // Check the input before any I/O: bad input fails the same with etcd up or down.
    // The id is fixed up front so that a retry after a write whose answer was lost recognises it.
    const wanted = { ...network, id: network.id ?? newId() };
    checkNewClusterNetwork(wanted, network.subnets?.length ? network.subnets : [{ subnet: '10.0.0.0/24' }], this.hostId);
    if (network.vni !== undefined) checkRequestedVni(network.vni, undefined);
    return this.run(async () => {
      for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
        const { networks, revision } = await this.readNetworks();
        const taken = networks.find((n) => n.name === network.name);
        if (taken?.id === wanted.id && taken.createdBy === this.hostId) return taken;
        if (taken) throw new ConflictError(`network with name ${network.name} already exists (id ${taken.id.slice(0, 12)}); choose another name`);
        const subnets = chooseSubnets(network.subnets ?? [], network.ipv6 ?? false, networks);
        const base = checkNewClusterNetwork(wanted, subnets, this.hostId);
        if (networks.some((n) => n.id === base.id)) throw new ConflictError(`network id ${base.id} is already in use`);
        const vni =
          network.vni !== undefined
            ? checkRequestedVni(network.vni, networks.find((n) => n.vni === network.vni)?.name)
            : pickVni(networks.map((n) => n.vni));
        const record: ClusterNetworkRecord = { ...base, vni };
        const r = await txn(
          this.client,
          [
            // Nothing under networks/ changed since the read: the name, subnet and VNI checks hold.
            { key: this.keys.networksPrefix(), prefix: true, target: 'Mod', result: 'Less', value: revision + 1 },
            { key: this.keys.networkName(record.name), target: 'Create', result: 'Equal', value: 0 },
            { key: this.keys.vni(vni), target: 'Create', result: 'Equal', value: 0 },
          ],
          [
            op.put(this.keys.network(record.id), record),
            op.put(this.keys.networkName(record.name), record.id),
            op.put(this.keys.vni(vni), record.id),
          ],
        );
        if (r.succeeded) return record;
        this.stats.casConflicts++;
      }
      throw new ConflictError(`network ${network.name}: gave up after ${CONFLICT_RETRIES} concurrent changes to the cluster's networks; try again`);
    });
  }

  async listNetworks(): Promise<ClusterNetworkRecord[]> {
    return (await this.run(() => this.readNetworks())).networks;
  }

  /** By exact id, exact name, then unique id prefix (as Docker resolves). */
  async findNetwork(ref: string): Promise<ClusterNetworkRecord | undefined> {
    const networks = await this.listNetworks();
    const exact = networks.find((n) => n.id === ref) ?? networks.find((n) => n.name === ref);
    if (exact) return exact;
    if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
    const matches = networks.filter((n) => n.id.startsWith(ref));
    if (matches.length > 1) {
      throw new UserError(`network id prefix ${ref} is ambiguous: it matches ${matches.map((n) => n.name).join(', ')}; give more of the id`);
    }
    return matches[0];
  }

  async getNetwork(ref: string): Promise<ClusterNetworkRecord> {
    const n = await this.findNetwork(ref);
    if (!n) throw new NotFoundError(`overlay network ${ref} not found (by id, name or id prefix)`);
    return n;
  }

  /**
   * A network's record, cached: definitions never change once created, and every write that
   * depends on the network still checks in its transaction that the network exists.
   */
  private async networkById(networkId: string): Promise<ClusterNetworkRecord> {
    const key = this.keys.network(networkId);
    const cached = this.networkCache.get(key);
    if (cached) return cached;
    const r = await txn(this.client, [], [op.get(key)]);
    const kv = r.kvs(0)[0];
    if (!kv) throw new NotFoundError(`overlay network ${networkId} not found`);
    const record = decode<ClusterNetworkRecord>(kv);
    this.networkCache.set(key, record);
    return record;
  }

  /**
   * Remove a network and its IPAM. False when it was already gone; ConflictError while any host
   * has an endpoint on it (checked in the same transaction as the delete).
   */
  async removeNetwork(ref: string): Promise<boolean> {
    const network = await this.findNetwork(ref);
    if (!network) return false;
    return this.run(async () => {
      const endpointsPrefix = this.keys.endpointsPrefix(network.id);
      const r = await txn(
        this.client,
        [
          { key: this.keys.network(network.id), target: 'Version', result: 'Greater', value: 0 },
          { key: endpointsPrefix, prefix: true, target: 'Create', result: 'Equal', value: 0 },
        ],
        [
          op.del(this.keys.network(network.id)),
          op.del(this.keys.networkName(network.name)),
          op.del(this.keys.vni(network.vni)),
          op.delPrefix(this.keys.ipamPrefix(network.id)),
        ],
        [op.get(this.keys.network(network.id)), op.getPrefix(endpointsPrefix)],
      );
      this.networkCache.delete(this.keys.network(network.id));
      if (r.succeeded) return true;
      if (r.kvs(0).length === 0) return false;
      const eps = r.kvs(1).map((kv) => decode<ClusterEndpointRecord>(kv));
      const hosts = [...new Set(eps.map((e) => e.hostId))].sort();
      throw new ConflictError(
        `network ${network.name} has ${eps.length} active endpoint(s) on host(s) ${hosts.join(', ')} ` +
          `(containers ${eps.map((e) => e.containerName).sort().slice(0, 5).join(', ')}${eps.length > 5 ? ', …' : ''}); disconnect or remove them first`,
      );
    });
  }

  /** VNIs in use, from the VNI index. */
  async listVnis(): Promise<Map<number, string>> {
    const { kvs } = await this.run(() => rangePrefix(this.client, this.keys.vnisPrefix()));
    const out = new Map<number, string>();
    for (const kv of kvs) {
      const vni = parseVniSegment(kv.key.toString().slice(this.keys.vnisPrefix().length));
      if (vni !== undefined) out.set(vni, decode<string>(kv));
    }
    return out;
  }

  // ---- IPAM -------------------------------------------------------------------------------------

  private async readAllocations(networkId: string): Promise<ClusterAllocation[]> {
    const { kvs } = await rangePrefix(this.client, this.keys.ipamPrefix(networkId));
    return this.allocationsOf(networkId, kvs);
  }

  private allocationsOf(networkId: string, kvs: readonly IKeyValue[]): ClusterAllocation[] {
    const prefix = this.keys.ipamPrefix(networkId);
    return kvs.map((kv) => ({ networkId, address: kv.key.toString().slice(prefix.length), ...decode<AllocationRecord>(kv) }));
  }

  /**
   * Claim an address of the network for `owner` (an endpoint id): the lowest free one of the
   * subnet (gateway, network/broadcast and aux addresses excluded), or `request.address` if free.
   * Idempotent per owner: if owner already holds an address of that subnet (or the requested
   * one), it is returned again, so retrying after a timeout never leaks an address.
   */
  async allocateAddress(networkId: string, owner: string, request: AddressRequest = {}): Promise<string> {
    checkOwner(owner);
    const requested = request.address === undefined ? undefined : parseAddress(request.address, 'requested address').text;
    return this.run(async () => {
      const network = await this.networkById(networkId);
      const subnet = subnetFor(network, request);
      let allocations = await this.readAllocations(networkId);
      for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
        const mine = allocations.find(
          (a) => a.owner === owner && (requested ? a.address === requested : cidrContains(subnet.cidr, parseAddress(a.address))),
        );
        if (mine) return mine.address;
        const address = pickAddress(subnet, allocations.map((a) => a.address), requested);
        const key = this.keys.ipam(networkId, address);
        const r = await txn(
          this.client,
          [
            { key, target: 'Create', result: 'Equal', value: 0 },
            { key: this.keys.network(networkId), target: 'Version', result: 'Greater', value: 0 },
          ],
          [op.put(key, allocationValue(owner, this.hostId))],
          [op.getPrefix(this.keys.ipamPrefix(networkId)), op.get(this.keys.network(networkId))],
        );
        if (r.succeeded) return address;
        this.stats.casConflicts++;
        if (r.kvs(1).length === 0) {
          this.networkCache.delete(this.keys.network(networkId));
          throw new NotFoundError(`overlay network ${network.name} was removed`);
        }
        // Another host took it: pick again from what the failed transaction read.
        allocations = this.allocationsOf(networkId, r.kvs(0));
      }
      throw new ConflictError(`no address claimed in ${subnet.cidr.text} after ${CONFLICT_RETRIES} conflicts with other hosts; try again`);
    });
  }

  /** Release an address. With owner, only if owner holds it. False when it was not held (by owner). */
  async releaseAddress(networkId: string, address: string, owner?: string): Promise<boolean> {
    const text = parseAddress(address, 'address').text;
    const key = this.keys.ipam(networkId, text);
    return this.run(async () => {
      const got = await txn(this.client, [], [op.get(key)]);
      const kv = got.kvs(0)[0];
      if (!kv) return false;
      if (owner !== undefined && decode<AllocationRecord>(kv).owner !== owner) return false;
      const r = await txn(this.client, [{ key, target: 'Mod', result: 'Equal', value: kv.mod_revision }], [op.del(key)]);
      return r.succeeded;
    });
  }

  async listAllocations(networkId: string): Promise<ClusterAllocation[]> {
    return this.run(() => this.readAllocations(networkId));
  }

  // ---- endpoints --------------------------------------------------------------------------------

  private requireHost(what: string): ClusterHostRecord {
    if (!this.localHost) throw new Error(`cluster store: ${what} needs registerHost() first (it gives the VTEP address)`);
    return this.localHost;
  }

  /**
   * Publish an endpoint of this host under the host's lease. Its addresses must be allocated to
   * the endpoint (owner = endpoint id) and its network must exist: both checked in the write.
   */
  async putEndpoint(endpoint: NewClusterEndpoint): Promise<ClusterEndpointRecord> {
    const host = this.requireHost('putEndpoint');
    const record = checkEndpointRecord(endpoint, this.hostId, host.vtep);
    await this.run(async () => {
      const problem = await this.withLease((lease) => this.putEndpointTxn(record, lease));
      if (problem) throw problem;
    });
    this.localEndpoints.set(this.keys.endpoint(record.networkId, record.id), record);
    return record;
  }

  /** The write of one endpoint record; returns the reason instead of throwing when a compare fails. */
  private async putEndpointTxn(record: ClusterEndpointRecord, lease: string): Promise<Error | undefined> {
    const addresses = [record.ipv4, record.ipv6].filter((a): a is string => a !== null);
    const ipamKeys = addresses.map((a) => this.keys.ipam(record.networkId, a));
    const r = await txn(
      this.client,
      [
        { key: this.keys.network(record.networkId), target: 'Version', result: 'Greater', value: 0 },
        ...ipamKeys.map((key) => ({ key, target: 'Value' as const, result: 'Equal' as const, value: JSON.stringify(allocationValue(record.id, this.hostId)) })),
      ],
      [op.put(this.keys.endpoint(record.networkId, record.id), record, lease)],
      [op.get(this.keys.network(record.networkId)), ...ipamKeys.map((k) => op.get(k))],
    );
    if (r.succeeded) return undefined;
    if (r.kvs(0).length === 0) return new NotFoundError(`overlay network ${record.networkId} not found`);
    for (const [i, address] of addresses.entries()) {
      const kv = r.kvs(i + 1)[0];
      const holder = kv ? decode<AllocationRecord>(kv) : undefined;
      if (!holder) return new UserError(`address ${address} of endpoint ${record.id.slice(0, 12)} is not allocated; allocate it first (owner = endpoint id)`);
      if (holder.owner !== record.id || holder.hostId !== this.hostId) {
        return new ConflictError(`address ${address} is held by ${holder.owner.slice(0, 12)} on host ${holder.hostId}, not by endpoint ${record.id.slice(0, 12)} on ${this.hostId}`);
      }
    }
    return new Error(`cluster store: endpoint ${record.id} write failed a compare that no longer fails`);
  }

  /** Remove an endpoint record of this host; with release (default) also free its addresses. */
  async removeEndpoint(networkId: string, endpointId: string, opts: { release?: boolean } = {}): Promise<boolean> {
    const key = this.keys.endpoint(networkId, endpointId);
    const removed = await this.run(async () => {
      const r = await txn(this.client, [], [{ request_delete_range: { key: Buffer.from(key), prev_kv: true } }]);
      const prev = r.response.responses[0]?.response_delete_range?.prev_kvs?.[0];
      const record = prev ? decode<ClusterEndpointRecord>(prev) : this.localEndpoints.get(key);
      if (opts.release ?? true) {
        const held = (await this.readAllocations(networkId).catch((e: unknown) => {
          if (e instanceof NotFoundError) return [];
          throw e;
        })).filter((a) => a.owner === endpointId);
        for (const a of held) {
          await txn(this.client, [{ key: this.keys.ipam(networkId, a.address), target: 'Value', result: 'Equal', value: JSON.stringify(allocationValue(a.owner, a.hostId)) }], [op.del(this.keys.ipam(networkId, a.address))]);
        }
      }
      return prev !== undefined || record !== undefined;
    });
    this.localEndpoints.delete(key);
    return removed;
  }

  async listEndpoints(filter: { networkId?: string; hostId?: string } = {}): Promise<ClusterEndpointRecord[]> {
    const { kvs } = await this.run(() => rangePrefix(this.client, this.keys.endpointsPrefix(filter.networkId)));
    return kvs.map((kv) => decode<ClusterEndpointRecord>(kv)).filter((e) => filter.hostId === undefined || e.hostId === filter.hostId);
  }

  /**
   * Make etcd match this host's local endpoints (after a daemon restart, or whenever the driver
   * reconciles): claim their addresses if unclaimed, put their records under the current lease,
   * and remove this host's records (and release their addresses) that are not in the list.
   * Needs registerHost() first.
   */
  async resync(local: readonly NewClusterEndpoint[]): Promise<ResyncReport> {
    const host = this.requireHost('resync');
    const records = local.map((e) => checkEndpointRecord(e, this.hostId, host.vtep));
    const report: ResyncReport = { registered: 0, removed: [], conflicts: [], missingNetworks: [] };
    await this.run(async () => {
      const keep: ClusterEndpointRecord[] = [];
      for (const rec of records) {
        const bad = await this.claimAddresses(rec);
        if (bad === 'no-network') report.missingNetworks.push({ endpointId: rec.id, networkId: rec.networkId });
        else if (bad) report.conflicts.push({ endpointId: rec.id, ...bad });
        else keep.push(rec);
      }
      // Stale records of this host: endpoints that no longer exist locally.
      const wanted = new Set(keep.map((r) => this.keys.endpoint(r.networkId, r.id)));
      const { kvs } = await rangePrefix(this.client, this.keys.endpointsPrefix());
      for (const kv of kvs) {
        const e = decode<ClusterEndpointRecord>(kv);
        if (e.hostId !== this.hostId || wanted.has(kv.key.toString())) continue;
        await txn(this.client, [{ key: kv.key.toString(), target: 'Mod', result: 'Equal', value: kv.mod_revision }], [op.del(kv.key.toString())]);
        for (const a of [e.ipv4, e.ipv6]) {
          if (a === null) continue;
          const k = this.keys.ipam(e.networkId, a);
          await txn(this.client, [{ key: k, target: 'Value', result: 'Equal', value: JSON.stringify(allocationValue(e.id, this.hostId)) }], [op.del(k)]);
        }
        report.removed.push(e.id);
      }
      this.localEndpoints.clear();
      for (const rec of keep) this.localEndpoints.set(this.keys.endpoint(rec.networkId, rec.id), rec);
      // Host record and endpoints under the current lease (a new one if the old is gone).
      const put = () => this.putLocalRecords();
      const missing = await put().catch((e: unknown) => {
        if (!(e instanceof etcd3Lib().EtcdLeaseInvalidError)) throw e;
        this.lease = undefined;
        return put();
      });
      report.missingNetworks.push(...missing);
      report.registered = this.localEndpoints.size;
    }, 4);
    return report;
  }

  /** Claim each address of rec for it unless someone else holds it. */
  private async claimAddresses(rec: ClusterEndpointRecord): Promise<'no-network' | { address: string; holder: AllocationRecord } | undefined> {
    const mine = allocationValue(rec.id, this.hostId);
    for (const address of [rec.ipv4, rec.ipv6]) {
      if (address === null) continue;
      const key = this.keys.ipam(rec.networkId, address);
      const r = await txn(
        this.client,
        [
          { key, target: 'Create', result: 'Equal', value: 0 },
          { key: this.keys.network(rec.networkId), target: 'Version', result: 'Greater', value: 0 },
        ],
        [op.put(key, mine)],
        [op.get(key), op.get(this.keys.network(rec.networkId))],
      );
      if (r.succeeded) continue;
      if (r.kvs(1).length === 0) return 'no-network';
      const kv = r.kvs(0)[0];
      const holder = kv ? decode<AllocationRecord>(kv) : undefined;
      if (holder && (holder.owner !== mine.owner || holder.hostId !== mine.hostId)) return { address, holder };
    }
    return undefined;
  }

  // ---- watches ----------------------------------------------------------------------------------

  private async watch<T>(prefix: string, onChange: (c: WatchChange<T>) => void, opts: WatchOptions): Promise<ClusterWatch<T>> {
    if (this.closed) throw new Error('cluster store is closed');
    const w = await ClusterWatch.start<T>(
      this.client,
      this.endpoints,
      this.timings.operationTimeoutMs,
      prefix,
      (key, value) => parseStored<T>(key, value),
      onChange,
      opts,
    );
    this.watches.add(w as ClusterWatch<unknown>);
    return w;
  }

  /**
   * Endpoint records of one network (or of all with 'all'): a snapshot first, then every put and
   * delete, including deletes by lease expiry of a dead host. See cluster-watch.ts for reconnects.
   */
  watchEndpoints(
    /** A network id, or 'all'. */
    network: string,
    onChange: (c: WatchChange<ClusterEndpointRecord>) => void,
    opts: WatchOptions = {},
  ): Promise<ClusterWatch<ClusterEndpointRecord>> {
    return this.watch(this.keys.endpointsPrefix(network === 'all' ? undefined : network), onChange, opts);
  }

  watchHosts(onChange: (c: WatchChange<ClusterHostRecord>) => void, opts: WatchOptions = {}): Promise<ClusterWatch<ClusterHostRecord>> {
    return this.watch(this.keys.hostsPrefix(), onChange, opts);
  }

  watchNetworks(onChange: (c: WatchChange<ClusterNetworkRecord>) => void, opts: WatchOptions = {}): Promise<ClusterWatch<ClusterNetworkRecord>> {
    return this.watch(this.keys.networksPrefix(), onChange, opts);
  }

  /**
   * Stop watches and the lease keepalive, close the connection. By default the lease is left to
   * expire (records vanish after the TTL, as when the daemon dies); revoke: true removes this
   * host's records at once (a clean leave), if etcd answers.
   */
  async close(opts: { revoke?: boolean } = {}): Promise<void> {
    if (this.closed) return;
    await Promise.all([...this.watches].map((w) => w.cancel()));
    this.watches.clear();
    const lease = this.lease;
    this.lease = undefined;
    if (lease && opts.revoke) {
      await this.run(() => lease.revoke()).catch((e: unknown) => {
        if (!(e instanceof ClusterUnreachableError) && !isUnreachable(e)) throw e;
      });
    } else lease?.release();
    this.closed = true;
    this.client.close();
  }
}
