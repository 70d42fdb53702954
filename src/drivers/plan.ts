// What differs per driver when the engine creates a network or plugs an endpoint: the driver
// checks the host and the options its own way and answers with a plan; the engine keeps the one
// generic path (reserve in the store, apply through the driver, commit, undo on failure).
import type { SubnetConfig } from '../ipam/index.js';
import type { NetworkRecord } from '../store/store.js';
import type { DriverContext, ParentRequest } from './driver.js';

/** A `network create` as the engine hands it to the driver, after the generic checks. */
export interface NetworkPlanRequest {
  /** the new network's id (kernel names derive from it) */
  id: string;
  name: string;
  /** `-o KEY=VALUE` as given */
  options: Record<string, string>;
  internal: boolean;
  ipv6: boolean;
  /** --subnet/--gateway/--ip-range/--aux-address, paired and checked */
  subnets: readonly SubnetConfig[];
  /** the networks in this host's store */
  networks: readonly NetworkRecord[];
  /** interface names the store gives berth's networks (berth0, br-…), also those not in the kernel yet */
  berthInterfaceNames: readonly string[];
  /** why another network's use of a host NIC keeps `request` from taking it, as an error to throw */
  parentConflict(request: ParentRequest): Error | undefined;
}

/** What a network of this driver will be: checked against the host, nothing changed yet. */
export interface NetworkPlan<Options = unknown> {
  /** the Docker-shaped options stored on the record (what inspect shows), aliases resolved */
  options: Record<string, string>;
  /** the same, typed and checked: what the driver acts on */
  typed: Options;
  interfaceName: string | null;
  internal: boolean;
  /** the host NIC whose LAN the network sits on by design: its subnets may overlap the host's, not its address */
  onLan?: string;
  /** automatic subnets avoid the host's routes and addresses (false: the network is on a parent's LAN) */
  autoSubnetsAvoidHost: boolean;
  /** scope swarm: the VXLAN id the user chose, if any (the cluster store picks one otherwise) */
  vni?: number;
  /** host-wide setup the network needs before it is recorded anywhere, once every check passed (an encrypted overlay's WireGuard) */
  prepareHost?: () => Promise<void>;
  /**
   * The driver's state stored with the record, made inside the creating store transaction;
   * reserve takes a host address from the network's IPAM (the macvlan host shim).
   */
  initialState?: (net: NetworkRecord, reserve: (subnet: string, owner: string) => string) => Record<string, unknown> | undefined;
  /** kernel work done once, at creation, before ensureNetwork; returns state to record (a NAT-free bridge's parent) */
  adopt?: (ctx: DriverContext, net: NetworkRecord) => Promise<Record<string, unknown> | undefined>;
}

/** An endpoint as the engine hands it to the driver before anything is reserved. */
export interface EndpointPlanRequest {
  /** --mac-address */
  mac?: string;
  /** how many ports the user asked to publish */
  publish: number;
}

/** How an endpoint of this network is reserved. */
export interface EndpointPlan {
  /** published ports go on this endpoint (false: on the gateway leg, or nowhere) */
  publishes: boolean;
  /** the host address of `-p` without one (the bridge's host_binding_ipv4) */
  defaultHostIp?: string;
  /** told the user when ports are asked for but go nowhere (undefined: dropped silently, as Docker on an internal network) */
  portsDiscarded?: string;
  /** at most one endpoint at a time: the refusal, naming the container that holds it */
  exclusive?: (holder: string) => string;
  /** the endpoint's MAC from its reserved addresses (`ip/prefix`); null: the kernel picks */
  macOf: (addresses: readonly string[]) => string | null;
  /** egress and published ports through a second endpoint on the host's gateway bridge (Docker's docker_gwbridge) */
  gatewayLeg: boolean;
}
