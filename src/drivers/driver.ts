// The one interface every network driver implements (DESIGN.md, Layers: drivers/<name>/), and
// the context each call gets. A driver knows what its network type means in kernel terms; the
// engine keeps the use cases (store, IPAM, undo) and reaches a driver only through the registry
// (drivers/registry.ts), never by its name.
import type { LinkInfo } from '../kernel/links.js';
import type { AddressInfo } from '../kernel/addresses.js';
import type { NetnsTarget } from '../kernel/netns.js';
import type { EndpointRecord, NetworkRecord, NetworkScope } from '../store/store.js';
import type { BridgeFirewall, PublishedPort } from './bridge/firewall.js';
import type { PortGuard } from './bridge/spoof-guard.js';
import type { OverlaySpec, RemoteEndpoint } from './overlay/overlay.js';
import type { EndpointPlan, EndpointPlanRequest, NetworkPlan, NetworkPlanRequest } from './plan.js';

export type { EndpointPlan, EndpointPlanRequest, NetworkPlan, NetworkPlanRequest } from './plan.js';

/** IFLA_IFALIAS prefixes that mark berth's links (bridge of a network, host side of an endpoint). */
export const NETWORK_ALIAS_PREFIX = 'berth:network:';
export const ENDPOINT_ALIAS_PREFIX = 'berth:endpoint:';

/**
 * The kernel handles one driver call acts through, as netavark's DriverInfo: the host's network
 * namespace (null: the one berth runs in, where the firewall tables live too).
 */
export interface DriverContext {
  readonly hostNetns: NetnsTarget | null;
  /** the cluster's WireGuard tunnel subnet as this host's store holds it: berth's firewall guards it */
  readonly tunnelSubnet: string;
  /** berth's nft tables were found current (or put back) by the engine just before this call: ensureNetwork need not list them again */
  readonly firewallChecked?: boolean;
  /** set when the daemon is joined to a cluster: what overlay networks need from it */
  readonly cluster?: ClusterHandle;
}

/** The cluster as the overlay driver sees it (the engine builds it from the daemon's agent). */
export interface ClusterHandle {
  /** an overlay network's kernel spec on this host (VTEP, MTU from the underlay) */
  overlaySpecOf(net: NetworkRecord): OverlaySpec;
  /** the MTU of the network's devices and endpoints on this host */
  overlayMtuOf(net: NetworkRecord): number;
  /** the network's endpoints on other hosts, as last seen */
  remoteEndpointsOf(networkId: string): RemoteEndpoint[];
  /** this host's WireGuard device up (for `-o encrypted`); idempotent */
  ensureEncryption(): Promise<unknown>;
}

/** What the host looked like when `system check` started (one netlink dump for every network). */
export interface HostView {
  links: readonly LinkInfo[];
  addresses: readonly AddressInfo[];
}

/** A difference between the store and the kernel; with action, `system check --repair` fixes it by re-ensuring the network. */
export interface NetworkProblem {
  problem: string;
  action?: string;
}

/** Who asks for a host NIC as its parent (a macvlan network, or a NAT-free bridge that takes it whole). */
export type ParentRequest =
  | { kind: 'nat-free-bridge'; parent: string }
  | { kind: 'macvlan'; parent: string; passthru: boolean };

/** The engine's undo log as a driver sees it: each step pushes what takes it back. */
export interface UndoLog {
  push(step: () => Promise<void> | void): void;
}

/** Where an endpoint (reserved in the store: addresses, MAC) goes, and what comes with it. */
export interface EndpointPlug {
  /** the sandbox's network namespace */
  netns: string;
  /** the MAC the user asked for (--mac-address), if any: a passthru macvlan child otherwise keeps its parent's */
  requestedMac?: string;
  /** its published ports, as reserved in the store */
  ports: readonly PublishedPort[];
  /**
   * The runtime moves the sandbox end into its sandbox itself (Docker's remote driver Join): the
   * driver leaves it in the host namespace, named as the endpoint, down and unconfigured; netns is unused.
   * A driver that cannot do this refuses.
   */
  handOver?: boolean;
}

export interface EndpointUnplug {
  /** the sandbox's network namespace ('' when it is deleted next) */
  netns: string;
  /** the caller deletes the sandbox's namespace right after, and nothing else holds it */
  sandboxGoing: boolean;
  ports: readonly PublishedPort[];
}

/** How an endpoint shows on the host (for topology): a veth's host end, or a macvlan child of the parent. */
export interface EndpointLink {
  kind: 'veth' | 'macvlan';
  /** the host interface the endpoint's edge goes to */
  hostIfname: string;
}

export interface NetworkDriver<Options = unknown> extends NetworkDriverChecks {
  readonly name: string;
  /** local: the host's store holds the network and its addresses; swarm: the cluster store does */
  readonly scope: NetworkScope;
  /** its networks have a bridge with elements in berth's nft table */
  readonly usesFirewall: boolean;
  /** `-o KEY=VALUE` as given, into the options stored on the record (aliases resolved); refuses unknown keys */
  canonicalOptions(raw: Record<string, string>): Record<string, string>;
  /** the record's options, typed: parsed once per record read (they were checked at creation) */
  optionsOf(net: Pick<NetworkRecord, 'options' | 'internal'>): Options;

  /** `network create`: options typed once and the host checked (parent NIC, names); changes nothing */
  planNetwork(ctx: DriverContext, req: NetworkPlanRequest): Promise<NetworkPlan<Options>>;
  /** what plugging an endpoint into net reserves, and how */
  planEndpoint(ctx: DriverContext, net: NetworkRecord, req: EndpointPlanRequest): Promise<EndpointPlan>;

  /** Make the kernel match the record. Idempotent. */
  ensureNetwork(ctx: DriverContext, net: NetworkRecord): Promise<void>;
  /** Remove what ensureNetwork made. Idempotent. */
  removeNetwork(ctx: DriverContext, net: NetworkRecord): Promise<void>;

  /** Plug an endpoint into its sandbox; every step pushes its undo, so the caller can roll back. */
  attachEndpoint(ctx: DriverContext, net: NetworkRecord, ep: EndpointRecord, plug: EndpointPlug, undo: UndoLog): Promise<void>;
  /**
   * Unplug an endpoint (its ports, guard and link). Idempotent. Returns the host end of a veth
   * left to the sandbox namespace's deletion (see EndpointUnplug.sandboxGoing).
   */
  detachEndpoint(ctx: DriverContext, net: NetworkRecord, ep: EndpointRecord, unplug: EndpointUnplug): Promise<string | undefined>;

  /** the network's elements in berth's nft table, or undefined without a bridge */
  firewallOf(net: NetworkRecord): BridgeFirewall | undefined;
  /** published ports of its endpoints are routed, not NATed */
  routedPorts(net: NetworkRecord): boolean;
  /** what an endpoint may send from (anti-spoofing), or undefined when it is not guarded */
  portGuardOf(net: NetworkRecord, ep: EndpointRecord): PortGuard | undefined;
  /** whether an endpoint on the network may carry the container's default route of that family */
  mayCarryDefaultRoute(net: NetworkRecord, v6: boolean): boolean;
  /** where the embedded DNS listens for the network (what containers' resolv.conf names) */
  dnsAddressesOf(net: NetworkRecord): string[];
  /** the host NIC the network takes as its parent, if any */
  parentOf(net: NetworkRecord): string | undefined;
  /** why `request` cannot take a parent this network (`net`) already uses, or undefined */
  parentConflict(net: NetworkRecord, request: ParentRequest): string | undefined;

  /** the host interface topology draws the network on (its bridge, or its parent) */
  hostInterfaceOf(net: NetworkRecord): string;
  endpointLinkOf(net: NetworkRecord, ep: EndpointRecord): EndpointLink;

  /** `system check`: what is wrong with the network's kernel objects, or undefined */
  networkProblem(ctx: DriverContext, net: NetworkRecord, host: HostView): Promise<NetworkProblem | undefined>;
}

/** `system check` of one endpoint of a running container; repair, when given, is what --repair runs. */
export interface EndpointProblem {
  problem: string;
  action?: string;
  repair?: () => Promise<void>;
}

export interface EndpointCheck {
  /** the container's sandbox namespace */
  sandboxNetns: string;
  /** the host's links now (after any network repair) */
  links: ReadonlyMap<string, LinkInfo>;
}

export interface NetworkDriverChecks {
  /** `system check`: what is wrong with an endpoint of a running container, or undefined */
  endpointProblem(ctx: DriverContext, net: NetworkRecord, ep: EndpointRecord, check: EndpointCheck): Promise<EndpointProblem | undefined>;
}
