// The daemon's embedded DNS: a DnsTable kept equal to the store, and one server on each
// user-defined network's gateway address (aardvark-dns's shape). The default `bridge` network
// has no DNS, as in Docker. The store may change under us (CLI processes): the table is rebuilt
// whenever SQLite's data_version says another connection committed.
import { readFileSync } from 'node:fs';
import { DnsServers, DnsTable, type DnsContainerRecord, type DnsView } from '../dns/index.js';
import type { Engine } from '../engine/context.js';
import { liveStatus, type Container, type ContainerConfig, type ContainerState } from '../engine/containers.js';
import { DEFAULT_NETWORK } from '../engine/networks.js';

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

export class DaemonDns {
  readonly table = new DnsTable({ hostUpstreams: hostResolvers() });
  private readonly servers: DnsServers;
  private lastVersion = -1;

  constructor(
    private readonly engine: Engine,
    log: (line: string) => void,
  ) {
    this.servers = new DnsServers({ view: this.view, onError: (address, err) => log(`dns ${address}: ${err.message}`) });
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
    const gateways = networks.flatMap((n) => n.subnets.map((s) => s.gateway).filter((g): g is string => g !== undefined));
    await this.servers.sync(gateways);
  }

  /** Rebuild the table if the store changed; true if it did. Synchronous: the store is. */
  private refreshTable(force = false): boolean {
    const version = this.engine.store.dataVersion();
    if (!force && version === this.lastVersion) return false;
    this.lastVersion = version;
    const store = this.engine.store;
    const networks = store.listNetworks().filter((n) => n.name !== DEFAULT_NETWORK);
    const ids = new Set(networks.map((n) => n.id));
    for (const n of networks) this.table.setNetwork({ id: n.id, name: n.name, internal: n.internal });
    // every container holding endpoints: one being started asks before it is marked running,
    // and one that exited has released its endpoints already
    const live = store
      .listContainers()
      .map((r): Container => ({ id: r.id, name: r.name, created: r.created, config: r.config as ContainerConfig, state: r.state as ContainerState }))
      .filter((c) => c.state.status === 'created' || liveStatus(c) === 'running');
    const records: DnsContainerRecord[] = live.map((c) => ({
      id: c.id,
      name: c.name,
      dns: c.config.dns,
      endpoints: store
        .listEndpoints({ containerId: c.id })
        .filter((ep) => ids.has(ep.networkId))
        .map((ep) => ({
          networkId: ep.networkId,
          ipv4: ep.addresses.find((a) => !a.includes(':'))?.split('/')[0],
          ipv6: ep.addresses.find((a) => a.includes(':'))?.split('/')[0],
          aliases: ep.aliases,
        })),
    }));
    // replace the table's contents: drop what is gone, then set what is there
    for (const id of this.knownContainers) if (!records.some((r) => r.id === id)) this.table.removeContainer(id);
    for (const id of this.knownNetworks) if (!ids.has(id)) this.table.removeNetwork(id);
    for (const r of records) this.table.setContainer(r);
    this.knownContainers = new Set(records.map((r) => r.id));
    this.knownNetworks = ids;
    return true;
  }

  private knownContainers = new Set<string>();
  private knownNetworks = new Set<string>();

  async close(): Promise<void> {
    await this.servers.close();
  }
}
