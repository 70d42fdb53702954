// The cluster store's endpoint records: each host's endpoints (endpoint → VTEP) under the host's
// lease, so they vanish from every other host's watch when the host dies.
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import type { ClusterAddresses } from './cluster-addresses.js';
import type { AddressRequest } from './cluster-alloc.js';
import { op, rangePrefix, txn } from './cluster-etcd.js';
import { type AllocationRecord, type ClusterEndpointRecord, type NewClusterEndpoint, checkEndpointRecord } from './cluster-records.js';
import { type ClusterSession, allocationValue, decode } from './cluster-session.js';

export class ClusterEndpoints {
  constructor(
    private readonly s: ClusterSession,
    private readonly addresses: ClusterAddresses,
  ) {}

  /**
   * Publish an endpoint of this host under the host's lease. Its addresses must be allocated to
   * the endpoint (owner = endpoint id) and its network must exist: both checked in the write.
   */
  async put(endpoint: NewClusterEndpoint): Promise<ClusterEndpointRecord> {
    const s = this.s;
    const host = s.requireHost('putEndpoint');
    const record = checkEndpointRecord(endpoint, s.hostId, host.vtep);
    await s.run(async () => {
      const problem = await s.withLease((lease) => this.putTxn(record, lease));
      if (problem) throw problem;
    });
    s.localEndpoints.set(s.keys.endpoint(record.networkId, record.id), record);
    return record;
  }

  /**
   * Claim an endpoint's addresses (one per request) and publish its record, built from them, in
   * one transaction under the host's lease: one round trip and one revision per attach instead of
   * two each. Conflicts with other hosts are retried as allocate() does.
   */
  async claimAndPut(
    networkId: string,
    endpointId: string,
    requests: readonly AddressRequest[],
    recordOf: (addresses: string[]) => NewClusterEndpoint,
  ): Promise<ClusterEndpointRecord> {
    const s = this.s;
    const host = s.requireHost('putEndpoint');
    const { result: record } = await s.run(() =>
      s.withLease((lease) =>
        this.addresses.claim(networkId, endpointId, requests, (addresses) => {
          const rec = checkEndpointRecord(recordOf(addresses), s.hostId, host.vtep);
          if (rec.id !== endpointId || rec.networkId !== networkId) throw new Error('cluster store: claimAndPut record of another endpoint or network');
          return { ops: [op.put(s.keys.endpoint(networkId, rec.id), rec, lease)], result: rec };
        }),
      ),
    );
    s.localEndpoints.set(s.keys.endpoint(record.networkId, record.id), record);
    return record;
  }

  /** The write of one endpoint record; returns the reason instead of throwing when a compare fails. */
  private async putTxn(record: ClusterEndpointRecord, lease: string): Promise<Error | undefined> {
    const s = this.s;
    const addresses = [record.ipv4, record.ipv6].filter((a): a is string => a !== null);
    const ipamKeys = addresses.map((a) => s.keys.ipam(record.networkId, a));
    const r = await txn(
      s.client,
      [
        { key: s.keys.network(record.networkId), target: 'Version', result: 'Greater', value: 0 },
        ...ipamKeys.map((key) => ({ key, target: 'Value' as const, result: 'Equal' as const, value: JSON.stringify(allocationValue(record.id, s.hostId)) })),
      ],
      [op.put(s.keys.endpoint(record.networkId, record.id), record, lease)],
      [op.get(s.keys.network(record.networkId)), ...ipamKeys.map((k) => op.get(k))],
    );
    if (r.succeeded) return undefined;
    if (r.kvs(0).length === 0) return new NotFoundError(`overlay network ${record.networkId} not found`);
    for (const [i, address] of addresses.entries()) {
      const kv = r.kvs(i + 1)[0];
      const holder = kv ? decode<AllocationRecord>(kv) : undefined;
      if (!holder) return new UserError(`address ${address} of endpoint ${record.id.slice(0, 12)} is not allocated; allocate it first (owner = endpoint id)`);
      if (holder.owner !== record.id || holder.hostId !== s.hostId) {
        return new ConflictError(`address ${address} is held by ${holder.owner.slice(0, 12)} on host ${holder.hostId}, not by endpoint ${record.id.slice(0, 12)} on ${s.hostId}`);
      }
    }
    return new Error(`cluster store: endpoint ${record.id} write failed a compare that no longer fails`);
  }

  /** Remove an endpoint record of this host; with release (default) also free its addresses. */
  async remove(networkId: string, endpointId: string, opts: { release?: boolean } = {}): Promise<boolean> {
    const s = this.s;
    const key = s.keys.endpoint(networkId, endpointId);
    const removed = await s.run(async () => {
      const r = await txn(s.client, [], [{ request_delete_range: { key: Buffer.from(key), prev_kv: true } }]);
      const prev = r.response.responses[0]?.response_delete_range?.prev_kvs?.[0];
      const record = prev ? decode<ClusterEndpointRecord>(prev) : s.localEndpoints.get(key);
      if (opts.release ?? true) {
        const held = (await this.addresses.read(networkId).catch((e: unknown) => {
          if (e instanceof NotFoundError) return [];
          throw e;
        })).filter((a) => a.owner === endpointId);
        for (const a of held) {
          await txn(s.client, [{ key: s.keys.ipam(networkId, a.address), target: 'Value', result: 'Equal', value: JSON.stringify(allocationValue(a.owner, a.hostId)) }], [op.del(s.keys.ipam(networkId, a.address))]);
        }
      }
      return prev !== undefined || record !== undefined;
    });
    s.localEndpoints.delete(key);
    return removed;
  }

  async list(filter: { networkId?: string; hostId?: string } = {}): Promise<ClusterEndpointRecord[]> {
    const { kvs } = await this.s.run(() => rangePrefix(this.s.client, this.s.keys.endpointsPrefix(filter.networkId)));
    return kvs.map((kv) => decode<ClusterEndpointRecord>(kv)).filter((e) => filter.hostId === undefined || e.hostId === filter.hostId);
  }
}
