// DnsTable: a ready-made in-memory DnsView. The daemon feeds it networks and containers (from
// its store at start, then on every change) and hands it to the DNS servers; lookups are map
// reads with results cached until the next change.
import { canonicalIp } from './addr.js';
import type { DnsAddresses, DnsClientInfo, DnsView } from './view.js';

export interface DnsNetworkRecord {
  readonly id: string;
  /** The network's name: `ctr.netname` resolves like `ctr` on that network (as in Docker). */
  readonly name?: string;
  readonly internal?: boolean;
}

export interface DnsEndpointRecord {
  readonly networkId: string;
  readonly ipv4?: string;
  readonly ipv6?: string;
  /** --network-alias names on this network. */
  readonly aliases?: readonly string[];
}

export interface DnsContainerRecord {
  /** Full id (64 hex in berth); its first 12 characters resolve too. */
  readonly id: string;
  readonly name: string;
  readonly endpoints: readonly DnsEndpointRecord[];
  /** --dns servers; empty or absent: the host's resolvers. */
  readonly dns?: readonly string[];
}

interface Member {
  readonly v4: string | undefined;
  readonly v6: string | undefined;
}

/** One name on one network: the containers that answer to it, and their addresses (cached). */
class NameEntry {
  readonly members = new Map<string, Member>();
  private cached: DnsAddresses | undefined;

  set(containerId: string, m: Member): void {
    this.members.set(containerId, m);
    this.cached = undefined;
  }

  delete(containerId: string): void {
    this.members.delete(containerId);
    this.cached = undefined;
  }

  addresses(): DnsAddresses {
    if (this.cached) return this.cached;
    const v4: string[] = [];
    const v6: string[] = [];
    for (const m of this.members.values()) {
      if (m.v4 !== undefined && !v4.includes(m.v4)) v4.push(m.v4);
      if (m.v6 !== undefined && !v6.includes(m.v6)) v6.push(m.v6);
    }
    this.cached = { v4, v6 };
    return this.cached;
  }
}

interface NetworkState {
  name: string | undefined;
  internal: boolean;
  readonly names: Map<string, NameEntry>;
}

interface AddressOwner {
  readonly containerId: string;
  readonly networkId: string;
}

function canonical(ip: string | undefined): string | undefined {
  if (ip === undefined || ip === '') return undefined;
  return canonicalIp(ip.split('/')[0] ?? ip);
}

/** The names a container answers to on a network, lower case. */
function namesOf(c: DnsContainerRecord, ep: DnsEndpointRecord): Set<string> {
  const names = new Set<string>();
  const add = (n: string) => {
    const s = n.toLowerCase().replace(/\.$/, '');
    if (s !== '') names.add(s);
  };
  add(c.name.replace(/^\//, ''));
  add(c.id);
  if (c.id.length > 12) add(c.id.slice(0, 12));
  for (const a of ep.aliases ?? []) add(a);
  return names;
}

export class DnsTable implements DnsView {
  private readonly networks = new Map<string, NetworkState>();
  private readonly containers = new Map<string, DnsContainerRecord>();
  private readonly byIp = new Map<string, AddressOwner[]>();
  private readonly clientCache = new Map<string, DnsClientInfo>();
  private hostUpstreams: readonly string[];

  constructor(opts: { hostUpstreams?: readonly string[] } = {}) {
    this.hostUpstreams = [...(opts.hostUpstreams ?? [])];
  }

  /** The host's resolvers (from its resolv.conf): upstreams of containers without --dns. */
  setHostUpstreams(upstreams: readonly string[]): void {
    this.hostUpstreams = [...upstreams];
    this.clientCache.clear();
  }

  setNetwork(rec: DnsNetworkRecord): void {
    const n = this.network(rec.id);
    n.name = rec.name?.toLowerCase();
    n.internal = rec.internal ?? false;
    this.clientCache.clear();
  }

  /** Forget a network and every endpoint on it. */
  removeNetwork(id: string): void {
    for (const c of [...this.containers.values()]) {
      if (c.endpoints.some((ep) => ep.networkId === id)) {
        this.setContainer({ ...c, endpoints: c.endpoints.filter((ep) => ep.networkId !== id) });
      }
    }
    this.networks.delete(id);
    this.clientCache.clear();
  }

  /** Add or replace a container (all its endpoints at once). */
  setContainer(rec: DnsContainerRecord): void {
    this.removeContainer(rec.id);
    const stored: DnsContainerRecord = {
      id: rec.id,
      name: rec.name,
      dns: rec.dns ? [...rec.dns] : undefined,
      endpoints: rec.endpoints.map((ep) => ({
        networkId: ep.networkId,
        ipv4: canonical(ep.ipv4),
        ipv6: canonical(ep.ipv6),
        aliases: ep.aliases ? [...ep.aliases] : undefined,
      })),
    };
    this.containers.set(rec.id, stored);
    for (const ep of stored.endpoints) {
      const net = this.network(ep.networkId);
      const member: Member = { v4: ep.ipv4, v6: ep.ipv6 };
      for (const name of namesOf(stored, ep)) {
        let entry = net.names.get(name);
        if (!entry) net.names.set(name, (entry = new NameEntry()));
        entry.set(stored.id, member);
      }
      for (const ip of [ep.ipv4, ep.ipv6]) {
        if (ip === undefined) continue;
        let owners = this.byIp.get(ip);
        if (!owners) this.byIp.set(ip, (owners = []));
        owners.push({ containerId: stored.id, networkId: ep.networkId });
      }
    }
  }

  removeContainer(id: string): void {
    const old = this.containers.get(id);
    this.clientCache.delete(id);
    if (!old) return;
    this.containers.delete(id);
    for (const ep of old.endpoints) {
      const net = this.networks.get(ep.networkId);
      if (net) {
        for (const name of namesOf(old, ep)) {
          const entry = net.names.get(name);
          if (!entry) continue;
          entry.delete(id);
          if (entry.members.size === 0) net.names.delete(name);
        }
      }
      for (const ip of [ep.ipv4, ep.ipv6]) {
        if (ip === undefined) continue;
        const owners = this.byIp.get(ip)?.filter((o) => o.containerId !== id) ?? [];
        if (owners.length > 0) this.byIp.set(ip, owners);
        else this.byIp.delete(ip);
      }
    }
  }

  /** Number of containers known (for stats and tests). */
  get size(): number {
    return this.containers.size;
  }

  lookupClient(ip: string): DnsClientInfo | undefined {
    const owner = this.byIp.get(ip)?.[0];
    if (!owner) return undefined;
    const cached = this.clientCache.get(owner.containerId);
    if (cached) return cached;
    const c = this.containers.get(owner.containerId);
    if (!c) return undefined;
    const networkIds = [...new Set(c.endpoints.map((ep) => ep.networkId))];
    const info: DnsClientInfo = {
      containerId: c.id,
      networkIds,
      internalOnly: networkIds.length > 0 && networkIds.every((id) => this.networks.get(id)?.internal === true),
      upstreams: c.dns && c.dns.length > 0 ? c.dns : this.hostUpstreams,
    };
    this.clientCache.set(c.id, info);
    return info;
  }

  lookupName(name: string, networkIds: readonly string[]): DnsAddresses | undefined {
    if (networkIds.length === 1) {
      const found = this.networks.get(networkIds[0] ?? '')?.names.get(name);
      if (found) return found.addresses();
    } else {
      let v4: string[] | undefined;
      let v6: string[] | undefined;
      for (const id of networkIds) {
        const found = this.networks.get(id)?.names.get(name);
        if (!found) continue;
        const a = found.addresses();
        v4 ??= [];
        v6 ??= [];
        for (const ip of a.v4) if (!v4.includes(ip)) v4.push(ip);
        for (const ip of a.v6) if (!v6.includes(ip)) v6.push(ip);
      }
      if (v4 && v6) return { v4, v6 };
    }
    // `ctr.netname`: ctr, on that network only (Docker's embedded DNS answers this form too)
    for (const id of networkIds) {
      const net = this.networks.get(id);
      if (net?.name === undefined || !name.endsWith(`.${net.name}`)) continue;
      const found = net.names.get(name.slice(0, -net.name.length - 1));
      if (found) return found.addresses();
    }
    return undefined;
  }

  lookupAddress(ip: string, networkIds: readonly string[]): readonly string[] | undefined {
    const owners = this.byIp.get(ip);
    if (!owners) return undefined;
    for (const o of owners) {
      if (!networkIds.includes(o.networkId)) continue;
      const c = this.containers.get(o.containerId);
      if (c) return [c.name.replace(/^\//, '')];
    }
    return undefined;
  }

  private network(id: string): NetworkState {
    let n = this.networks.get(id);
    if (!n) this.networks.set(id, (n = { name: undefined, internal: false, names: new Map() }));
    return n;
  }
}
