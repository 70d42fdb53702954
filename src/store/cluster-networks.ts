// The cluster store's overlay networks: definitions unique by name and by VNI (from 4096 up),
// created by compare-and-swap against concurrent creates on other hosts.
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import { checkRequestedVni, chooseSubnets, pickVni } from './cluster-alloc.js';
import { op, rangePrefix, txn } from './cluster-etcd.js';
import { parseVniSegment } from './cluster-keys.js';
import { type ClusterEndpointRecord, type ClusterNetworkRecord, type NewClusterNetwork, checkNewClusterNetwork } from './cluster-records.js';
import { CONFLICT_RETRIES, type ClusterSession, decode } from './cluster-session.js';
import { newId } from './store.js';

export class ClusterNetworks {
  /** Network records by etcd key: definitions never change once created (see byId). */
  private readonly cache = new Map<string, ClusterNetworkRecord>();

  constructor(private readonly s: ClusterSession) {}

  private async read(): Promise<{ networks: ClusterNetworkRecord[]; revision: number }> {
    const { kvs, revision } = await rangePrefix(this.s.client, this.s.keys.networksPrefix());
    return { networks: kvs.map((kv) => decode<ClusterNetworkRecord>(kv)), revision };
  }

  /**
   * Change the cluster's tunnel subnet from `from` to `to`, only while `refuse` finds nothing in
   * the networks against it (it throws): the write compares that no network changed since the
   * read and that the value is still `from`. The tunnel address claims of the old block go with it.
   */
  async changeTunnelSubnet(from: string, to: string, refuse: (networks: readonly ClusterNetworkRecord[]) => void): Promise<void> {
    const s = this.s;
    const key = s.keys.tunnelSubnet();
    await s.run(async () => {
      for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
        const { networks, revision } = await this.read();
        refuse(networks);
        const r = await txn(
          s.client,
          [
            { key: s.keys.networksPrefix(), prefix: true, target: 'Mod', result: 'Less', value: revision + 1 },
            { key, target: 'Value', result: 'Equal', value: JSON.stringify(from) },
          ],
          [op.put(key, to), op.delPrefix(s.keys.tunnelPrefix())],
          [op.get(key)],
        );
        if (r.succeeded) return;
        const kv = r.kvs(0)[0];
        const now = kv ? decode<unknown>(kv) : undefined;
        if (now !== from) throw new ConflictError(`the cluster's tunnel subnet is ${JSON.stringify(now ?? null)} now, not ${from}: changed meanwhile; look again and retry`);
        s.stats.casConflicts++;
      }
      throw new ConflictError(`tunnel subnet: gave up after ${CONFLICT_RETRIES} concurrent changes to the cluster's networks; try again`);
    });
  }

  /**
   * Create an overlay network for the whole cluster. ConflictError when the name or the requested
   * VNI is taken, or a subnet overlaps another overlay network's. Safe against concurrent creates
   * on other hosts: the write only succeeds if no network changed since the read. With
   * tunnelSubnet (an encrypted network, whose creator's WireGuard is up in that block) also only
   * while the cluster's tunnel subnet is still that one (a change is refused while encrypted
   * networks exist; this closes the race with one in flight).
   */
  async create(network: NewClusterNetwork, opts: { tunnelSubnet?: string } = {}): Promise<ClusterNetworkRecord> {
    const s = this.s;
    // Check the input before any I/O: bad input fails the same with etcd up or down.
    // The id is fixed up front so that a retry after a write whose answer was lost recognises it.
    const wanted = { ...network, id: network.id ?? newId() };
    checkNewClusterNetwork(wanted, network.subnets?.length ? network.subnets : [{ subnet: '10.0.0.0/24' }], s.hostId);
    if (network.vni !== undefined) checkRequestedVni(network.vni, undefined);
    return s.run(async () => {
      for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
        const { networks, revision } = await this.read();
        const taken = networks.find((n) => n.name === network.name);
        if (taken?.id === wanted.id && taken.createdBy === s.hostId) return taken;
        if (taken) throw new ConflictError(`network with name ${network.name} already exists (id ${taken.id.slice(0, 12)}); choose another name`);
        const subnets = chooseSubnets(network.subnets ?? [], network.ipv6 ?? false, networks);
        const base = checkNewClusterNetwork(wanted, subnets, s.hostId);
        if (networks.some((n) => n.id === base.id)) throw new ConflictError(`network id ${base.id} is already in use`);
        const vni =
          network.vni !== undefined
            ? checkRequestedVni(network.vni, networks.find((n) => n.vni === network.vni)?.name)
            : pickVni(networks.map((n) => n.vni));
        const record: ClusterNetworkRecord = { ...base, vni };
        const r = await txn(
          s.client,
          [
            // Nothing under networks/ changed since the read: the name, subnet and VNI checks hold.
            { key: s.keys.networksPrefix(), prefix: true, target: 'Mod', result: 'Less', value: revision + 1 },
            { key: s.keys.networkName(record.name), target: 'Create', result: 'Equal', value: 0 },
            { key: s.keys.vni(vni), target: 'Create', result: 'Equal', value: 0 },
            ...(opts.tunnelSubnet !== undefined ? [{ key: s.keys.tunnelSubnet(), target: 'Value' as const, result: 'Equal' as const, value: JSON.stringify(opts.tunnelSubnet) }] : []),
          ],
          [
            op.put(s.keys.network(record.id), record),
            op.put(s.keys.networkName(record.name), record.id),
            op.put(s.keys.vni(vni), record.id),
          ],
          [op.get(s.keys.tunnelSubnet())],
        );
        if (r.succeeded) return record;
        const kv = r.kvs(0)[0];
        const tunnel = kv ? decode<unknown>(kv) : undefined;
        if (opts.tunnelSubnet !== undefined && tunnel !== opts.tunnelSubnet) {
          throw new ConflictError(`network ${network.name}: the cluster's tunnel subnet is ${JSON.stringify(tunnel ?? null)}, not ${opts.tunnelSubnet} as this host has it (changed meanwhile); try again once this host has taken the new one`);
        }
        s.stats.casConflicts++;
      }
      throw new ConflictError(`network ${network.name}: gave up after ${CONFLICT_RETRIES} concurrent changes to the cluster's networks; try again`);
    });
  }

  async list(): Promise<ClusterNetworkRecord[]> {
    return (await this.s.run(() => this.read())).networks;
  }

  /** By exact id, exact name, then unique id prefix (as Docker resolves). */
  async find(ref: string): Promise<ClusterNetworkRecord | undefined> {
    const networks = await this.list();
    const exact = networks.find((n) => n.id === ref) ?? networks.find((n) => n.name === ref);
    if (exact) return exact;
    if (!/^[0-9a-f]{1,63}$/.test(ref)) return undefined;
    const matches = networks.filter((n) => n.id.startsWith(ref));
    if (matches.length > 1) {
      throw new UserError(`network id prefix ${ref} is ambiguous: it matches ${matches.map((n) => n.name).join(', ')}; give more of the id`);
    }
    return matches[0];
  }

  async get(ref: string): Promise<ClusterNetworkRecord> {
    const n = await this.find(ref);
    if (!n) throw new NotFoundError(`overlay network ${ref} not found (by id, name or id prefix)`);
    return n;
  }

  /**
   * A network's record, cached: definitions never change once created, and every write that
   * depends on the network still checks in its transaction that the network exists.
   * Not bounded by itself: call it inside ClusterSession.run.
   */
  async byId(networkId: string): Promise<ClusterNetworkRecord> {
    const key = this.s.keys.network(networkId);
    const cached = this.cache.get(key);
    if (cached) return cached;
    const r = await txn(this.s.client, [], [op.get(key)]);
    const kv = r.kvs(0)[0];
    if (!kv) throw new NotFoundError(`overlay network ${networkId} not found`);
    const record = decode<ClusterNetworkRecord>(kv);
    this.cache.set(key, record);
    return record;
  }

  /** Drop a network from the cache: a transaction found it gone. */
  forget(networkId: string): void {
    this.cache.delete(this.s.keys.network(networkId));
  }

  /**
   * Remove a network and its IPAM. False when it was already gone; ConflictError while any host
   * has an endpoint on it (checked in the same transaction as the delete).
   */
  async remove(ref: string): Promise<boolean> {
    const s = this.s;
    const network = await this.find(ref);
    if (!network) return false;
    return s.run(async () => {
      const endpointsPrefix = s.keys.endpointsPrefix(network.id);
      const r = await txn(
        s.client,
        [
          { key: s.keys.network(network.id), target: 'Version', result: 'Greater', value: 0 },
          { key: endpointsPrefix, prefix: true, target: 'Create', result: 'Equal', value: 0 },
        ],
        [
          op.del(s.keys.network(network.id)),
          op.del(s.keys.networkName(network.name)),
          op.del(s.keys.vni(network.vni)),
          op.delPrefix(s.keys.ipamPrefix(network.id)),
        ],
        [op.get(s.keys.network(network.id)), op.getPrefix(endpointsPrefix)],
      );
      this.forget(network.id);
      if (r.succeeded) return true;
      if (r.kvs(0).length === 0) return false;
      const eps = r.kvs(1).map((kv) => decode<ClusterEndpointRecord>(kv));
      const hosts = [...new Set(eps.map((e) => e.hostId))].sort();
      throw new ConflictError(
        `network ${network.name} has ${eps.length} active endpoint(s) on host(s) ${hosts.join(', ')} ` +
          `(containers ${eps.map((e) => e.containerName).sort().slice(0, 5).join(', ')}${eps.length > 5 ? ', …' : ''}); disconnect or remove them first`,
      );
    });
  }

  /** VNIs in use, from the VNI index. */
  async listVnis(): Promise<Map<number, string>> {
    const s = this.s;
    const { kvs } = await s.run(() => rangePrefix(s.client, s.keys.vnisPrefix()));
    const out = new Map<number, string>();
    for (const kv of kvs) {
      const vni = parseVniSegment(kv.key.toString().slice(s.keys.vnisPrefix().length));
      if (vni !== undefined) out.set(vni, decode<string>(kv));
    }
    return out;
  }
}
