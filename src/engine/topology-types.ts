// The topology graph's shape (GET /topology, `berth topology`, the web page). Plain data, no
// Node.js types: the page's bundle imports it too.

export type TopologyNodeKind = 'host' | 'namespace' | 'bridge' | 'interface' | 'network' | 'remote-host' | 'firewall';

/** What an interface of the host is for (drawn and filtered by it). */
export type InterfaceRole = 'uplink' | 'loopback' | 'veth' | 'vxlan' | 'wireguard' | 'macvlan-shim' | 'macvlan-parent' | 'gateway-bridge' | 'nic' | 'other';

/** A difference between the store and the kernel (engine/repair.ts's finding), on the node it concerns. */
export interface TopologyDrift {
  problem: string;
  /** what `berth system check --repair` would do about it, if anything */
  repair?: string;
}

export interface TopologyNode {
  id: string;
  kind: TopologyNodeKind;
  label: string;
  /** the cluster host it is on: 'local' for this host, else the remote host's id */
  host?: string;
  /** the berth networks it belongs to (by name), for the page's filter */
  networks?: string[];
  drift?: TopologyDrift;
  data?: Record<string, unknown>;
}

export type TopologyEdgeKind = 'in' | 'port-of' | 'veth' | 'macvlan' | 'publishes' | 'attached' | 'shares' | 'shim-of' | 'remote' | 'tunnel';

export interface TopologyEdge {
  from: string;
  to: string;
  kind: TopologyEdgeKind;
  label?: string;
}

export interface TopologyGraph {
  nodes: TopologyNode[];
  edges: TopologyEdge[];
}
