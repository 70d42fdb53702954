// The cluster store's hosts: each host's record (VTEP, WireGuard key and endpoint) under its
// lease, and its address in the WireGuard tunnel subnet.
import { createHash } from 'node:crypto';
import { ConflictError, SystemError } from '../common/errors.js';
import { type Cidr, type IpAddress, addressFromValue, cidrContains, parseAddress, validateSubnetConfig } from '../ipam/index.js';
import { pickAddress } from './cluster-alloc.js';
import { op, rangePrefix, txn } from './cluster-etcd.js';
import { type AllocationRecord, type ClusterHostRecord, type HostRegistration, checkHostRegistration } from './cluster-records.js';
import { CONFLICT_RETRIES, type ClusterSession, allocationValue, decode } from './cluster-session.js';

export class ClusterHosts {
  constructor(private readonly s: ClusterSession) {}

  /** Publish (or update) this host's record under its lease: VTEP, WireGuard key and endpoint. */
  async register(registration: HostRegistration): Promise<ClusterHostRecord> {
    const s = this.s;
    const record = checkHostRegistration(s.hostId, registration);
    await s.run(() => s.withLease((lease) => txn(s.client, [], [op.put(s.keys.host(s.hostId), record, lease)])));
    s.localHost = record;
    return record;
  }

  async list(): Promise<ClusterHostRecord[]> {
    const { kvs } = await this.s.run(() => rangePrefix(this.s.client, this.s.keys.hostsPrefix()));
    return kvs.map((kv) => decode<ClusterHostRecord>(kv));
  }

  async get(hostId: string): Promise<ClusterHostRecord | undefined> {
    const key = this.s.keys.host(hostId);
    const r = await this.s.run(() => txn(this.s.client, [], [op.get(key)]));
    const kv = r.kvs(0)[0];
    return kv ? decode<ClusterHostRecord>(kv) : undefined;
  }

  /**
   * The cluster's WireGuard tunnel subnet: `wanted` when no host has written one yet (this host
   * initialises the cluster), else the one written first. One transaction; the caller compares.
   */
  async tunnelSubnet(wanted: string): Promise<string> {
    const s = this.s;
    const key = s.keys.tunnelSubnet();
    const r = await s.run(() => txn(s.client, [{ key, target: 'Create', result: 'Equal', value: 0 }], [op.put(key, wanted)], [op.get(key)]));
    if (r.succeeded) return wanted;
    const kv = r.kvs(0)[0];
    const stored = kv ? decode<unknown>(kv) : undefined;
    if (typeof stored !== 'string') throw new SystemError(`cluster store: ${key} holds ${kv?.value.toString() ?? 'nothing'}, not a CIDR`);
    return stored;
  }

  /**
   * This host's address in the WireGuard tunnel subnet: the one it holds already, else
   * `preferred` if free (kept locally from an earlier run), else the lowest free one, claimed by
   * compare-and-swap. Not leased: a host keeps its tunnel address across restarts and lost leases.
   */
  async claimTunnelAddress(subnet: string, preferred?: string): Promise<string> {
    const s = this.s;
    const sub = validateSubnetConfig({ subnet });
    const wanted = preferred === undefined ? undefined : parseAddress(preferred, 'tunnel address');
    return s.run(async () => {
      for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
        const { kvs } = await rangePrefix(s.client, s.keys.tunnelPrefix());
        const held = kvs.map((kv) => ({ address: kv.key.toString().slice(s.keys.tunnelPrefix().length), ...decode<AllocationRecord>(kv) }));
        const mine = held.find((h) => h.hostId === s.hostId && cidrContains(sub.cidr, parseAddress(h.address)));
        if (mine) return mine.address;
        const used = held.map((h) => h.address);
        // without a saved address, first try one derived from the host id: hosts joining together
        // then rarely race for the same (lowest) free address
        const candidate = wanted ?? spreadCandidate(sub.cidr, s.hostId);
        const free = candidate && cidrContains(sub.cidr, candidate) && !used.includes(candidate.text) ? candidate.text : undefined;
        const address = pickAddress(sub, used, free);
        const key = s.keys.tunnel(address);
        const r = await txn(s.client, [{ key, target: 'Create', result: 'Equal', value: 0 }], [op.put(key, allocationValue(s.hostId, s.hostId))]);
        if (r.succeeded) return address;
        s.stats.casConflicts++;
      }
      throw new ConflictError(`no tunnel address claimed in ${sub.cidr.text} after ${CONFLICT_RETRIES} conflicts with other hosts; try again`);
    });
  }
}

/** An address of cidr picked by hashing the host id (network and last address excluded); undefined for tiny blocks. */
function spreadCandidate(cidr: Cidr, hostId: string): IpAddress | undefined {
  const size = cidr.last - cidr.first - 1n;
  if (size < 2n) return undefined;
  const hash = BigInt(`0x${createHash('sha256').update(hostId).digest('hex').slice(0, 16)}`);
  return addressFromValue(cidr.family, cidr.first + 1n + (hash % size));
}
