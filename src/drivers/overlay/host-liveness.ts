// Which hosts of the cluster are alive (have a host record, i.e. a live lease), and releasing the
// addresses of those that stay gone. A host whose record goes (dead, or cut off for longer than
// its lease TTL) keeps its addresses for a grace period (--cluster-reclaim-after): a host back
// within it (a partition that heals, a slow reboot) finds its addresses as it left them. After
// the grace period the live host with the lowest id releases them, so one host does the writes;
// the store checks in each write that the host is still gone (cluster-reclaim.ts). Every host
// also arms the timer at join for hosts that hold addresses without a record (they died while no
// daemon watched).
import type { ClusterHostRecord, ClusterStore, WatchChange } from '../../store/cluster.js';

export class HostLiveness {
  private readonly live = new Set<string>();
  /** hosts gone, by id: the timer that releases their addresses */
  private readonly pending = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly hostId: string,
    /** the connected store, undefined while there is none (or the agent is closing) */
    private readonly store: () => ClusterStore | undefined,
    private readonly graceMs: number,
    private readonly log: (line: string) => void,
  ) {}

  onHosts(c: WatchChange<ClusterHostRecord>): void {
    if (c.type === 'snapshot') {
      this.live.clear();
      for (const h of c.items) this.live.add(h.id);
      for (const id of [...this.pending.keys()]) if (this.live.has(id)) this.cancel(id);
    } else if (c.type === 'put') {
      this.live.add(c.item.id);
      this.cancel(c.item.id);
    } else {
      this.live.delete(c.item.id);
      if (c.item.id !== this.hostId) this.arm(c.item.id);
    }
  }

  /** After joining: hosts that hold addresses but have no record get the grace period from now. */
  async armOrphans(): Promise<void> {
    const cs = this.store();
    if (!cs) return;
    for (const id of await cs.hostsWithoutLease()) if (!this.live.has(id)) this.arm(id);
  }

  close(): void {
    for (const id of [...this.pending.keys()]) this.cancel(id);
  }

  private arm(hostId: string): void {
    if (this.pending.has(hostId)) return;
    const timer = setTimeout(() => {
      this.pending.delete(hostId);
      this.reclaim(hostId);
    }, this.graceMs);
    timer.unref();
    this.pending.set(hostId, timer);
  }

  private cancel(hostId: string): void {
    clearTimeout(this.pending.get(hostId));
    this.pending.delete(hostId);
  }

  /** Release the addresses of hostId in the background, if this is the live host with the lowest id. */
  private reclaim(hostId: string): void {
    const cs = this.store();
    if (!cs || this.live.has(hostId) || [...this.live, this.hostId].sort()[0] !== this.hostId) return;
    cs.reclaimDeadHosts(hostId).then(
      (r) => {
        if (r.released.length) this.log(`cluster: released ${r.released.length} address(es) of host ${hostId}, gone for ${Math.round(this.graceMs / 1000)} s`);
      },
      (err: Error) => {
        this.log(`cluster: releasing the addresses of host ${hostId}: ${err.message}; trying again later`);
        this.arm(hostId);
      },
    );
  }
}
