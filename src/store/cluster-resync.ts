// Resync: make etcd match this host's local endpoints after a daemon restart (new process, new
// store), or whenever the overlay driver reconciles.
import { etcd3Lib } from './etcd-lib.js';
import { op, rangePrefix, txn } from './cluster-etcd.js';
import { type AllocationRecord, type ClusterEndpointRecord, type NewClusterEndpoint, checkEndpointRecord } from './cluster-records.js';
import { type ClusterSession, type MissingNetwork, allocationValue, decode } from './cluster-session.js';

export interface ResyncReport {
  /** Endpoint records now in etcd for this host. */
  registered: number;
  /** Endpoint ids of this host that were in etcd but not in the local list: removed, addresses released. */
  removed: string[];
  /** Local endpoints left out because an address of theirs is held by someone else. */
  conflicts: { endpointId: string; address: string; holder: AllocationRecord }[];
  /** Local endpoints left out because their network no longer exists in the cluster. */
  missingNetworks: MissingNetwork[];
}

/**
 * Claim the addresses of `local` if unclaimed, put their records under the current lease, and
 * remove this host's records (and release their addresses) that are not in the list.
 * Needs registerHost() first.
 */
export async function resyncEndpoints(s: ClusterSession, local: readonly NewClusterEndpoint[]): Promise<ResyncReport> {
  const host = s.requireHost('resync');
  const records = local.map((e) => checkEndpointRecord(e, s.hostId, host.vtep));
  const report: ResyncReport = { registered: 0, removed: [], conflicts: [], missingNetworks: [] };
  await s.run(async () => {
    const keep: ClusterEndpointRecord[] = [];
    for (const rec of records) {
      const bad = await claimAddresses(s, rec);
      if (bad === 'no-network') report.missingNetworks.push({ endpointId: rec.id, networkId: rec.networkId });
      else if (bad) report.conflicts.push({ endpointId: rec.id, ...bad });
      else keep.push(rec);
    }
    // Stale records of this host: endpoints that no longer exist locally.
    const wanted = new Set(keep.map((r) => s.keys.endpoint(r.networkId, r.id)));
    const { kvs } = await rangePrefix(s.client, s.keys.endpointsPrefix());
    for (const kv of kvs) {
      const e = decode<ClusterEndpointRecord>(kv);
      if (e.hostId !== s.hostId || wanted.has(kv.key.toString())) continue;
      await txn(s.client, [{ key: kv.key.toString(), target: 'Mod', result: 'Equal', value: kv.mod_revision }], [op.del(kv.key.toString())]);
      for (const a of [e.ipv4, e.ipv6]) {
        if (a === null) continue;
        const k = s.keys.ipam(e.networkId, a);
        await txn(s.client, [{ key: k, target: 'Value', result: 'Equal', value: JSON.stringify(allocationValue(e.id, s.hostId)) }], [op.del(k)]);
      }
      report.removed.push(e.id);
    }
    s.localEndpoints.clear();
    for (const rec of keep) s.localEndpoints.set(s.keys.endpoint(rec.networkId, rec.id), rec);
    // Host record and endpoints under the current lease (a new one if the old is gone).
    const put = () => s.putLocalRecords();
    const missing = await put().catch((e: unknown) => {
      if (!(e instanceof etcd3Lib().EtcdLeaseInvalidError)) throw e;
      s.forgetLease();
      return put();
    });
    report.missingNetworks.push(...missing);
    report.registered = s.localEndpoints.size;
  }, 4);
  return report;
}

/** Claim each address of rec for it unless someone else holds it. */
async function claimAddresses(
  s: ClusterSession,
  rec: ClusterEndpointRecord,
): Promise<'no-network' | { address: string; holder: AllocationRecord } | undefined> {
  const mine = allocationValue(rec.id, s.hostId);
  for (const address of [rec.ipv4, rec.ipv6]) {
    if (address === null) continue;
    const key = s.keys.ipam(rec.networkId, address);
    const r = await txn(
      s.client,
      [
        { key, target: 'Create', result: 'Equal', value: 0 },
        { key: s.keys.network(rec.networkId), target: 'Version', result: 'Greater', value: 0 },
      ],
      [op.put(key, mine)],
      [op.get(key), op.get(s.keys.network(rec.networkId))],
    );
    if (r.succeeded) continue;
    if (r.kvs(1).length === 0) return 'no-network';
    const kv = r.kvs(0)[0];
    const holder = kv ? decode<AllocationRecord>(kv) : undefined;
    if (holder && (holder.owner !== mine.owner || holder.hostId !== mine.hostId)) return { address, holder };
  }
  return undefined;
}
