// What the embedded DNS needs to know, as an interface the daemon implements over its store
// (or fills, see DnsTable in table.ts). Every method is synchronous and in memory: it runs on
// the hot path of every query.

/** Who is asking: the container behind a source address. */
export interface DnsClientInfo {
  readonly containerId: string;
  /** The networks the container is attached to: names resolve only on these. */
  readonly networkIds: readonly string[];
  /** Every network of the container is --internal: nothing is forwarded (unknown names → NXDOMAIN). */
  readonly internalOnly: boolean;
  /** Where other names go: the container's --dns servers, else the host's resolvers. `IP` or `IP:PORT`. */
  readonly upstreams: readonly string[];
}

/** The addresses a name stands for. Both empty is fine: the name exists, without addresses (NODATA). */
export interface DnsAddresses {
  readonly v4: readonly string[];
  readonly v6: readonly string[];
}

export interface DnsView {
  /** The client behind a source address (canonical text: `10.0.0.2`, `fd00::2`); undefined → REFUSED. */
  lookupClient(ip: string): DnsClientInfo | undefined;
  /**
   * A container name, a --network-alias (all containers that carry it), a full container id or
   * its 12-hex short id, among endpoints on networkIds only. The resolver passes name lower
   * case and without a trailing dot. Undefined when berth does not know the name there.
   */
  lookupName(name: string, networkIds: readonly string[]): DnsAddresses | undefined;
  /**
   * Reverse lookup (PTR): the names of the container that has ip on one of networkIds.
   * Optional: without it every PTR question is forwarded like any other unknown name.
   */
  lookupAddress?(ip: string, networkIds: readonly string[]): readonly string[] | undefined;
}
