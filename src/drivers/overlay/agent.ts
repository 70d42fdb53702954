// The overlay driver's agent: what `berth daemon --cluster-store … --advertise-addr IP` adds. It joins
// the cluster (ClusterStore: host record under this host's lease), and follows two watches:
//   - networks: every overlay network of the cluster is mirrored into the local store and made
//     in the kernel on every host (bridge + VXLAN device), whether or not a container here uses
//     it yet: a first container then finds its peers' entries already programmed;
//   - endpoints: every endpoint of another host becomes FDB + neighbour entries on the network's
//     VXLAN device here (overlay.ts), and a DNS record; a delete (container gone, or its
//     host's lease expired) removes them.
// Kernel work is applied in order on one queue. The engine reaches the cluster through this
// object (engine.cluster); connecting happens in the background, so a daemon starts, and local
// networks work, while etcd is down: overlay operations fail with "cluster store unreachable"
// until it answers. While etcd is unreachable the watches deliver nothing and every entry stays:
// existing cross-host traffic keeps flowing.
// `-o encrypted` networks run their VXLAN over this host's WireGuard mesh (drivers/overlay/mesh.ts);
// their remote endpoints are programmed only with tunnel-address VTEPs (fail closed).
import type { DnsContainerRecord } from '../../dns/index.js';
import { addRemoteEndpoint, removeRemoteEndpoint, syncRemoteEndpoints, underlayOf } from './overlay.js';
import { isTunnelAddress } from './overlay-encryption.js';
import { DEFAULT_TUNNEL_SUBNET, checkTunnelSubnetFree } from './tunnel-subnet.js';
import { ConflictError, UserError } from '../../common/errors.js';
import { trace, tracing } from '../../common/trace.js';
import { isClusterNetwork } from '../registry.js';
import { remoteOf, type OverlayCluster } from './cluster.js';
import { HostLiveness } from './host-liveness.js';
import { ResyncGate } from './resync-gate.js';
import { WireGuardMesh, type EncryptionState } from './mesh.js';
import { isEncrypted } from './options.js';
import { parseAddress } from '../../ipam/index.js';
import {
  ClusterStore, ClusterUnreachableError, type ClusterEndpointRecord, type ClusterHostRecord, type ClusterNetworkRecord, type ClusterWatch, type HostRegistration, type SessionEvent,
  type WatchChange,
} from '../../store/cluster.js';
import { parseEndpoints } from '../../store/cluster-etcd.js';

export type { OverlayAgentHost, OverlayAgentOptions } from './agent-types.js';
import type { OverlayAgentHost, OverlayAgentOptions } from './agent-types.js';

const RETRY_MS = 1000;
const RECLAIM_AFTER_S = 300;
const RESYNC_MS = 2000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

import { hostIdOf } from './cluster-config.js';

export { hostIdOf, parseClusterStore } from './cluster-config.js';

export class OverlayAgent implements OverlayCluster {
  private cs: ClusterStore | undefined;
  private readonly watches: ClusterWatch<unknown>[] = [];
  private readonly networks = new Map<string, ClusterNetworkRecord>();
  private readonly liveness: HostLiveness;
  /** endpoints of other hosts, by endpoint id */
  private readonly remotes = new Map<string, ClusterEndpointRecord>();
  /** the same by container: a changed container's DNS record without a walk over every endpoint */
  private readonly remotesByContainer = new Map<string, Set<string>>();
  private queue: Promise<void> = Promise.resolve();
  private dirty: string | undefined;
  private closed = false;
  private readonly resyncTimer: NodeJS.Timeout;
  private connecting: Promise<void> | undefined;
  private readonly mesh: WireGuardMesh;
  /** encrypted-network endpoints skipped for a non-tunnel VTEP (logged once each) */
  private readonly refused = new Set<string>();
  /** networks whose mirror failed (e.g. etcd slow under load): tried again every RESYNC_MS */
  private readonly unmirrored = new Set<string>();
  /** a DNS publication is queued (scheduleDns) */
  private dnsPending = false;
  /** the containers whose DNS records changed since the last publication; undefined: all of them */
  private dnsDirty: Set<string> | undefined;
  /** resyncs against local endpoint changes in flight (resync-gate.ts) */
  private readonly gate = new ResyncGate();
  /** the cluster's tunnel subnet as this host knows it (local copy, else the flag, else the default) */
  private tunnel: string;
  /** why this daemon refused to join (tunnel subnet mismatch): every cluster operation answers it */
  private refusal: UserError | undefined;

  private constructor(
    private readonly engine: OverlayAgentHost,
    private readonly opts: OverlayAgentOptions,
    private readonly members: string[],
    readonly hostId: string,
    readonly vtep: string,
    readonly underlayMtu: number,
  ) {
    this.tunnel = engine.tunnelSubnet() ?? opts.tunnelSubnet ?? DEFAULT_TUNNEL_SUBNET;
    this.resyncTimer = setInterval(() => {
      void this.resyncIfDirty();
      if (this.unmirrored.size && !this.closed) this.enqueue('networks retried', () => this.retryMirrors());
      // a killed wireguard-go comes back within RESYNC_MS (nothing leaks meanwhile: fail closed)
      if (this.mesh.current() && !this.closed) this.enqueue('WireGuard check', () => this.mesh.repairIfDown());
    }, RESYNC_MS);
    this.resyncTimer.unref();
    this.liveness = new HostLiveness(hostId, () => (this.closed ? undefined : this.cs), (opts.reclaimAfterSeconds ?? RECLAIM_AFTER_S) * 1000, opts.log);
    this.mesh = new WireGuardMesh({
      hostId,
      advertiseAddress: vtep,
      underlayMtu,
      root: engine.paths.root,
      run: engine.paths.run,
      ...(opts.wireguardPort ? { listenPort: opts.wireguardPort } : {}),
      store: () => this.store(),
      tunnelSubnet: () => this.tunnel,
      publish: async () => {
        if (!this.cs) return;
        await this.cs.registerHost(this.registration());
        // endpoints published before the device was up carry the underlay VTEP: again with the tunnel's
        this.markDirty('WireGuard state changed');
      },
      log: opts.log,
    });
  }

  /** This host's cluster record: VTEP, and WireGuard once its device is up. */
  private registration(): HostRegistration {
    const wireguard = this.mesh.info();
    return { advertiseAddress: this.vtep, ...(wireguard ? { wireguard } : {}) };
  }

  /**
   * Check the options (bad ones fail the daemon's start), hand the engine this agent, and join
   * the cluster in the background.
   */
  static async start(engine: OverlayAgentHost, opts: OverlayAgentOptions): Promise<OverlayAgent> {
    const members = parseEndpoints(opts.endpoints);
    const vtep = parseAddress(opts.advertiseAddress, '--advertise-addr').text;
    const underlay = await underlayOf(engine.hostNetns, vtep);
    const local = engine.tunnelSubnet();
    if (opts.tunnelSubnet !== undefined) {
      // this host joined a cluster before: its value is that cluster's, and changes with it only
      if (local !== undefined && local !== opts.tunnelSubnet) {
        throw new UserError(
          `--tunnel-subnet ${opts.tunnelSubnet} differs from the cluster's tunnel subnet ${local} that this host joined with; start the daemon with --tunnel-subnet ${local}, or without the flag`,
        );
      }
      checkTunnelSubnetFree(opts.tunnelSubnet, { networks: networksOf(engine), advertiseAddress: vtep });
    }
    const agent = new OverlayAgent(engine, opts, members, hostIdOf(engine.paths.root), vtep, underlay.mtu);
    engine.cluster = agent;
    opts.log(`cluster: host ${agent.hostId}, VTEP ${vtep} on ${underlay.ifname} (MTU ${underlay.mtu}); joining etcd at ${members.join(', ')}`);
    // encrypted networks of this host come back before repair, even with etcd down (saved tunnel
    // address); with none, a wireguard-go left by a killed daemon is stopped
    const encrypted = engine.listNetworks().some((n) => isClusterNetwork(n) && isEncrypted(n));
    if (encrypted) await agent.mesh.ensure().catch((err: Error) => opts.log(`cluster: WireGuard: ${err.message}`));
    else await agent.mesh.stop({ unpublish: false }).catch((err: Error) => opts.log(`cluster: WireGuard cleanup: ${err.message}`));
    agent.connecting = agent.connectLoop();
    return agent;
  }

  ensureEncryption(): Promise<EncryptionState> {
    return this.mesh.ensure();
  }

  encryption(): EncryptionState | undefined {
    return this.mesh.current();
  }

  /** In the kernel-work queue, so a peer sync never interleaves with the key change. */
  rotateKeys(): Promise<{ publicKey: string; previous: string }> {
    const result = this.queue.then(() => this.mesh.rotate());
    this.queue = result.then(() => undefined, () => undefined);
    return result;
  }

  /** Resolves once joined (tests, and callers that want to wait). */
  ready(): Promise<void> {
    return this.connecting ?? Promise.resolve();
  }

  store(): ClusterStore {
    if (this.refusal) throw this.refusal;
    if (!this.cs) throw new ClusterUnreachableError(this.members, 'not connected yet (the daemon keeps trying)');
    return this.cs;
  }

  remoteEndpoints(networkId: string): ClusterEndpointRecord[] {
    return [...this.remotes.values()].filter((e) => e.networkId === networkId && this.usable(e));
  }

  hosts(): ClusterHostRecord[] {
    return this.mesh.hostRecords();
  }

  /**
   * An endpoint of an encrypted network is programmed only with a tunnel-address VTEP (sent
   * through WireGuard); one published with an underlay VTEP (its host's WireGuard is not up) is
   * left out: unreachable rather than plaintext.
   */
  private usable(e: ClusterEndpointRecord): boolean {
    const n = this.networks.get(e.networkId);
    if (!n || !isEncrypted(n) || isTunnelAddress(e.vtep, this.tunnel)) return true;
    if (!this.refused.has(e.id)) {
      this.refused.add(e.id);
      this.opts.log(`cluster: endpoint ${e.containerName} on encrypted network ${n.name}: VTEP ${e.vtep} of host ${e.hostId} is not a WireGuard tunnel address; not programmed`);
    }
    return false;
  }

  markDirty(reason: string): void {
    this.dirty = reason;
  }

  localChange<T>(fn: () => Promise<T>, opts: { maxWaitMs?: number } = {}): Promise<T> {
    return this.gate.shared(fn, opts);
  }

  private async connectLoop(): Promise<void> {
    let announced = false;
    while (!this.closed) {
      let cs: ClusterStore | undefined;
      try {
        cs = await ClusterStore.connect(this.members, {
          hostId: this.hostId,
          ...(this.opts.leaseTtlSeconds ? { leaseTtlSeconds: this.opts.leaseTtlSeconds } : {}),
          onSessionEvent: (e) => this.onSession(e),
        });
        const refusal = await this.agreeTunnelSubnet(cs);
        if (refusal) {
          this.refusal = refusal;
          this.opts.log(`cluster: refused to join: ${refusal.message}`);
          return void (await cs.close().catch(() => undefined));
        }
        // a new tunnel address reaches the VXLAN devices with the networks' snapshot below
        await this.mesh.reclaim(cs);
        await cs.registerHost(this.registration());
        const report = await cs.resync(this.engine.localEndpoints());
        if (this.closed) return void (await cs.close());
        this.cs = cs;
        this.watches.push((await cs.watchNetworks((c) => this.onNetworks(c))) as ClusterWatch<unknown>);
        this.watches.push((await cs.watchEndpoints('all', (c) => this.onEndpoints(c))) as ClusterWatch<unknown>);
        this.watches.push((await cs.watchTunnelSubnet((c) => this.onTunnelSubnet(c))) as ClusterWatch<unknown>);
        this.watches.push(
          (await cs.watchHosts((c) => {
            this.liveness.onHosts(c);
            const mesh = this.mesh.onHosts(c);
            if (mesh === 'contested') this.enqueue('WireGuard tunnel address', () => this.retunnel());
            if (mesh) this.enqueue('WireGuard peers', () => this.mesh.syncPeers());
          })) as ClusterWatch<unknown>,
        );
        // hosts that died while no daemon watched: their addresses go back to the pool in time
        await this.liveness.armOrphans().catch((err: Error) => this.opts.log(`cluster: hosts gone while no daemon watched: ${err.message}`));
        this.opts.log(`cluster: joined as ${this.hostId}: ${report.registered} local endpoint(s) registered, ${report.removed.length} stale removed`);
        for (const c of report.conflicts) this.opts.log(`cluster: endpoint ${c.endpointId.slice(0, 12)}: address ${c.address} is held by ${c.holder.owner.slice(0, 12)} on ${c.holder.hostId}`);
        return;
      } catch (err) {
        for (const w of this.watches.splice(0)) await w.cancel();
        this.cs = undefined;
        await cs?.close().catch(() => undefined);
        if (!announced) this.opts.log(`cluster: ${(err as Error).message}; retrying`);
        announced = true;
        await sleep(RETRY_MS);
      }
    }
  }

  /**
   * Agree on the cluster's tunnel subnet before anything else: the first daemon to join writes
   * its value; a later one given an explicit --tunnel-subnet that differs refuses to join; one
   * without the flag takes the cluster's (its guard rule re-rendered in one batch). The value
   * is kept in the local store, where every render of the firewall reads it.
   */
  private async agreeTunnelSubnet(cs: ClusterStore): Promise<UserError | undefined> {
    const explicit = this.opts.tunnelSubnet;
    const stored = await cs.tunnelSubnet(explicit ?? this.tunnel);
    if (explicit !== undefined && stored !== explicit) {
      return new UserError(
        `--tunnel-subnet ${explicit} differs from the cluster's tunnel subnet ${stored} (written by the first daemon to join); start this daemon with --tunnel-subnet ${stored}, or without the flag`,
      );
    }
    if (stored !== this.tunnel) {
      if (this.mesh.current()) return new UserError(`the cluster's tunnel subnet is ${stored}, but this host's encrypted overlay networks use ${this.tunnel}; remove them here first`);
      try {
        checkTunnelSubnetFree(stored, { networks: networksOf(this.engine), advertiseAddress: this.vtep }, "the cluster's tunnel subnet");
      } catch (err) {
        return err as UserError;
      }
      this.opts.log(`cluster: tunnel subnet ${stored} (the cluster's), was ${this.tunnel}`);
    }
    this.tunnel = stored;
    if (this.engine.tunnelSubnet() !== stored) this.engine.setTunnelSubnet(stored);
    return undefined;
  }

  /**
   * `berth system tunnel-subnet CIDR`: change the cluster's tunnel subnet, refused while an
   * encrypted overlay network exists (cluster-wide: checked in the write) or when the block
   * clashes with a network or this host's advertise address. Every host takes it from its watch.
   */
  async changeTunnelSubnet(to: string): Promise<{ subnet: string; previous: string }> {
    const cs = this.store();
    const from = this.tunnel;
    checkTunnelSubnetFree(to, { networks: networksOf(this.engine), advertiseAddress: this.vtep }, 'tunnel subnet');
    if (to === from) return { subnet: to, previous: from };
    await cs.changeTunnelSubnet(from, to, (networks) => {
      const encrypted = networks.filter((n) => isEncrypted(n)).map((n) => n.name);
      if (encrypted.length) {
        throw new ConflictError(`the tunnel subnet cannot change while encrypted overlay networks exist (${encrypted.join(', ')}): remove them first, then change it (it stays ${from})`);
      }
      checkTunnelSubnetFree(to, { networks: networks.map((n) => ({ name: n.name, subnets: n.subnets.map((s) => s.subnet) })) }, 'tunnel subnet');
    });
    // in the kernel-work queue (as rotateKeys), so the caller sees this host's guard re-rendered
    const adopted = this.queue.then(() => this.adoptTunnelSubnet(to));
    this.queue = adopted.then(() => undefined, () => undefined);
    await adopted;
    return { subnet: to, previous: from };
  }

  private onTunnelSubnet(c: WatchChange<string>): void {
    const value = c.type === 'snapshot' ? c.items[0] : c.type === 'put' ? c.item : undefined;
    if (typeof value !== 'string' || value === this.tunnel) return;
    this.enqueue('tunnel subnet changed', () => this.adoptTunnelSubnet(value));
  }

  /**
   * Take the cluster's new tunnel subnet: the local copy and the firewall's guard (one atomic
   * batch). Never under a live WireGuard device of an encrypted network here (its VXLAN keeps
   * the old guard: unreachable, never plaintext); a leftover device with no such network goes.
   */
  private async adoptTunnelSubnet(value: string): Promise<void> {
    if (value === this.tunnel) return;
    if (this.engine.listNetworks().some((n) => isClusterNetwork(n) && isEncrypted(n))) {
      this.opts.log(`cluster: the cluster's tunnel subnet is now ${value}, but encrypted overlay networks are still here on ${this.tunnel}; kept ${this.tunnel} (their traffic stays guarded) until they are gone and the daemon restarts`);
      return;
    }
    if (this.mesh.current()) await this.mesh.stop({ unpublish: true });
    this.opts.log(`cluster: tunnel subnet ${value} (the cluster's), was ${this.tunnel}`);
    this.tunnel = value;
    this.engine.setTunnelSubnet(value);
  }

  /** Another host publishes this host's tunnel address: whoever the store says loses it moves. */
  private async retunnel(): Promise<void> {
    const cs = this.cs;
    if (!cs || !(await this.mesh.reclaim(cs))) return;
    for (const n of this.networks.values()) if (isEncrypted(n)) await this.mirror(n);
    await cs.registerHost(this.registration());
    this.markDirty('new tunnel address');
  }

  private onSession(e: SessionEvent): void {
    if (e.type === 'lease-lost') this.opts.log(`cluster: lease lost (${e.error.message}); re-registering`);
    if (e.type === 're-registered') {
      this.opts.log(`cluster: re-registered with ${e.endpoints} endpoint(s)`);
      // endpoints released while etcd was away are still in the store's set: resync drops them
      this.markDirty('re-registered after a lost lease');
    }
  }

  private async resyncIfDirty(): Promise<void> {
    const cs = this.cs;
    if (!cs || this.dirty === undefined || this.closed) return;
    const reason = this.dirty;
    this.dirty = undefined;
    try {
      // no attach or removal is between its cluster write and its local one while this runs
      await this.gate.exclusive(async () => {
        const local = this.engine.localEndpoints();
        const r = await cs.resync(local);
        this.opts.log(`cluster: resynced (${reason}): ${r.registered} endpoint(s), ${r.removed.length} stale removed`);
        // the gate covers attaches and removals, not the undo of a failed attach nor a removal
        // that stopped waiting for it: one of those meanwhile was put back or dropped by this
        // resync; resync again with what is here now (next tick)
        const ids = (l: typeof local) => l.map((e) => e.id).sort().join(' ');
        if (ids(this.engine.localEndpoints()) !== ids(local)) this.dirty ??= `${reason}; endpoints changed meanwhile`;
      });
    } catch {
      this.dirty ??= reason;
    }
  }

  /** Run kernel/store work in order; a failure is logged, the queue goes on. */
  private enqueue(what: string, fn: () => Promise<void>): void {
    this.queue = this.queue.then(fn).catch((err: Error) => this.opts.log(`cluster: ${what}: ${err.message}`));
  }

  /** All pending kernel work done (tests; daemon stop). */
  idle(): Promise<void> {
    return this.queue;
  }

  private onNetworks(c: WatchChange<ClusterNetworkRecord>): void {
    if (c.type === 'snapshot') {
      this.networks.clear();
      for (const n of c.items) this.networks.set(n.id, n);
      this.enqueue('networks', async () => {
        for (const n of c.items) await this.mirror(n);
        // mirrors of networks removed while this daemon was away
        for (const local of this.engine.listNetworks()) {
          if (isClusterNetwork(local) && !this.networks.has(local.id)) await this.engine.forget(local.id);
        }
        await this.stopMeshIfUnused();
      });
    } else if (c.type === 'put') {
      this.networks.set(c.item.id, c.item);
      this.enqueue(`network ${c.item.name}`, () => this.mirror(c.item));
    } else {
      this.networks.delete(c.item.id);
      this.enqueue(`network ${c.item.name} removed`, async () => {
        if (!(await this.engine.forget(c.item.id))) {
          this.opts.log(`cluster: network ${c.item.name} was removed from the cluster; kept here until its local endpoints are released`);
        }
        await this.stopMeshIfUnused();
      });
    }
  }

  /** No encrypted network in the cluster nor here: the WireGuard device goes, peers drop this host. */
  private async stopMeshIfUnused(): Promise<void> {
    if (!this.mesh.current()) return;
    if ([...this.networks.values()].some((n) => isEncrypted(n))) return;
    if (this.engine.listNetworks().some((n) => isClusterNetwork(n) && isEncrypted(n))) return;
    await this.mesh.stop({ unpublish: true });
  }

  private async mirror(n: ClusterNetworkRecord): Promise<void> {
    try {
      await this.engine.mirror(n);
      if (this.unmirrored.delete(n.id)) await this.programNetwork(n.id);
    } catch (err) {
      if (!this.unmirrored.has(n.id)) this.opts.log(`cluster: network ${n.name}: ${(err as Error).message} (retrying every ${RESYNC_MS} ms)`);
      this.unmirrored.add(n.id);
    }
  }

  /** Mirror again the networks whose mirror failed and are still in the cluster. */
  private async retryMirrors(): Promise<void> {
    for (const id of [...this.unmirrored]) {
      const n = this.networks.get(id);
      if (!n) this.unmirrored.delete(id);
      else await this.mirror(n);
    }
  }

  /** A network's device got made late: its remote endpoints programmed now. */
  private async programNetwork(networkId: string): Promise<void> {
    if (!this.hasDevice(networkId)) return;
    await syncRemoteEndpoints(this.engine.hostNetns, networkId, this.remoteEndpoints(networkId).map(remoteOf));
  }

  private hasDevice(networkId: string): boolean {
    // per remote endpoint on every host: one row, where listing decoded every network
    return this.networks.has(networkId) && this.engine.hasNetwork(networkId);
  }

  private onEndpoints(c: WatchChange<ClusterEndpointRecord>): void {
    if (c.type === 'snapshot') {
      this.remotes.clear();
      this.remotesByContainer.clear();
      for (const e of c.items) if (e.hostId !== this.hostId) this.setRemote(e);
      this.dnsDirty = undefined;
      this.enqueue('endpoints', async () => {
        for (const networkId of this.networks.keys()) {
          if (!this.hasDevice(networkId)) continue;
          await syncRemoteEndpoints(this.engine.hostNetns, networkId, this.remoteEndpoints(networkId).map(remoteOf));
        }
      });
    } else if (c.type === 'put') {
      const e = c.item;
      if (e.hostId === this.hostId) return;
      const prev = this.remotes.get(e.id);
      if (prev) this.deleteRemote(prev);
      this.setRemote(e);
      this.dnsDirty?.add(e.containerId);
      if (prev) this.dnsDirty?.add(prev.containerId);
      // wall-clock stamps: bench/scale lines them up with other hosts' and the prober's
      if (tracing) trace(`cluster: endpoint ${e.containerName} received at ${Date.now()}`);
      this.enqueue(`endpoint ${e.containerName}`, async () => {
        if (tracing) trace(`cluster: endpoint ${e.containerName} dequeued at ${Date.now()}`);
        if (!this.hasDevice(e.networkId)) return; // programmed when the network is made (ensureOverlayKernel)
        if (prev && (prev.mac !== e.mac || prev.vtep !== e.vtep)) await removeRemoteEndpoint(this.engine.hostNetns, e.networkId, remoteOf(prev));
        if (this.usable(e)) await addRemoteEndpoint(this.engine.hostNetns, e.networkId, remoteOf(e));
        if (tracing) trace(`cluster: endpoint ${e.containerName} programmed at ${Date.now()}`);
      });
    } else {
      const e = c.item;
      const known = this.remotes.get(e.id);
      if (e.hostId === this.hostId || !known) return;
      this.deleteRemote(known);
      this.dnsDirty?.add(e.containerId);
      this.enqueue(`endpoint ${e.containerName} removed`, async () => {
        if (!this.hasDevice(e.networkId)) return;
        await removeRemoteEndpoint(this.engine.hostNetns, e.networkId, remoteOf(e));
        // another endpoint may now hold the same MAC or address (addresses are reused): put it back
        const gone = remoteOf(e);
        for (const other of this.remoteEndpoints(e.networkId)) {
          const o = remoteOf(other);
          if (o.mac === gone.mac || o.addresses.some((a) => gone.addresses.includes(a))) await addRemoteEndpoint(this.engine.hostNetns, e.networkId, o);
        }
      });
    }
    this.scheduleDns();
  }

  /**
   * The DNS records follow in the kernel-work queue, after the entries queued so far: a peer's
   * FDB and neighbour entries are not held up by a rebuild of the DNS table (one per event
   * before), and a burst of events (a snapshot, many attaches) is one publication.
   */
  private scheduleDns(): void {
    if (!this.opts.onRemoteRecords || this.dnsPending) return;
    this.dnsPending = true;
    this.enqueue('DNS records', () => {
      this.dnsPending = false;
      this.publishDns();
      return Promise.resolve();
    });
  }

  private setRemote(e: ClusterEndpointRecord): void {
    this.remotes.set(e.id, e);
    let ids = this.remotesByContainer.get(e.containerId);
    if (!ids) this.remotesByContainer.set(e.containerId, (ids = new Set()));
    ids.add(e.id);
  }

  private deleteRemote(e: ClusterEndpointRecord): void {
    this.remotes.delete(e.id);
    const ids = this.remotesByContainer.get(e.containerId);
    ids?.delete(e.id);
    if (ids?.size === 0) this.remotesByContainer.delete(e.containerId);
  }

  /**
   * Only the records of the containers that changed (issue 17: each event rebuilt all 1,000
   * records here, and the whole DNS table from the store in the daemon, on every host); all of
   * them after a snapshot. A changed container with no endpoint left goes with none.
   */
  private publishDns(): void {
    if (!this.opts.onRemoteRecords || this.closed) return;
    const dirty = this.dnsDirty;
    this.dnsDirty = new Set();
    type RemoteRecord = { id: string; name: string; endpoints: DnsContainerRecord['endpoints'][number][] };
    const byContainer = new Map<string, RemoteRecord>();
    for (const id of dirty ?? []) byContainer.set(id, { id, name: '', endpoints: [] });
    const changed = dirty ? [...dirty].flatMap((id) => [...(this.remotesByContainer.get(id) ?? [])].map((k) => this.remotes.get(k))) : [...this.remotes.values()];
    for (const e of changed) {
      if (!e) continue;
      let r = byContainer.get(e.containerId);
      if (!r) byContainer.set(e.containerId, (r = { id: e.containerId, name: e.containerName, endpoints: [] }));
      r.name = e.containerName;
      r.endpoints.push({ networkId: e.networkId, ipv4: e.ipv4 ?? undefined, ipv6: e.ipv6 ?? undefined, aliases: e.aliases });
    }
    this.opts.onRemoteRecords([...byContainer.values()], dirty === undefined);
  }

  /** Leave: watches and the lease keepalive stop; this host's records expire after the lease TTL. */
  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.resyncTimer);
    this.liveness.close();
    for (const w of this.watches.splice(0)) await w.cancel();
    await this.queue;
    // encrypted traffic stops with the daemon (the VXLAN devices stay, unable to send: fail closed)
    await this.mesh.stop({ unpublish: false }).catch((err: Error) => this.opts.log(`cluster: WireGuard: ${err.message}`));
    await this.cs?.close().catch(() => undefined);
    this.cs = undefined;
    if (this.engine.cluster === this) this.engine.cluster = undefined;
  }
}

/** The subnets of this host's networks (local ones and cluster mirrors): the tunnel subnet must stay clear of them. */
function networksOf(engine: OverlayAgentHost): { name: string; subnets: string[] }[] {
  return engine.listNetworks().map((n) => ({ name: n.name, subnets: n.subnets.map((s) => s.subnet) }));
}
