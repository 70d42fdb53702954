// The cluster store's session with etcd: one client, this host's lease, and what that lease
// carries (the host record and the endpoint records this store registered). The aggregate
// modules (cluster-hosts, cluster-networks, cluster-addresses, cluster-endpoints, cluster-resync)
// all work through one ClusterSession; ClusterStore (cluster.ts) is the façade over them.
//
// Lease loss: if the lease expires while the daemon lives (etcd unreachable for longer than the
// TTL) the session takes a new lease and re-registers the host and the endpoints it registered,
// retrying until etcd answers; onSessionEvent reports it.
import type { Etcd3, IKeyValue, Lease } from 'etcd3';
import { etcd3Lib } from './etcd-lib.js';
import { UserError } from '../common/errors.js';
import {
  type EtcdTimings,
  ClusterUnreachableError,
  bounded,
  createEtcdClient,
  isUnreachable,
  op,
  parseEndpoints,
  txn,
} from './cluster-etcd.js';
import { ClusterKeys, DEFAULT_CLUSTER_PREFIX, checkHostId } from './cluster-keys.js';
import { type AllocationRecord, type ClusterEndpointRecord, type ClusterHostRecord, parseStored } from './cluster-records.js';
import { ClusterWatch, type WatchChange, type WatchOptions } from './cluster-watch.js';

export interface ClusterStoreOptions extends EtcdTimings {
  /** This host's id in the cluster (stable across daemon restarts). */
  hostId: string;
  /** TTL of this host's lease: how long its records outlive a dead daemon. Default 15 s. */
  leaseTtlSeconds?: number;
  /** Key prefix. Default /berth/v1. */
  prefix?: string;
  onSessionEvent?: (event: SessionEvent) => void;
}

/** A local endpoint left out because its network no longer exists in the cluster. */
export interface MissingNetwork {
  endpointId: string;
  networkId: string;
}

export type SessionEvent =
  /** The lease expired or was revoked in etcd: this host's records are gone from the cluster. */
  | { type: 'lease-lost'; error: Error }
  /** A new lease was taken and the host record and `endpoints` endpoint records put back. */
  | { type: 're-registered'; endpoints: number; dropped: MissingNetwork[] }
  /** One attempt at re-registering failed (e.g. still unreachable); it is retried. */
  | { type: 're-register-failed'; error: Error };

/** Compare-and-swap attempts before an allocation or create gives up to other hosts. */
export const CONFLICT_RETRIES = 200;
const RE_REGISTER_MIN_MS = 250;
const RE_REGISTER_MAX_MS = 2000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** A stored record, checked against its key (see parseStored). */
export function decode<T>(kv: IKeyValue): T {
  return parseStored<T>(kv.key.toString(), kv.value);
}

/** The value of an IPAM or tunnel-address key: who holds the address, on which host. */
export function allocationValue(owner: string, hostId: string): AllocationRecord {
  return { owner, hostId };
}

export class ClusterSession {
  readonly keys: ClusterKeys;
  readonly hostId: string;
  readonly leaseTtlSeconds: number;
  /** Compare-and-swap attempts lost to other hosts (allocation, network create): contention. */
  readonly stats = { casConflicts: 0 };
  /** This host's record once registered: what a new lease must carry again. */
  localHost: ClusterHostRecord | undefined;
  /** Endpoints this store registered, keyed by etcd key: what a new lease must carry again. */
  readonly localEndpoints = new Map<string, ClusterEndpointRecord>();
  private lease: Lease | undefined;
  private leaseGranted = false;
  private readonly watches = new Set<ClusterWatch<unknown>>();
  private reRegistering: Promise<void> | undefined;
  private closed = false;

  private constructor(
    readonly client: Etcd3,
    /** `H:P` of every member, as given: named in ClusterUnreachableError. */
    readonly endpoints: readonly string[],
    readonly timings: Required<EtcdTimings>,
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
  static async open(endpoints: readonly string[], opts: ClusterStoreOptions): Promise<ClusterSession> {
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
    const session = new ClusterSession(client, parsed, timings, opts);
    try {
      await session.run(() => session.leaseId());
    } catch (e) {
      session.closed = true;
      session.lease?.release();
      client.close();
      throw e;
    }
    return session;
  }

  /** One operation, bounded in time; unreachable etcd becomes ClusterUnreachableError. */
  run<T>(fn: () => Promise<T>, scale = 1): Promise<T> {
    if (this.closed) return Promise.reject(new Error('cluster store is closed'));
    return bounded(this.endpoints, this.timings.operationTimeoutMs * scale, fn);
  }

  // ---- lease ------------------------------------------------------------------------------------

  /** The current lease's id, taking a new lease when there is none. */
  leaseId(): Promise<string> {
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

  /** Forget the current lease (etcd said it is invalid): the next leaseId() takes a new one. */
  forgetLease(): void {
    this.lease = undefined;
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
  async putLocalRecords(): Promise<MissingNetwork[]> {
    const lease = await this.leaseId();
    if (this.localHost) {
      this.localHost = { ...this.localHost, updated: new Date().toISOString() };
      await txn(this.client, [], [op.put(this.keys.host(this.hostId), this.localHost, lease)]);
    }
    const byNetwork = new Map<string, ClusterEndpointRecord[]>();
    for (const e of this.localEndpoints.values()) byNetwork.set(e.networkId, [...(byNetwork.get(e.networkId) ?? []), e]);
    const missing: MissingNetwork[] = [];
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
  async withLease<T>(fn: (lease: string) => Promise<T>): Promise<T> {
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

  /** This host's record; writes that carry the VTEP address need it. */
  requireHost(what: string): ClusterHostRecord {
    if (!this.localHost) throw new Error(`cluster store: ${what} needs registerHost() first (it gives the VTEP address)`);
    return this.localHost;
  }

  // ---- watches ----------------------------------------------------------------------------------

  /** Watch a key prefix; close() cancels it. See cluster-watch.ts for snapshots and reconnects. */
  async watch<T>(prefix: string, onChange: (c: WatchChange<T>) => void, opts: WatchOptions): Promise<ClusterWatch<T>> {
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
