// The daemon's embedded DNS: a DnsTable kept equal to the store, and one server on each
// user-defined network's gateway address (aardvark-dns's shape). The default `bridge` network
// has no DNS, as in Docker. The store may change under us (CLI processes, the thin client's
// commands in this process): the table follows the store's change log whenever its dataVersion changes.
import { readFileSync } from 'node:fs';
import { DnsServers, DnsTable, type DnsContainerRecord, type DnsEndpointRecord, type DnsView } from '../dns/index.js';
import type { Engine } from '../engine/context.js';
import { asContainer, liveStatus, type Container } from '../engine/containers.js';
import { DEFAULT_NETWORK, dnsAddressesOf } from '../engine/networks.js';
import { sandboxDnsServers } from '../engine/sandbox-dns.js';

/** nameserver lines of the host's resolv.conf, loopback ones included (we forward from the host). */
export function hostResolvers(path = '/etc/resolv.conf'): string[] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .map((l) => /^\s*nameserver\s+(\S+)/.exec(l)?.[1])
      .filter((x): x is string => x !== undefined);
  } catch {
    return [];
  }
}

function dnsEndpoint(ep: { networkId: string; addresses: readonly string[]; aliases: readonly string[] }): DnsEndpointRecord {
  return {
    networkId: ep.networkId,
    ipv4: ep.addresses.find((a) => !a.includes(':'))?.split('/')[0],
    ipv6: ep.addresses.find((a) => a.includes(':'))?.split('/')[0],
    aliases: ep.aliases,
  };
}

export class DaemonDns {
  readonly table = new DnsTable({ hostUpstreams: hostResolvers() });
  private readonly servers: DnsServers;
  private lastVersion = -1;
  /** containers on other hosts (overlay endpoints from the cluster store), by id, set by the overlay agent */
  private readonly remote = new Map<string, DnsContainerRecord>();
  private remoteChanged = false;
  /** remote records applied one by one (not by a rebuild): counts for tests */
  remoteApplied = 0;

  /**
   * Records of containers on other hosts: all of them (full: the next refresh rebuilds), or only
   * those that changed (a record without endpoints: gone), put in the table at once. Why: a
   * rebuild reads every container, endpoint and network from the store, and each remote attach
   * on any host did one on every host (issue 17: 19 daemons sharing 2 cores).
   */
  setRemote(records: readonly DnsContainerRecord[], full = true): void {
    if (full) this.remote.clear();
    for (const r of records) {
      if (r.endpoints.length) this.remote.set(r.id, r);
      else this.remote.delete(r.id);
    }
    if (full || this.seq === undefined || this.remoteChanged) {
      this.remoteChanged = true;
      return;
    }
    for (const r of records) this.applyRemote(r);
  }

  /** One remote container's record into the built table, on the networks it knows. */
  private applyRemote(r: DnsContainerRecord): void {
    this.remoteApplied++;
    const eps = r.endpoints.filter((e) => this.knownNetworks.has(e.networkId));
    if (eps.length) this.setRecord({ ...r, endpoints: eps });
    else if (this.known.has(r.id)) {
      this.table.removeContainer(r.id);
      this.known.delete(r.id);
    }
  }

  constructor(
    private readonly engine: Engine,
    log: (line: string) => void,
  ) {
    // One line per address and kind of error, not one per retry (issue 11 item 17: an address
    // that never comes logged once a second forever); and a line when it works at last.
    const reported = new Map<string, Set<string>>();
    const missing = new Map<string, number>();
    this.servers = new DnsServers({
      view: this.view,
      onError: (address, err) => {
        const kind = (err as NodeJS.ErrnoException).code ?? err.message;
        // a gateway not on the host yet is the normal moment between a network's record and its
        // bridge (another process creates them): say so only once it lasts (third try, ~3 s)
        if (kind === 'EADDRNOTAVAIL') {
          const tries = (missing.get(address) ?? 0) + 1;
          missing.set(address, tries);
          if (tries < 3) return;
        }
        const kinds = reported.get(address) ?? new Set<string>();
        reported.set(address, kinds);
        if (kinds.has(kind)) return;
        kinds.add(kind);
        log(`dns ${address}: ${err.message} (retrying with backoff up to 30 s; logged once)`);
      },
      onStarted: (address) => {
        missing.delete(address);
        if (reported.delete(address)) log(`dns ${address}: listening`);
      },
    });
  }

  /**
   * The table, but a miss first checks whether the store changed: a container may ask before the
   * poll has seen it (a `berth run` whose command resolves a name at once).
   */
  readonly view: DnsView = {
    lookupClient: (ip) => this.table.lookupClient(ip) ?? (this.refreshTable() ? this.table.lookupClient(ip) : undefined),
    lookupName: (name, nets) => this.table.lookupName(name, nets) ?? (this.refreshTable() ? this.table.lookupName(name, nets) : undefined),
    lookupAddress: (ip, nets) => this.table.lookupAddress(ip, nets),
  };

  /** Rebuild from the store and re-sync the listeners if it changed since last time (or always, with force). */
  async refresh(force = false): Promise<void> {
    if (!this.refreshTable(force)) return;
    const networks = this.engine.store.listNetworks().filter((n) => n.name !== DEFAULT_NETWORK);
    // a bridge network's gateway; a macvlan network's host shim (see dnsAddressesOf)
    await this.servers.sync(networks.flatMap(dnsAddressesOf));
  }

  /**
   * Bring the table up to the store if it changed; true if it did. Synchronous: the store is.
   * Only the containers written since the last look (the store's change log) are read again; a
   * network written, the remote records replaced, or a log that no longer reaches back that far
   * rebuild everything (issue 16: the full rebuild after each change read every container).
   */
  private refreshTable(force = false): boolean {
    const store = this.engine.store;
    const version = store.dataVersion();
    if (!force && version === this.lastVersion && !this.remoteChanged) return false;
    this.lastVersion = version;
    const changes = this.seq === undefined || this.remoteChanged ? undefined : store.changesSince(this.seq);
    if (!changes || changes.changes.some((c) => c.kind === 'network')) {
      this.rebuild();
      return true;
    }
    this.seq = changes.seq;
    for (const id of new Set(changes.changes.map((c) => c.id))) this.updateContainer(id);
    return true;
  }

  /** Read every DNS network, endpoint and container again. */
  private rebuild(): void {
    this.remoteChanged = false;
    const store = this.engine.store;
    // the seq first: whatever is written after it shows in the next changesSince
    this.seq = store.changesSeq();
    this.rebuilds++;
    const networks = store.listNetworks().filter((n) => n.name !== DEFAULT_NETWORK);
    const ids = new Set(networks.map((n) => n.id));
    for (const n of networks) this.table.setNetwork({ id: n.id, name: n.name, internal: n.internal });
    // Endpoints on DNS networks, by container: one query, not one per container (issue 5).
    const endpoints = new Map<string, DnsEndpointRecord[]>();
    for (const ep of store.listEndpoints()) {
      if (!ids.has(ep.networkId)) continue;
      let list = endpoints.get(ep.containerId);
      if (!list) endpoints.set(ep.containerId, (list = []));
      list.push(dnsEndpoint(ep));
    }
    const records: DnsContainerRecord[] = [];
    const containers = store.listContainers();
    this.containersRead += containers.length;
    for (const r of containers) {
      const eps = endpoints.get(r.id);
      const rec = eps && this.containerRecord(asContainer(r), eps);
      if (rec) records.push(rec);
    }
    const berthIds = new Set(containers.map((r) => r.id));
    for (const [id, eps] of endpoints) {
      if (!berthIds.has(id)) records.push(this.sandboxRecord(id, eps));
    }
    for (const r of this.remote.values()) {
      const eps = r.endpoints.filter((e) => ids.has(e.networkId));
      if (eps.length) records.push({ ...r, endpoints: eps });
    }
    // replace the table's contents: drop what is gone, then set what changed
    const now = new Set(records.map((r) => r.id));
    for (const id of this.known.keys()) {
      if (!now.has(id)) {
        this.table.removeContainer(id);
        this.known.delete(id);
      }
    }
    for (const id of this.knownNetworks) {
      if (ids.has(id)) continue;
      this.table.removeNetwork(id);
      this.known.clear(); // removeNetwork rewrote containers behind our back: set them all again
    }
    for (const r of records) this.setRecord(r);
    this.knownNetworks = ids;
  }

  /** Read one container (or CNI sandbox) again: its record and its endpoints on DNS networks. */
  private updateContainer(id: string): void {
    const store = this.engine.store;
    const eps = store.listEndpoints({ containerId: id }).filter((ep) => this.knownNetworks.has(ep.networkId)).map(dnsEndpoint);
    const r = eps.length ? store.findContainer(id) : undefined;
    if (r) this.containersRead++;
    // findContainer also matches names and id prefixes: only the exact id is this container
    const rec = !eps.length ? undefined : r?.id === id ? this.containerRecord(asContainer(r), eps) : this.sandboxRecord(id, eps);
    // a remote record of the same id (an overlay endpoint seen from the cluster) stays as it is
    if (rec) this.setRecord(rec);
    else if (this.known.has(id) && !this.remote.has(id)) {
      this.table.removeContainer(id);
      this.known.delete(id);
    }
  }

  /**
   * A berth container's record, if it has a name to answer: one being started asks before it is
   * marked running, and one that exited has released its endpoints already (or is about to).
   */
  private containerRecord(c: Container, eps: DnsEndpointRecord[]): DnsContainerRecord | undefined {
    if (c.state.status !== 'created' && liveStatus(c) !== 'running') return undefined;
    return { id: c.id, name: c.name, dns: c.config.dns, endpoints: eps };
  }

  /**
   * A CNI sandbox (endpoints without a berth container): under the runtime's name for it
   * (K8S_POD_NAME or the first alias, stored first among the aliases), else its CNI id, with the
   * runtime's DNS servers as its upstreams.
   */
  private sandboxRecord(id: string, eps: DnsEndpointRecord[]): DnsContainerRecord {
    const upstreams = sandboxDnsServers(this.engine, id);
    return { id, name: eps.find((e) => e.aliases?.length)?.aliases?.[0] ?? id, endpoints: eps, ...(upstreams ? { dns: upstreams } : {}) };
  }

  private setRecord(r: DnsContainerRecord): void {
    const key = JSON.stringify(r);
    if (this.known.get(r.id) === key) return;
    this.table.setContainer(r);
    this.known.set(r.id, key);
  }

  /** the change log's seq the table is up to; undefined: never built */
  private seq: number | undefined;
  /** full rebuilds and container records read so far (counts for tests: per change, they must not grow with the containers) */
  rebuilds = 0;
  containersRead = 0;

  /** what the table holds for each container, as JSON (to skip unchanged ones) */
  private readonly known = new Map<string, string>();
  private knownNetworks = new Set<string>();

  async close(): Promise<void> {
    await this.servers.close();
  }
}
