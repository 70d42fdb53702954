// Durable state behind one interface (DESIGN.md, Layers): SQLite for a host, etcd later for
// cluster-scope data. Methods are synchronous; every method that reserves something is atomic
// across processes. Records hold canonical text (addresses as ip-address prints them).
import { randomBytes } from 'node:crypto';
import type { SubnetConfig } from '../ipam/index.js';

export type NetworkScope = 'local' | 'swarm' | 'global';

export interface NetworkRecord {
  id: string;
  name: string;
  driver: string;
  scope: NetworkScope;
  /** ISO 8601 creation time. */
  created: string;
  options: Record<string, string>;
  labels: Record<string, string>;
  internal: boolean;
  attachable: boolean;
  ipv6: boolean;
  /** Bridge / interface the driver made for this network, when it has one. */
  interfaceName: string | null;
  /** IPv4 subnets first, then IPv6; normalised (canonical text, gateway filled in). */
  subnets: SubnetConfig[];
  /** driver-owned state, e.g. what a NAT-free bridge took over from its parent NIC */
  state?: Record<string, unknown>;
}

/** What createNetwork needs; id (random) and created (now) are filled in when absent. */
export type NewNetwork = Omit<NetworkRecord, 'id' | 'created'> & { id?: string; created?: string };

export interface ContainerRecord {
  id: string;
  name: string;
  created: string;
  /** What the container was asked to be (command, flags); owned by engine/. */
  config: unknown;
  /** What it is now (pid, status, exit code…); owned by engine/. */
  state: unknown;
}

export type NewContainer = Omit<ContainerRecord, 'id' | 'created'> & { id?: string; created?: string };

export interface EndpointRecord {
  id: string;
  networkId: string;
  /** A berth container id, or a CNI runtime's container id. */
  containerId: string;
  /** Name inside the sandbox (eth0…). */
  interfaceName: string;
  mac: string | null;
  /** `address/prefix`, e.g. `172.18.0.2/16`. */
  addresses: string[];
  aliases: string[];
  /** the endpoint with the highest priority holds the container's default route (ties: the first) */
  gwPriority?: number;
}

export type NewEndpoint = Omit<EndpointRecord, 'id'> & { id?: string };

export type PortProto = 'tcp' | 'udp' | 'sctp';

export interface PortRecord {
  proto: PortProto;
  /** `0.0.0.0` / `::` mean every address of that family. */
  hostIp: string;
  hostPort: number;
  containerId: string;
  endpointId: string | null;
  targetIp: string;
  targetPort: number;
}

/** A row written (migration 3's change log): a container, an endpoint (by its container's id), a network. */
export interface StoreChange {
  kind: 'container' | 'endpoint' | 'network';
  id: string;
}

export interface StoreChanges {
  /** pass this to the next changesSince */
  seq: number;
  /** in order, repeats included */
  changes: StoreChange[];
}

export interface Store {
  /** Run fn in one BEGIN IMMEDIATE transaction (a savepoint when nested); fn must be synchronous. */
  transaction<T>(fn: () => T): T;
  schemaVersion(): number;
  /** Changes whenever another connection commits: cheap change detection for the daemon. */
  dataVersion(): number;
  close(): void;
  /** The change log's newest seq: read it before reading everything, then follow with changesSince. */
  changesSeq(): number;
  /** What was written after seq; undefined when the log no longer holds all of it (read everything again). */
  changesSince(seq: number): StoreChanges | undefined;

  /** Fails with ConflictError on a taken name or a subnet overlapping another network's. Reserves gateway and aux addresses. */
  createNetwork(network: NewNetwork): NetworkRecord;
  /** By exact id, exact name, then unique id prefix (as Docker resolves). */
  findNetwork(ref: string): NetworkRecord | undefined;
  /** Like findNetwork, but NotFoundError when absent. */
  getNetwork(ref: string): NetworkRecord;
  listNetworks(): NetworkRecord[];
  /** How many networks there are, without reading (nor decoding) any: for polls. */
  countNetworks(): number;
  setNetworkInterface(id: string, interfaceName: string | null): void;
  setNetworkState(id: string, state: Record<string, unknown>): void;
  /** False when already gone; ConflictError while endpoints remain. Drops its allocations. */
  deleteNetwork(id: string): boolean;

  /** Reserve an address of the network's subnet `subnetCidr` for `owner` (endpoint id, 'gateway', 'aux:NAME'). */
  allocateAddress(networkId: string, subnetCidr: string, owner: string, request?: { static?: string }): string;
  releaseAddress(networkId: string, address: string): boolean;
  /** Release every address held by owner; returns how many. */
  releaseOwner(owner: string): number;
  listAllocations(networkId: string): { subnet: string; address: string; owner: string }[];

  createContainer(container: NewContainer): ContainerRecord;
  findContainer(ref: string): ContainerRecord | undefined;
  getContainer(ref: string): ContainerRecord;
  listContainers(): ContainerRecord[];
  updateContainerState(id: string, state: unknown): void;
  deleteContainer(id: string): boolean;

  createEndpoint(endpoint: NewEndpoint): EndpointRecord;
  getEndpoint(id: string): EndpointRecord | undefined;
  listEndpoints(filter?: { networkId?: string; containerId?: string }): EndpointRecord[];
  /** The endpoint (and its ports) now belongs to containerId; NotFoundError when absent. */
  setEndpointContainer(id: string, containerId: string): void;
  /** Also releases the endpoint's published ports and the addresses it owns. */
  deleteEndpoint(id: string): boolean;

  /** ConflictError when (proto, host ip, host port) is taken; a wildcard host ip clashes with every address of its family. */
  reservePort(port: PortRecord): PortRecord;
  releasePort(proto: PortProto, hostIp: string, hostPort: number): boolean;
  releasePorts(owner: { containerId: string } | { endpointId: string }): number;
  listPorts(filter?: { containerId?: string; endpointId?: string }): PortRecord[];

  /** A host setting (settings table), undefined when never set. */
  getSetting(key: string): string | undefined;
  setSetting(key: string, value: string): void;
}

/** A new random 64-hex id, like Docker's network, container and endpoint ids. */
export function newId(): string {
  return randomBytes(32).toString('hex');
}
