// The cluster store's IPAM for overlay networks: one key per address, claimed by
// compare-and-swap, so no address is handed out twice across hosts.
import type { IKeyValue, IRequestOp } from 'etcd3';
import { ConflictError, NotFoundError } from '../common/errors.js';
import { cidrContains, parseAddress } from '../ipam/index.js';
import { type AddressRequest, pickAddress, subnetFor } from './cluster-alloc.js';
import { op, rangePrefix, txn } from './cluster-etcd.js';
import type { ClusterNetworks } from './cluster-networks.js';
import { type AllocationRecord, type ClusterAllocation, checkOwner } from './cluster-records.js';
import { CONFLICT_RETRIES, type ClusterSession, allocationValue, decode } from './cluster-session.js';

export class ClusterAddresses {
  /**
   * The allocations each network had at this host's last claim: the next claim picks from them
   * and writes at once, where it read them first (issue 17: one etcd round trip less per attach).
   * Only a hint: the write is guarded (Create == 0) and a failed one answers the fresh list.
   */
  private readonly seen = new Map<string, ClusterAllocation[]>();
  /** owners whose claim did not complete: their next one reads afresh (a timed-out write may have landed) */
  private readonly unsettled = new Set<string>();

  constructor(
    private readonly s: ClusterSession,
    private readonly networks: ClusterNetworks,
  ) {}

  /** This host freed addresses of the network: its next claim reads the list (an owner may come back). */
  forgetHint(networkId: string): void {
    this.seen.delete(networkId);
  }

  /** A network's allocations. Not bounded by itself: call it inside ClusterSession.run. */
  async read(networkId: string): Promise<ClusterAllocation[]> {
    const { kvs } = await rangePrefix(this.s.client, this.s.keys.ipamPrefix(networkId));
    return this.allocationsOf(networkId, kvs);
  }

  private allocationsOf(networkId: string, kvs: readonly IKeyValue[]): ClusterAllocation[] {
    const prefix = this.s.keys.ipamPrefix(networkId);
    return kvs.map((kv) => ({ networkId, address: kv.key.toString().slice(prefix.length), ...decode<AllocationRecord>(kv) }));
  }

  /**
   * Claim an address of the network for `owner` (an endpoint id): the lowest free one of the
   * subnet (gateway, network/broadcast and aux addresses excluded), or `request.address` if free.
   * Idempotent per owner: if owner already holds an address of that subnet (or the requested
   * one), it is returned again, so retrying after a timeout never leaks an address.
   */
  async allocate(networkId: string, owner: string, request: AddressRequest = {}): Promise<string> {
    const { addresses } = await this.s.run(() => this.claim(networkId, owner, [request], () => ({ ops: [], result: undefined })));
    return addresses[0] as string;
  }

  /**
   * Claim one address per request for `owner` (as allocate() picks them) and, in the same
   * transaction, the writes `also` builds from them (an endpoint record): one round trip and one
   * revision. Retried with fresh picks when another host took one meanwhile; idempotent per owner.
   * With newOwner (an owner made for this claim), it starts from the allocations of this host's
   * last claim instead of reading them. Not bounded by itself: call it inside ClusterSession.run.
   */
  async claim<T>(
    networkId: string,
    owner: string,
    requests: readonly AddressRequest[],
    also: (addresses: string[]) => { ops: IRequestOp[]; result: T },
    opts: { newOwner?: boolean } = {},
  ): Promise<{ addresses: string[]; result: T }> {
    const s = this.s;
    checkOwner(owner);
    const wanted = requests.map((r) => (r.address === undefined ? undefined : parseAddress(r.address, 'requested address').text));
    const network = await this.networks.byId(networkId);
    const subnets = requests.map((r) => subnetFor(network, r));
    // the hint serves owners made for this claim (a new endpoint): another owner's earlier claim,
    // maybe from another host, is found only in the current list
    const hint = !opts.newOwner || this.unsettled.has(owner) ? undefined : this.seen.get(networkId);
    this.unsettled.add(owner);
    let allocations = hint ?? (await this.read(networkId));
    let current = hint === undefined;
    for (let attempt = 0; attempt < CONFLICT_RETRIES; attempt++) {
      const held = new Set<string>();
      let picked: string[];
      try {
        picked = subnets.map((subnet, i) => {
          const requested = wanted[i];
          const mine = allocations.find(
            (a) => a.owner === owner && (requested ? a.address === requested : cidrContains(subnet.cidr, parseAddress(a.address))),
          );
          if (mine) held.add(mine.address);
          return mine ? mine.address : pickAddress(subnet, allocations.map((a) => a.address), requested);
        });
      } catch (err) {
        // "in use" or "no free address" by the hint may be stale: only the current list says so
        if (current) throw err;
        allocations = await this.read(networkId);
        current = true;
        attempt--;
        continue;
      }
      const fresh = picked.filter((a) => !held.has(a));
      const extra = also(picked);
      const r = await txn(
        s.client,
        [
          ...fresh.map((a) => ({ key: s.keys.ipam(networkId, a), target: 'Create' as const, result: 'Equal' as const, value: 0 })),
          { key: s.keys.network(networkId), target: 'Version', result: 'Greater', value: 0 },
        ],
        [...fresh.map((a) => op.put(s.keys.ipam(networkId, a), allocationValue(owner, s.hostId))), ...extra.ops],
        [op.getPrefix(s.keys.ipamPrefix(networkId)), op.get(s.keys.network(networkId))],
      );
      if (r.succeeded) {
        this.seen.set(networkId, [...allocations, ...fresh.map((address) => ({ networkId, address, ...allocationValue(owner, s.hostId) }))]);
        this.unsettled.delete(owner);
        return { addresses: picked, result: extra.result };
      }
      s.stats.casConflicts++;
      if (r.kvs(1).length === 0) {
        this.networks.forget(networkId);
        this.seen.delete(networkId);
        throw new NotFoundError(`overlay network ${network.name} was removed`);
      }
      // Another host took one (or the hint was stale): pick again from what the failed transaction read.
      allocations = this.allocationsOf(networkId, r.kvs(0));
      current = true;
      this.seen.set(networkId, allocations);
    }
    throw new ConflictError(`no address claimed in ${subnets.map((x) => x.cidr.text).join(', ')} after ${CONFLICT_RETRIES} conflicts with other hosts; try again`);
  }

  /** Release an address. With owner, only if owner holds it. False when it was not held (by owner). */
  async release(networkId: string, address: string, owner?: string): Promise<boolean> {
    const s = this.s;
    const text = parseAddress(address, 'address').text;
    const key = s.keys.ipam(networkId, text);
    this.forgetHint(networkId);
    return s.run(async () => {
      const got = await txn(s.client, [], [op.get(key)]);
      const kv = got.kvs(0)[0];
      if (!kv) return false;
      if (owner !== undefined && decode<AllocationRecord>(kv).owner !== owner) return false;
      const r = await txn(s.client, [{ key, target: 'Mod', result: 'Equal', value: kv.mod_revision }], [op.del(key)]);
      return r.succeeded;
    });
  }

  async list(networkId: string): Promise<ClusterAllocation[]> {
    return this.s.run(() => this.read(networkId));
  }
}
