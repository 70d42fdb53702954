// Which hosts of the cluster are alive (have a host record, i.e. a live lease), and releasing the
// addresses of those that are not: a host whose record goes (dead, or cut off for longer than
// its lease TTL) has its addresses released by the live host with the lowest id, so one host
// does the writes; every host also sweeps once when it joins (hosts that died while no daemon
// watched). The store checks in each write that the host is still gone (cluster-reclaim.ts).
import type { ClusterHostRecord, ClusterStore, WatchChange } from '../../store/cluster.js';

export class HostLiveness {
  private readonly live = new Set<string>();

  constructor(
    private readonly hostId: string,
    /** the connected store, undefined while there is none (or the agent is closing) */
    private readonly store: () => ClusterStore | undefined,
    private readonly log: (line: string) => void,
  ) {}

  onHosts(c: WatchChange<ClusterHostRecord>): void {
    if (c.type === 'snapshot') {
      this.live.clear();
      for (const h of c.items) this.live.add(h.id);
    } else if (c.type === 'put') this.live.add(c.item.id);
    else {
      this.live.delete(c.item.id);
      const first = [...this.live, this.hostId].sort()[0];
      if (c.item.id !== this.hostId && first === this.hostId) this.reclaim(c.item.id);
    }
  }

  /** Release the addresses of `hostId` (or of every host without a record) in the background. */
  reclaim(hostId: string | undefined): void {
    const cs = this.store();
    if (!cs) return;
    cs.reclaimDeadHosts(hostId).then(
      (r) => {
        if (r.released.length) this.log(`cluster: released ${r.released.length} address(es) of host(s) ${r.hosts.join(', ')} whose lease expired`);
      },
      (err: Error) => this.log(`cluster: releasing the addresses of ${hostId ?? 'departed hosts'}: ${err.message} (again when a host leaves or this daemon rejoins)`),
    );
  }
}
