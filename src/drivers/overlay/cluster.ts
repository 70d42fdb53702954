// The cluster as the overlay driver's agent offers it to the engine (engine.cluster), and the
// cluster's endpoint records in the kernel's terms.
import type { ClusterEndpointRecord, ClusterHostRecord, ClusterStore } from '../../store/cluster.js';
import type { EncryptionState } from './mesh.js';
import type { RemoteEndpoint } from './overlay.js';

/** What the engine needs from a daemon joined to a cluster (drivers/overlay/agent.ts). */
export interface OverlayCluster {
  readonly hostId: string;
  /** this host's VTEP address (--advertise-addr) */
  readonly vtep: string;
  /** MTU of the underlay link holding the VTEP address */
  readonly underlayMtu: number;
  /** the connected store; throws ClusterUnreachableError while etcd has not answered yet */
  store(): ClusterStore;
  /** the network's endpoints on other hosts, as last seen by the agent's watch */
  remoteEndpoints(networkId: string): ClusterEndpointRecord[];
  /** the cluster's hosts (this one too), as last seen by the agent's watch */
  hosts(): ClusterHostRecord[];
  /** a cluster write for a local change failed (etcd unreachable): resync this host's endpoints later */
  markDirty(reason: string): void;
  /**
   * Run a change of this host's endpoints that writes both the cluster and the local store
   * (attach: claim → publish → local commit; removal): never while a resync of this host's
   * records runs, which would take the half-done change for a stale record or a missing one.
   * maxWaitMs: run anyway after waiting that long (the resync then runs again).
   */
  localChange<T>(fn: () => Promise<T>, opts?: { maxWaitMs?: number }): Promise<T>;
  /**
   * `-o encrypted`: this host's WireGuard device up, its key published, peers configured from the
   * cluster. Idempotent; fails (UserError) when neither kernel WireGuard nor wireguard-go exists.
   */
  ensureEncryption(): Promise<EncryptionState>;
  /** the WireGuard state once up */
  encryption(): EncryptionState | undefined;
  /** `berth system rotate-keys`: a new key pair for this host, published; peers follow their watch */
  rotateKeys(): Promise<{ publicKey: string; previous: string }>;
  /** `berth system tunnel-subnet CIDR`: the cluster's tunnel subnet changed (refused while encrypted networks exist) */
  changeTunnelSubnet(subnet: string): Promise<{ subnet: string; previous: string }>;
}

export function remoteOf(e: ClusterEndpointRecord): RemoteEndpoint {
  return { mac: e.mac, vtep: e.vtep, addresses: [e.ipv4, e.ipv6].filter((a): a is string => a !== null) };
}
