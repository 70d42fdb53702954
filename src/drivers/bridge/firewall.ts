// berth's nftables table: one `inet berth` table whose rules never change once installed.
// Networks and published ports are elements of its sets and maps, so adding one is adding an
// element (one atomic batch) and the per-packet cost does not grow with their number.
import {
  accept, add, anonSet, chain, concat, counter, ctState, del, dnat, drop, elements, fibDaddrLocal, flush, ip, jump,
  lookup, masquerade, match, meta, notMatch, rule, setRef, table, th, tuple, cidr, ip6, PRIORITY,
  type MapEntry, type NftOp, type Statement, type Value, ct,
} from '../../kernel/nft/model.js';
import { applyNft, listNftChainComments, readNftTable } from '../../kernel/nft/apply.js';
import type { NetnsTarget } from '../../kernel/netns.js';
import { WG_IFNAME_PREFIX } from '../overlay/overlay-encryption.js';

export const BERTH_TABLE = table('inet', 'berth');
const T = BERTH_TABLE;
/** Bumped whenever the rules below change; `ensureFirewall` reinstalls on a mismatch. */
const RULESET_VERSION = 'berth:ruleset:7';

/**
 * The marker comment of the installed rules: their version and the tunnel subnet the guard rule
 * holds, so a host whose cluster tunnel subnet changed reinstalls the rules (one atomic batch:
 * the guard is never missing, nor guarding a mix of both blocks).
 */
function marker(tunnelSubnet: string): string {
  return `${RULESET_VERSION} tunnel=${tunnelSubnet}`;
}
/** VXLAN's UDP port (drivers/overlay.ts; not imported from there: overlay.ts imports this module). */
const VXLAN_PORT = 4789;

const SETS = {
  /** every berth bridge */
  bridges: 'bridges',
  /** (bridge, bridge) pairs: traffic within one network */
  intra: 'intra',
  /**
   * (subnet, bridge): DNATed traffic from a network back into it (hairpin to a published port)
   * is masqueraded. Keyed on the source address, not the in-interface: with br_netfilter such a
   * packet may be bridged, and bridged packets have no in-interface in postrouting.
   */
  hairpin4: 'hairpin4',
  hairpin6: 'hairpin6',
  /** subnets masqueraded when leaving the bridges */
  nat4: 'nat4',
  nat6: 'nat6',
  /** bridges of --internal networks: nothing in or out */
  internal: 'internal',
  /** bridges in gateway mode nat-unprotected: anything may reach container addresses */
  open: 'open',
  /** bridges in gateway mode routed: container addresses reachable, but only on published ports */
  routed: 'routed',
  /** (container address, proto, port) published on routed networks */
  routed4: 'routed4',
  routed6: 'routed6',
  /** (host ip, proto, host port) -> (container ip, port) */
  pub4: 'pub4',
  pub6: 'pub6',
  /** (proto, host port) -> (container ip, port), for ports published on every host address */
  pub4any: 'pub4any',
  pub6any: 'pub6any',
} as const;

const L4 = anonSet('tcp', 'udp', 'sctp');
const inSet = (key: 'iifname' | 'oifname', set: string) => match(meta(key), setRef(set));

function tableDefinition(tunnelSubnet: string): NftOp[] {
  const publish: Statement[][] = [
    [dnat('ip', lookup(concat(ip.daddr, meta('l4proto'), th.dport), SETS.pub4))],
    [match(meta('nfproto'), 'ipv4'), dnat('ip', lookup(concat(meta('l4proto'), th.dport), SETS.pub4any))],
    [dnat('ip6', lookup(concat(ip6.daddr, meta('l4proto'), th.dport), SETS.pub6))],
    [match(meta('nfproto'), 'ipv6'), dnat('ip6', lookup(concat(meta('l4proto'), th.dport), SETS.pub6any))],
  ];
  const chains = [
    chain(T, 'raw_prerouting', { type: 'filter', hook: 'prerouting', priority: PRIORITY.raw, policy: 'accept' }),
    chain(T, 'prerouting', { type: 'nat', hook: 'prerouting', priority: PRIORITY.dstnat, policy: 'accept' }),
    chain(T, 'output', { type: 'nat', hook: 'output', priority: PRIORITY.dstnat, policy: 'accept' }),
    chain(T, 'publish'),
    chain(T, 'forward', { type: 'filter', hook: 'forward', priority: PRIORITY.filter, policy: 'accept' }),
    chain(T, 'postrouting', { type: 'nat', hook: 'postrouting', priority: PRIORITY.srcnat, policy: 'accept' }),
    chain(T, 'encrypted_guard', { type: 'filter', hook: 'postrouting', priority: PRIORITY.filter, policy: 'accept' }),
  ];
  // Encrypted overlays fail closed (drivers/overlay-encryption.ts): VXLAN from or to a tunnel
  // address leaves through berth's WireGuard devices or not at all. Static, like every rule here.
  const guard: Statement[][] = [ip.saddr, ip.daddr].map((addr) => [
    match(meta('l4proto'), 'udp'),
    match(th.dport, VXLAN_PORT),
    match(addr, cidr(tunnelSubnet)),
    notMatch(meta('oifname'), `${WG_IFNAME_PREFIX}*`),
    counter,
    drop,
  ]);
  const forward: Statement[][] = [
    [inSet('oifname', SETS.bridges), ctState('established', 'related'), accept],
    [inSet('iifname', SETS.bridges), ctState('established', 'related'), accept],
    // within one network (with br_netfilter, bridged frames come here with in = out = the bridge)
    [match(concat(meta('iifname'), meta('oifname')), setRef(SETS.intra)), accept],
    // internal networks: nothing out, nothing in, not even through a published port
    [inSet('iifname', SETS.internal), counter, drop],
    [inSet('oifname', SETS.internal), counter, drop],
    // published ports are reachable from anywhere, other networks included (Docker's rule)
    [inSet('oifname', SETS.bridges), match(ct('status'), 'dnat'), accept],
    // networks are isolated from each other
    [inSet('iifname', SETS.bridges), inSet('oifname', SETS.bridges), counter, drop],
    [inSet('iifname', SETS.bridges), accept],
    [inSet('oifname', SETS.open), accept],
    [inSet('oifname', SETS.routed), match(concat(ip.daddr, meta('l4proto'), th.dport), setRef(SETS.routed4)), accept],
    [inSet('oifname', SETS.routed), match(concat(ip6.daddr, meta('l4proto'), th.dport), setRef(SETS.routed6)), accept],
    [inSet('oifname', SETS.routed), match(meta('l4proto'), anonSet('icmp', 'ipv6-icmp')), accept],
    // nothing else reaches a container unasked (Docker's nat mode)
    [inSet('oifname', SETS.bridges), counter, drop],
  ];
  return [
    add(T),
    add({ kind: 'set', table: T, name: SETS.bridges, type: 'ifname' }),
    add({ kind: 'set', table: T, name: SETS.intra, type: ['ifname', 'ifname'] }),
    add({ kind: 'set', table: T, name: SETS.hairpin4, type: ['ipv4_addr', 'ifname'], flags: ['interval'] }),
    add({ kind: 'set', table: T, name: SETS.hairpin6, type: ['ipv6_addr', 'ifname'], flags: ['interval'] }),
    add({ kind: 'set', table: T, name: SETS.nat4, type: 'ipv4_addr', flags: ['interval'] }),
    add({ kind: 'set', table: T, name: SETS.nat6, type: 'ipv6_addr', flags: ['interval'] }),
    add({ kind: 'set', table: T, name: SETS.internal, type: 'ifname' }),
    add({ kind: 'set', table: T, name: SETS.open, type: 'ifname' }),
    add({ kind: 'set', table: T, name: SETS.routed, type: 'ifname' }),
    add({ kind: 'set', table: T, name: SETS.routed4, type: ['ipv4_addr', 'inet_proto', 'inet_service'] }),
    add({ kind: 'set', table: T, name: SETS.routed6, type: ['ipv6_addr', 'inet_proto', 'inet_service'] }),
    add({ kind: 'map', table: T, name: SETS.pub4, type: ['ipv4_addr', 'inet_proto', 'inet_service'], data: ['ipv4_addr', 'inet_service'] }),
    add({ kind: 'map', table: T, name: SETS.pub4any, type: ['inet_proto', 'inet_service'], data: ['ipv4_addr', 'inet_service'] }),
    add({ kind: 'map', table: T, name: SETS.pub6, type: ['ipv6_addr', 'inet_proto', 'inet_service'], data: ['ipv6_addr', 'inet_service'] }),
    add({ kind: 'map', table: T, name: SETS.pub6any, type: ['inet_proto', 'inet_service'], data: ['ipv6_addr', 'inet_service'] }),
    ...chains.map(add),
    ...chains.map(flush),
    // Packets for 127/8 from anywhere but lo are forged: without this, loopback-only published
    // ports would be reachable from the LAN once DNAT rewrote them (moby/moby#45610).
    add(rule(T, 'raw_prerouting', [notMatch(meta('iifname'), 'lo'), match(ip.daddr, cidr('127.0.0.0/8')), counter, drop])),
    add(rule(T, 'prerouting', [fibDaddrLocal, match(meta('l4proto'), L4), jump('publish')])),
    // The host's own connections to loopback are not DNATed (that needs route_localnet, which
    // fails open without this table): berth-init's relay listens there (engine/port-relay.ts).
    add(rule(T, 'output', [match(ip.daddr, cidr('127.0.0.0/8')), accept])),
    add(rule(T, 'output', [match(ip6.daddr, '::1'), accept])),
    add(rule(T, 'output', [fibDaddrLocal, match(meta('l4proto'), L4), jump('publish')])),
    ...publish.map((st) => add(rule(T, 'publish', st))),
    ...forward.map((st, i) => add(rule(T, 'forward', st, i === 0 ? marker(tunnelSubnet) : undefined))),
    add(rule(T, 'postrouting', [match(ct('status'), 'dnat'), match(concat(ip.saddr, meta('oifname')), setRef(SETS.hairpin4)), masquerade])),
    add(rule(T, 'postrouting', [match(ct('status'), 'dnat'), match(concat(ip6.saddr, meta('oifname')), setRef(SETS.hairpin6)), masquerade])),
    add(rule(T, 'postrouting', [match(ip.saddr, setRef(SETS.nat4)), notMatch(meta('oifname'), setRef(SETS.bridges)), masquerade])),
    add(rule(T, 'postrouting', [match(ip6.saddr, setRef(SETS.nat6)), notMatch(meta('oifname'), setRef(SETS.bridges)), masquerade])),
    ...guard.map((st) => add(rule(T, 'encrypted_guard', st))),
  ];
}

/**
 * Install berth's table in netns unless the current version, guarding this tunnel subnet (the
 * host's copy of the cluster's), is already there.
 */
export function ensureFirewall(netns: NetnsTarget | null, tunnelSubnet: string): void {
  if (listNftChainComments(T, 'forward', { netns })?.includes(marker(tunnelSubnet))) return;
  applyNft(tableDefinition(tunnelSubnet), { netns });
}

/** Remove berth's table entirely (idempotent). */
export function removeFirewall(netns: NetnsTarget | null): void {
  applyNft([del(T, { ifExists: true })], { netns });
}

export type GatewayMode = 'nat' | 'nat-unprotected' | 'routed' | 'isolated';

export interface BridgeFirewall {
  bridge: string;
  /** the network's subnets (hairpin masquerade) */
  subnets?: string[];
  /** subnets masqueraded on the way out (empty: no NAT) */
  nat4?: string[];
  nat6?: string[];
  internal?: boolean;
  /** how outsiders may reach container addresses: nat (not at all), nat-unprotected (freely), routed (published ports) */
  inbound?: 'nat' | 'nat-unprotected' | 'routed';
}

export function bridgeElements(b: BridgeFirewall): NftOp[] {
  const el = (set: string, items: Value[]) => (items.length ? [add(elements(T, set, items))] : []);
  return [
    ...el(SETS.bridges, [b.bridge]),
    ...el(SETS.intra, [tuple(b.bridge, b.bridge)]),
    ...el(SETS.hairpin4, (b.subnets ?? []).filter((x) => !x.includes(':')).map((x) => tuple(cidr(x), b.bridge))),
    ...el(SETS.hairpin6, (b.subnets ?? []).filter((x) => x.includes(':')).map((x) => tuple(cidr(x), b.bridge))),
    ...el(SETS.nat4, (b.nat4 ?? []).map(cidr)),
    ...el(SETS.nat6, (b.nat6 ?? []).map(cidr)),
    ...el(SETS.internal, b.internal ? [b.bridge] : []),
    ...el(SETS.open, b.inbound === 'nat-unprotected' ? [b.bridge] : []),
    ...el(SETS.routed, b.inbound === 'routed' ? [b.bridge] : []),
  ];
}

export function addBridgeRules(netns: NetnsTarget | null, b: BridgeFirewall): void {
  // `add element` of an existing element is accepted: the call is idempotent
  applyNft(bridgeElements(b), { netns });
}

export function removeBridgeRules(netns: NetnsTarget | null, b: BridgeFirewall): void {
  const ops = bridgeElements(b).map((op) => (op.op === 'add' ? del(op.obj, { ifExists: true }) : op));
  removeElements(netns, ops);
}

/** Delete elements; with no berth table at all (flushed by someone) there is nothing to delete. */
function removeElements(netns: NetnsTarget | null, ops: NftOp[]): void {
  if (!ops.length) return;
  try {
    applyNft(ops, { netns });
  } catch (err) {
    if (listNftChainComments(T, 'forward', { netns }) !== undefined) throw err;
  }
}

export interface PublishedPort {
  proto: 'tcp' | 'udp' | 'sctp';
  /** undefined or 0.0.0.0: every host address */
  hostIp: string | undefined;
  hostPort: number;
  targetIp: string;
  targetPort: number;
}

function portEntry(p: PublishedPort): { map: string; entry: MapEntry } {
  const data: Value = tuple(p.targetIp, p.targetPort);
  const v6 = p.targetIp.includes(':');
  if (!p.hostIp || p.hostIp === '0.0.0.0' || p.hostIp === '::') {
    return { map: v6 ? SETS.pub6any : SETS.pub4any, entry: { key: tuple(p.proto, p.hostPort), data } };
  }
  return { map: v6 ? SETS.pub6 : SETS.pub4, entry: { key: tuple(p.hostIp, p.proto, p.hostPort), data } };
}

function portOps(op: 'add' | 'delete', ports: readonly PublishedPort[], routed: boolean): NftOp[] {
  return ports.flatMap((p) => {
    const { map, entry } = portEntry(p);
    const objs = [elements(T, map, [entry])];
    // on a routed network the container's own address and port are reachable too
    if (routed) objs.push(elements(T, p.targetIp.includes(':') ? SETS.routed6 : SETS.routed4, [tuple(p.targetIp, p.proto, p.targetPort)]));
    return objs.map((o) => (op === 'add' ? add(o) : del(o, { ifExists: true })));
  });
}

/** Publish ports: one map element each, all in one batch. */
export function publishPorts(netns: NetnsTarget | null, ports: readonly PublishedPort[], opts: { routed?: boolean } = {}): void {
  if (ports.length) applyNft(portOps('add', ports, Boolean(opts.routed)), { netns });
}

/** The idempotent deletions unpublishPorts applies, for a caller that batches them with its own. */
export function unpublishOps(ports: readonly PublishedPort[], opts: { routed?: boolean } = {}): NftOp[] {
  return portOps('delete', ports, Boolean(opts.routed));
}

export function unpublishPorts(netns: NetnsTarget | null, ports: readonly PublishedPort[], opts: { routed?: boolean } = {}): void {
  removeElements(netns, portOps('delete', ports, Boolean(opts.routed)));
}

export interface PortPublication {
  port: PublishedPort;
  routed: boolean;
}

/**
 * Make berth's table hold exactly these networks and ports: install the rules if they are
 * missing, then empty every set and map and refill them, all in one atomic batch (no window
 * where a published port is missing). Used by self-repair.
 */
export function syncFirewall(netns: NetnsTarget | null, tunnelSubnet: string, bridges: readonly BridgeFirewall[], ports: readonly PortPublication[]): void {
  ensureFirewall(netns, tunnelSubnet);
  const emptied: NftOp[] = Object.values(SETS).map((name) =>
    flush(name.startsWith('pub') ? { kind: 'map', table: T, name, type: 'ifname', data: 'ifname' } : { kind: 'set', table: T, name, type: 'ifname' }),
  );
  applyNft([...emptied, ...bridges.flatMap(bridgeElements), ...ports.flatMap((p) => portOps('add', [p.port], p.routed))], { netns });
}

/** How many elements each of berth's sets and maps holds (undefined: no berth table). */
export function firewallElementCounts(netns: NetnsTarget | null): Record<string, number> | undefined {
  const t = readNftTable(T, { netns });
  if (!t) return undefined;
  return Object.fromEntries([...t.sets.map((s) => [s.name, s.elements.length]), ...t.maps.map((m) => [m.name, m.elements.length])]) as Record<string, number>;
}

/** The element counts syncFirewall would produce for this desired state. */
export function expectedElementCounts(bridges: readonly BridgeFirewall[], ports: readonly PortPublication[]): Record<string, number> {
  const counts: Record<string, number> = Object.fromEntries(Object.values(SETS).map((n) => [n, 0]));
  const ops = [...bridges.flatMap(bridgeElements), ...ports.flatMap((p) => portOps('add', [p.port], p.routed))];
  for (const op of ops) if (op.obj.kind === 'element') counts[op.obj.set] = (counts[op.obj.set] ?? 0) + op.obj.items.length;
  return counts;
}

/** True if berth's table is there, whatever its version and tunnel subnet. */
export function firewallInstalledAny(netns: NetnsTarget | null): boolean {
  return listNftChainComments(T, 'forward', { netns }) !== undefined;
}

/** True if berth's table is there with the current rules, guarding this tunnel subnet. */
export function firewallInstalled(netns: NetnsTarget | null, tunnelSubnet: string): boolean {
  return Boolean(listNftChainComments(T, 'forward', { netns })?.includes(marker(tunnelSubnet)));
}
