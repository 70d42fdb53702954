// The cluster store: cluster-scope state of overlay networks in etcd (DESIGN.md, Layers: store/).
// One ClusterStore per host daemon. It holds:
//   - overlay network definitions, unique by name and by VNI (from 4096 up);
//   - their IPAM, one key per address claimed by compare-and-swap, so no address is handed out
//     twice across hosts;
//   - this host's record and its endpoint records, all under one lease of this host: when the
//     daemon dies they expire after the lease TTL, and every other host's watch sees them go.
// ClusterStore is the façade; each aggregate lives in its own module over one ClusterSession:
// the etcd session and lease (cluster-session.ts), hosts and tunnel addresses (cluster-hosts.ts),
// networks and VNIs (cluster-networks.ts), addresses (cluster-addresses.ts), endpoints
// (cluster-endpoints.ts) and resync (cluster-resync.ts). Key layout: cluster-keys.ts. Timeouts
// and the "unreachable" error: cluster-etcd.ts. Watches: cluster-watch.ts.
//
// Lease loss: if the lease expires while the daemon lives (etcd unreachable for longer than the
// TTL) the store takes a new lease and re-registers the host and the endpoints it registered,
// retrying until etcd answers; onSessionEvent reports it. After a daemon restart (new process,
// new store) the caller passes its local endpoints to resync().
import type { AddressRequest } from './cluster-alloc.js';
import { ClusterAddresses } from './cluster-addresses.js';
import { ClusterEndpoints } from './cluster-endpoints.js';
import { ClusterHosts } from './cluster-hosts.js';
import type { ClusterKeys } from './cluster-keys.js';
import { ClusterNetworks } from './cluster-networks.js';
import type {
  ClusterAllocation,
  ClusterEndpointRecord,
  ClusterHostRecord,
  ClusterNetworkRecord,
  HostRegistration,
  NewClusterEndpoint,
  NewClusterNetwork,
} from './cluster-records.js';
import { type ReclaimReport, hostsWithoutLease, reclaimDeadHosts } from './cluster-reclaim.js';
import { type ResyncReport, resyncEndpoints } from './cluster-resync.js';
import { type ClusterStoreOptions, ClusterSession } from './cluster-session.js';
import type { ClusterWatch, WatchChange, WatchOptions } from './cluster-watch.js';

export { ClusterUnreachableError } from './cluster-etcd.js';
export type { AddressRequest } from './cluster-alloc.js';
export type * from './cluster-records.js';
export type { ReclaimReport } from './cluster-reclaim.js';
export type { ResyncReport } from './cluster-resync.js';
export type { ClusterStoreOptions, MissingNetwork, SessionEvent } from './cluster-session.js';
export type { ClusterWatch, WatchChange, WatchOptions } from './cluster-watch.js';

export class ClusterStore {
  readonly keys: ClusterKeys;
  readonly hostId: string;
  readonly leaseTtlSeconds: number;
  /** Compare-and-swap attempts lost to other hosts (allocation, network create): contention. */
  readonly stats: { casConflicts: number };
  /** `H:P` of every member, as given: named in ClusterUnreachableError. */
  readonly endpoints: readonly string[];
  private readonly hosts: ClusterHosts;
  private readonly networks: ClusterNetworks;
  private readonly addresses: ClusterAddresses;
  private readonly endpointRecords: ClusterEndpoints;

  private constructor(private readonly session: ClusterSession) {
    this.keys = session.keys;
    this.hostId = session.hostId;
    this.leaseTtlSeconds = session.leaseTtlSeconds;
    this.stats = session.stats;
    this.endpoints = session.endpoints;
    this.hosts = new ClusterHosts(session);
    this.networks = new ClusterNetworks(session);
    this.addresses = new ClusterAddresses(session, this.networks);
    this.endpointRecords = new ClusterEndpoints(session, this.addresses);
  }

  /**
   * Connect to etcd and take this host's lease. Fails with ClusterUnreachableError when no member
   * answers within operationTimeoutMs; with UserError on bad endpoints or options.
   */
  static async connect(endpoints: readonly string[], opts: ClusterStoreOptions): Promise<ClusterStore> {
    return new ClusterStore(await ClusterSession.open(endpoints, opts));
  }

  // ---- hosts ------------------------------------------------------------------------------------

  /** Publish (or update) this host's record under its lease: VTEP, WireGuard key and endpoint. */
  registerHost(registration: HostRegistration): Promise<ClusterHostRecord> {
    return this.hosts.register(registration);
  }

  listHosts(): Promise<ClusterHostRecord[]> {
    return this.hosts.list();
  }

  getHost(hostId: string): Promise<ClusterHostRecord | undefined> {
    return this.hosts.get(hostId);
  }

  /**
   * The cluster's WireGuard tunnel subnet: written as `wanted` by the first host to ask, returned
   * as written to every later one (which refuses to join on a mismatch it was told explicitly).
   */
  tunnelSubnet(wanted: string): Promise<string> {
    return this.hosts.tunnelSubnet(wanted);
  }

  /**
   * Change the cluster's tunnel subnet, refused (refuse throws) while a network is against it,
   * e.g. an encrypted overlay; safe against concurrent network creates (cluster-networks.ts).
   */
  changeTunnelSubnet(from: string, to: string, refuse: (networks: readonly ClusterNetworkRecord[]) => void): Promise<void> {
    return this.networks.changeTunnelSubnet(from, to, refuse);
  }

  /** The cluster's tunnel subnet as written, undefined before the first daemon joined; follows changes. */
  watchTunnelSubnet(onChange: (c: WatchChange<string>) => void, opts: WatchOptions = {}): Promise<ClusterWatch<string>> {
    return this.session.watch(this.keys.configPrefix(), onChange, opts);
  }

  /**
   * This host's address in the WireGuard tunnel subnet: the one it holds already, else
   * `preferred` if free, else the lowest free one. Not leased (see cluster-hosts.ts).
   */
  claimTunnelAddress(subnet: string, preferred?: string): Promise<string> {
    return this.hosts.claimTunnelAddress(subnet, preferred);
  }

  // ---- networks ---------------------------------------------------------------------------------

  /**
   * Create an overlay network for the whole cluster. ConflictError when the name or the requested
   * VNI is taken, or a subnet overlaps another overlay network's; safe against concurrent creates.
   */
  createNetwork(network: NewClusterNetwork, opts: { tunnelSubnet?: string } = {}): Promise<ClusterNetworkRecord> {
    return this.networks.create(network, opts);
  }

  listNetworks(): Promise<ClusterNetworkRecord[]> {
    return this.networks.list();
  }

  /** By exact id, exact name, then unique id prefix (as Docker resolves). */
  findNetwork(ref: string): Promise<ClusterNetworkRecord | undefined> {
    return this.networks.find(ref);
  }

  getNetwork(ref: string): Promise<ClusterNetworkRecord> {
    return this.networks.get(ref);
  }

  /** Remove a network and its IPAM. False when it was already gone; ConflictError while it has endpoints. */
  removeNetwork(ref: string): Promise<boolean> {
    return this.networks.remove(ref);
  }

  /** VNIs in use, from the VNI index. */
  listVnis(): Promise<Map<number, string>> {
    return this.networks.listVnis();
  }

  // ---- IPAM -------------------------------------------------------------------------------------

  /**
   * Claim an address of the network for `owner` (an endpoint id): the lowest free one, or
   * `request.address` if free. Idempotent per owner, so a retry after a timeout never leaks one.
   */
  allocateAddress(networkId: string, owner: string, request: AddressRequest = {}): Promise<string> {
    return this.addresses.allocate(networkId, owner, request);
  }

  /** Release an address. With owner, only if owner holds it. False when it was not held (by owner). */
  releaseAddress(networkId: string, address: string, owner?: string): Promise<boolean> {
    return this.addresses.release(networkId, address, owner);
  }

  listAllocations(networkId: string): Promise<ClusterAllocation[]> {
    return this.addresses.list(networkId);
  }

  /**
   * Release the addresses of hosts whose lease expired (no host record), or of `hostId` only;
   * safe against a host re-registering meanwhile (see cluster-reclaim.ts).
   */
  reclaimDeadHosts(hostId?: string): Promise<ReclaimReport> {
    return reclaimDeadHosts(this.session, hostId);
  }

  /** Hosts that hold addresses but whose lease expired (no host record). */
  hostsWithoutLease(): Promise<string[]> {
    return hostsWithoutLease(this.session);
  }

  // ---- endpoints --------------------------------------------------------------------------------

  /**
   * Publish an endpoint of this host under the host's lease. Its addresses must be allocated to
   * the endpoint (owner = endpoint id) and its network must exist: both checked in the write.
   */
  putEndpoint(endpoint: NewClusterEndpoint): Promise<ClusterEndpointRecord> {
    return this.endpointRecords.put(endpoint);
  }

  /**
   * Claim an endpoint's addresses (one per request: a subnet, or an address) and publish its
   * record built from them, in one transaction under the host's lease (one revision per attach).
   */
  claimAndPutEndpoint(
    networkId: string,
    endpointId: string,
    requests: readonly AddressRequest[],
    recordOf: (addresses: string[]) => NewClusterEndpoint,
  ): Promise<ClusterEndpointRecord> {
    return this.endpointRecords.claimAndPut(networkId, endpointId, requests, recordOf);
  }

  /** Remove an endpoint record of this host; with release (default) also free its addresses. */
  removeEndpoint(networkId: string, endpointId: string, opts: { release?: boolean } = {}): Promise<boolean> {
    return this.endpointRecords.remove(networkId, endpointId, opts);
  }

  listEndpoints(filter: { networkId?: string; hostId?: string } = {}): Promise<ClusterEndpointRecord[]> {
    return this.endpointRecords.list(filter);
  }

  /**
   * Make etcd match this host's local endpoints (after a daemon restart, or whenever the driver
   * reconciles): claim their addresses if unclaimed, put their records under the current lease,
   * and remove this host's records (and release their addresses) that are not in the list.
   * Needs registerHost() first.
   */
  resync(local: readonly NewClusterEndpoint[]): Promise<ResyncReport> {
    return resyncEndpoints(this.session, local);
  }

  // ---- watches ----------------------------------------------------------------------------------

  /**
   * Endpoint records of one network (or of all with 'all'): a snapshot first, then every put and
   * delete, including deletes by lease expiry of a dead host. See cluster-watch.ts for reconnects.
   */
  watchEndpoints(
    /** A network id, or 'all'. */
    network: string,
    onChange: (c: WatchChange<ClusterEndpointRecord>) => void,
    opts: WatchOptions = {},
  ): Promise<ClusterWatch<ClusterEndpointRecord>> {
    return this.session.watch(this.keys.endpointsPrefix(network === 'all' ? undefined : network), onChange, opts);
  }

  watchHosts(onChange: (c: WatchChange<ClusterHostRecord>) => void, opts: WatchOptions = {}): Promise<ClusterWatch<ClusterHostRecord>> {
    return this.session.watch(this.keys.hostsPrefix(), onChange, opts);
  }

  watchNetworks(onChange: (c: WatchChange<ClusterNetworkRecord>) => void, opts: WatchOptions = {}): Promise<ClusterWatch<ClusterNetworkRecord>> {
    return this.session.watch(this.keys.networksPrefix(), onChange, opts);
  }

  /**
   * Stop watches and the lease keepalive, close the connection. By default the lease is left to
   * expire (records vanish after the TTL, as when the daemon dies); revoke: true removes this
   * host's records at once (a clean leave), if etcd answers.
   */
  close(opts: { revoke?: boolean } = {}): Promise<void> {
    return this.session.close(opts);
  }
}
