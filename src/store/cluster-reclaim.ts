// Reclaiming the addresses of hosts that are gone. IPAM keys are not leased (a restarting daemon
// keeps its addresses), so a host that dies and never comes back would hold its addresses
// forever. Once its lease has expired (its host record is gone, and with it its endpoint
// records) a live host may delete its IPAM keys (the overlay agent waits a grace period first); each delete is one transaction that checks
// the host record is still absent and the key unchanged, so a host that re-registers meanwhile
// keeps what it holds. A host that comes back later claims its addresses again on resync, unless
// another container took them (its endpoint is then reported as a conflict).
import { op, rangePrefix, txn } from './cluster-etcd.js';
import { HOST_ID_RE } from './cluster-keys.js';
import type { AllocationRecord } from './cluster-records.js';
import { type ClusterSession, decode } from './cluster-session.js';

export interface ReclaimReport {
  /** Addresses released, as `network id/address`. */
  released: string[];
  /** Hosts whose addresses were released. */
  hosts: string[];
}

/** Hosts (other than this one) that hold addresses but have no host record: lease expired. */
export async function hostsWithoutLease(s: ClusterSession): Promise<string[]> {
  return s.run(async () => {
    const [{ kvs: ipam }, { kvs: hosts }] = await Promise.all([rangePrefix(s.client, s.keys.ipamRootPrefix()), rangePrefix(s.client, s.keys.hostsPrefix())]);
    const live = new Set(hosts.map((kv) => kv.key.toString().slice(s.keys.hostsPrefix().length)));
    const out = new Set<string>();
    for (const kv of ipam) {
      const { hostId } = decode<AllocationRecord>(kv);
      if (hostId !== s.hostId && !live.has(hostId) && HOST_ID_RE.test(hostId)) out.add(hostId);
    }
    return [...out].sort();
  });
}

/**
 * Release every address held by a host with no host record (lease expired), other than this one.
 * With `hostId`, only that host's addresses.
 */
export async function reclaimDeadHosts(s: ClusterSession, hostId?: string): Promise<ReclaimReport> {
  const report: ReclaimReport = { released: [], hosts: [] };
  await s.run(async () => {
    const root = s.keys.ipamRootPrefix();
    const [{ kvs: ipam }, { kvs: hosts }] = await Promise.all([rangePrefix(s.client, root), rangePrefix(s.client, s.keys.hostsPrefix())]);
    const live = new Set(hosts.map((kv) => kv.key.toString().slice(s.keys.hostsPrefix().length)));
    const dead = new Set<string>();
    for (const kv of ipam) {
      const holder = decode<AllocationRecord>(kv);
      if (holder.hostId === s.hostId || live.has(holder.hostId) || (hostId !== undefined && holder.hostId !== hostId)) continue;
      if (!HOST_ID_RE.test(holder.hostId)) continue; // not a host id: not ours to judge
      const key = kv.key.toString();
      const r = await txn(
        s.client,
        [
          { key: s.keys.host(holder.hostId), target: 'Version', result: 'Equal', value: 0 },
          { key, target: 'Mod', result: 'Equal', value: kv.mod_revision },
        ],
        [op.del(key)],
      );
      if (!r.succeeded) continue;
      report.released.push(key.slice(root.length));
      dead.add(holder.hostId);
    }
    report.hosts = [...dead].sort();
  }, 4);
  return report;
}
