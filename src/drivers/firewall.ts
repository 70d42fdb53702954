// berth's nftables table: one `inet berth` table whose rules never change once installed.
// Networks and published ports are elements of its sets and maps, so adding one is adding an
// element (one atomic batch) and the per-packet cost does not grow with their number.
import {
  accept, add, anonSet, chain, concat, counter, ctState, del, dnat, drop, elements, fibDaddrLocal, flush, ip, jump,
  lookup, masquerade, match, meta, notMatch, rule, setRef, table, th, tuple, cidr, PRIORITY,
  type MapEntry, type NftOp, type Statement, type Value, ct,
} from '../kernel/nft/model.js';
import { applyNft, listNftChainComments } from '../kernel/nft/apply.js';
import type { NetnsTarget } from '../kernel/netns.js';

export const BERTH_TABLE = table('inet', 'berth');
const T = BERTH_TABLE;
/** Bumped whenever the rules below change; `ensureFirewall` reinstalls on a mismatch. */
const RULESET_VERSION = 'berth:ruleset:1';

const SETS = {
  /** every berth bridge */
  bridges: 'bridges',
  /** IPv4 subnets masqueraded when leaving their bridge */
  nat4: 'nat4',
  /** (in, out) bridge pairs whose DNATed traffic is masqueraded: hairpin to a published port */
  hairpin: 'hairpin',
  /** (host ip, proto, host port) -> (container ip, port) */
  pub4: 'pub4',
  /** (proto, host port) -> (container ip, port), for ports published on every host address */
  pub4any: 'pub4any',
} as const;

const L4 = anonSet('tcp', 'udp', 'sctp');

function tableDefinition(): NftOp[] {
  const publish: Statement[][] = [
    [dnat('ip', lookup(concat(ip.daddr, meta('l4proto'), th.dport), SETS.pub4))],
    [dnat('ip', lookup(concat(meta('l4proto'), th.dport), SETS.pub4any))],
  ];
  const chains = [
    chain(T, 'raw_prerouting', { type: 'filter', hook: 'prerouting', priority: PRIORITY.raw, policy: 'accept' }),
    chain(T, 'prerouting', { type: 'nat', hook: 'prerouting', priority: PRIORITY.dstnat, policy: 'accept' }),
    chain(T, 'output', { type: 'nat', hook: 'output', priority: PRIORITY.dstnat, policy: 'accept' }),
    chain(T, 'publish'),
    chain(T, 'forward', { type: 'filter', hook: 'forward', priority: PRIORITY.filter, policy: 'accept' }),
    chain(T, 'postrouting', { type: 'nat', hook: 'postrouting', priority: PRIORITY.srcnat, policy: 'accept' }),
  ];
  return [
    add(T),
    add({ kind: 'set', table: T, name: SETS.bridges, type: 'ifname' }),
    add({ kind: 'set', table: T, name: SETS.nat4, type: 'ipv4_addr', flags: ['interval'] }),
    add({ kind: 'set', table: T, name: SETS.hairpin, type: ['ifname', 'ifname'] }),
    add({ kind: 'map', table: T, name: SETS.pub4, type: ['ipv4_addr', 'inet_proto', 'inet_service'], data: ['ipv4_addr', 'inet_service'] }),
    add({ kind: 'map', table: T, name: SETS.pub4any, type: ['inet_proto', 'inet_service'], data: ['ipv4_addr', 'inet_service'] }),
    ...chains.map(add),
    ...chains.map(flush),
    // Packets for 127/8 from anywhere but lo are forged: without this, loopback-only published
    // ports would be reachable from the LAN once DNAT rewrote them (moby/moby#45610).
    add(rule(T, 'raw_prerouting', [notMatch(meta('iifname'), 'lo'), match(ip.daddr, cidr('127.0.0.0/8')), counter, drop])),
    add(rule(T, 'prerouting', [fibDaddrLocal, match(meta('l4proto'), L4), jump('publish')])),
    add(rule(T, 'output', [fibDaddrLocal, match(meta('l4proto'), L4), jump('publish')])),
    ...publish.map((s) => add(rule(T, 'publish', s))),
    add(rule(T, 'forward', [match(meta('oifname'), setRef(SETS.bridges)), ctState('established', 'related'), accept], RULESET_VERSION)),
    add(rule(T, 'forward', [match(meta('oifname'), setRef(SETS.bridges)), match(ct('status'), 'dnat'), accept])),
    add(rule(T, 'forward', [match(meta('iifname'), setRef(SETS.bridges)), accept])),
    // nothing reaches a container unasked, except through a published port (Docker's nat mode)
    add(rule(T, 'forward', [match(meta('oifname'), setRef(SETS.bridges)), counter, drop])),
    add(rule(T, 'postrouting', [match(ct('status'), 'dnat'), match(concat(meta('iifname'), meta('oifname')), setRef(SETS.hairpin)), masquerade])),
    add(rule(T, 'postrouting', [match(ip.saddr, cidr('127.0.0.0/8')), match(meta('oifname'), setRef(SETS.bridges)), masquerade])),
    add(rule(T, 'postrouting', [match(ip.saddr, setRef(SETS.nat4)), notMatch(meta('oifname'), setRef(SETS.bridges)), masquerade])),
  ];
}

/** Install berth's table in netns unless the current version is already there. */
export function ensureFirewall(netns: NetnsTarget | null): void {
  if (listNftChainComments(T, 'forward', { netns })?.includes(RULESET_VERSION)) return;
  applyNft(tableDefinition(), { netns });
}

/** Remove berth's table entirely (idempotent). */
export function removeFirewall(netns: NetnsTarget | null): void {
  applyNft([del(T, { ifExists: true })], { netns });
}

export interface BridgeFirewall {
  bridge: string;
  /** IPv4 subnet to masquerade on the way out; undefined: no NAT */
  nat4?: string;
}

function bridgeElements(b: BridgeFirewall): NftOp[] {
  return [
    add(elements(T, SETS.bridges, [b.bridge])),
    add(elements(T, SETS.hairpin, [tuple(b.bridge, b.bridge)])),
    ...(b.nat4 ? [add(elements(T, SETS.nat4, [cidr(b.nat4)]))] : []),
  ];
}

export function addBridgeRules(netns: NetnsTarget | null, b: BridgeFirewall): void {
  // `add element` of an existing element is accepted: the call is idempotent
  applyNft(bridgeElements(b), { netns });
}

export function removeBridgeRules(netns: NetnsTarget | null, b: BridgeFirewall): void {
  applyNft(
    [
      del(elements(T, SETS.bridges, [b.bridge]), { ifExists: true }),
      del(elements(T, SETS.hairpin, [tuple(b.bridge, b.bridge)]), { ifExists: true }),
      ...(b.nat4 ? [del(elements(T, SETS.nat4, [cidr(b.nat4)]), { ifExists: true })] : []),
    ],
    { netns },
  );
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
  if (!p.hostIp || p.hostIp === '0.0.0.0') return { map: SETS.pub4any, entry: { key: tuple(p.proto, p.hostPort), data } };
  return { map: SETS.pub4, entry: { key: tuple(p.hostIp, p.proto, p.hostPort), data } };
}

function portOps(op: 'add' | 'delete', ports: readonly PublishedPort[]): NftOp[] {
  return ports.map((p) => {
    const { map, entry } = portEntry(p);
    return op === 'add' ? add(elements(T, map, [entry])) : del(elements(T, map, [entry]), { ifExists: true });
  });
}

/** Publish ports: one map element each, all in one batch. */
export function publishPorts(netns: NetnsTarget | null, ports: readonly PublishedPort[]): void {
  if (ports.length) applyNft(portOps('add', ports), { netns });
}

export function unpublishPorts(netns: NetnsTarget | null, ports: readonly PublishedPort[]): void {
  if (ports.length) applyNft(portOps('delete', ports), { netns });
}
