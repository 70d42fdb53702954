// What the overlay agent (agent.ts) needs from the engine that builds it, and its options.
import type { DnsContainerRecord } from '../../dns/index.js';
import type { NetnsTarget } from '../../kernel/netns.js';
import type { NetworkRecord } from '../../store/store.js';
import type { OverlayCluster } from './cluster.js';
import type { ClusterNetworkRecord, ClusterStore } from '../../store/cluster.js';

/** What the agent needs from the engine, which builds it (engine/overlay-agent.ts). */
export interface OverlayAgentHost {
  readonly hostNetns: NetnsTarget | null;
  readonly paths: { readonly root: string; readonly run: string };
  /** the engine's cluster slot: the agent puts itself there, and takes itself out at close */
  cluster: OverlayCluster | undefined;
  /** this host's networks (local records, cluster mirrors included) */
  listNetworks(): NetworkRecord[];
  /** whether this host holds the network (its record, by id): one row, not every network decoded */
  hasNetwork(networkId: string): boolean;
  /** a cluster network made present here: local mirror and kernel objects */
  mirror(n: ClusterNetworkRecord): Promise<unknown>;
  /** a cluster network gone: false while local endpoints keep it */
  forget(networkId: string): Promise<boolean>;
  /** this host's endpoints on cluster networks, as resync() takes them */
  localEndpoints(): Parameters<ClusterStore['resync']>[0];
  /** the local copy of the cluster's tunnel subnet, undefined before the first join */
  tunnelSubnet(): string | undefined;
  /** keep the cluster's tunnel subnet locally and re-render the firewall's guard for it (one atomic batch) */
  setTunnelSubnet(subnet: string): void;
}

export interface OverlayAgentOptions {
  /** etcd members, `H:P` (etcd:// accepted) */
  endpoints: string[];
  advertiseAddress: string;
  leaseTtlSeconds?: number;
  /** how long after a host's lease expired its addresses are released for reuse (default 300 s) */
  reclaimAfterSeconds?: number;
  log: (line: string) => void;
  /**
   * remote endpoints changed: the DNS records of other hosts' containers, all of them (full) or
   * only those that changed since the last call (a record without endpoints: the container is gone)
   */
  onRemoteRecords?: (records: DnsContainerRecord[], full: boolean) => void;
  /** WireGuard listen port of encrypted overlays (default 51820) */
  wireguardPort?: number;
  /** --tunnel-subnet, checked (parseTunnelSubnet): the cluster's must be this one (written by the first daemon to join) */
  tunnelSubnet?: string;
}
