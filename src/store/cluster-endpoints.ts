// The cluster store's endpoint records: each host's endpoints (endpoint → VTEP) under the host's
// lease, so they vanish from every other host's watch when the host dies.
import type { IKeyValue } from 'etcd3';
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import type { ClusterAddresses } from './cluster-addresses.js';
import type { AddressRequest } from './cluster-alloc.js';
import { op, rangePrefix, txn } from './cluster-etcd.js';
import { type AllocationRecord, type ClusterEndpointRecord, type NewClusterEndpoint, checkEndpointRecord } from './cluster-records.js';
import { CONFLICT_RETRIES, type ClusterSession, allocationValue, decode } from './cluster-session.js';

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
        }, { newOwner: true }),
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

  /**
   * Remove an endpoint record of this host and, with release (default), free its addresses: one
   * transaction deletes the record and the address keys, each key guarded by its value (held by
   * this endpoint), so a removal never frees an address another endpoint holds. The addresses
   * are those of the record this host published; without one (a restart before the resync) they
   * are read first. A failed guard (an address reclaimed meanwhile and claimed by another
   * endpoint) answers with the network's allocations, and the removal is retried with the
   * addresses the endpoint still holds.
   */
  async remove(networkId: string, endpointId: string, opts: { release?: boolean } = {}): Promise<boolean> {
    const s = this.s;
    const key = s.keys.endpoint(networkId, endpointId);
    const ipamPrefix = s.keys.ipamPrefix(networkId);
    const local = s.localEndpoints.get(key);
    this.addresses.forgetHint(networkId);
    const removed = await s.run(async () => {
      let held: { address: string; value: string }[] | undefined;
      if (!(opts.release ?? true)) held = [];
      else if (local) {
        const value = JSON.stringify(allocationValue(endpointId, s.hostId));
        held = [local.ipv4, local.ipv6].filter((a): a is string => a !== null).map((address) => ({ address, value }));
      } else held = this.heldBy(networkId, endpointId, (await txn(s.client, [], [op.getPrefix(ipamPrefix)])).kvs(0));
      for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
        const r = await txn(
          s.client,
          held.map((h) => ({ key: s.keys.ipam(networkId, h.address), target: 'Value' as const, result: 'Equal' as const, value: h.value })),
          [{ request_delete_range: { key: Buffer.from(key), prev_kv: true } }, ...held.map((h) => op.del(s.keys.ipam(networkId, h.address)))],
          [op.getPrefix(ipamPrefix)],
        );
        if (r.succeeded) return r.response.responses[0]?.response_delete_range?.prev_kvs?.[0] !== undefined || local !== undefined;
        s.stats.casConflicts++;
        held = this.heldBy(networkId, endpointId, r.kvs(0));
      }
      throw new ConflictError(`endpoint ${endpointId.slice(0, 12)} not removed after ${CONFLICT_RETRIES} conflicts with other hosts; try again`);
    });
    s.localEndpoints.delete(key);
    return removed;
  }

  /** The addresses an endpoint holds among a network's allocation keys, with their exact values (the guards). */
  private heldBy(networkId: string, endpointId: string, kvs: readonly IKeyValue[]): { address: string; value: string }[] {
    const prefix = this.s.keys.ipamPrefix(networkId);
    return kvs
      .filter((kv) => decode<AllocationRecord>(kv).owner === endpointId)
      .map((kv) => ({ address: kv.key.toString().slice(prefix.length), value: kv.value.toString() }));
  }

  async list(filter: { networkId?: string; hostId?: string } = {}): Promise<ClusterEndpointRecord[]> {
    const { kvs } = await this.s.run(() => rangePrefix(this.s.client, this.s.keys.endpointsPrefix(filter.networkId)));
    return kvs.map((kv) => decode<ClusterEndpointRecord>(kv)).filter((e) => filter.hostId === undefined || e.hostId === filter.hostId);
  }
}
