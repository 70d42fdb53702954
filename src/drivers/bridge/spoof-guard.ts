// Anti-spoofing on bridge ports (issue 11 item 8): berth's `table bridge berth` lets a guarded
// veth port send only from its endpoint's own MAC and addresses, so a container cannot take
// another's IP (an added address and a gratuitous ARP or unsolicited neighbour advertisement) or
// MAC (which would move the bridge's FDB entry to its port). The rules never change; each port is
// elements of sets keyed by (veth name . value), so attaching one is one small atomic batch and
// the per-frame cost does not grow with the number of ports.
import { isIP } from 'node:net';
import { Address6 } from 'ip-address';
import {
  accept, add, anonSet, arp, chain, concat, counter, del, drop, elements, ether, flush, icmpv6, ip, ip6, match, meta, notMatch,
  raw, rule, setRef, table, tuple, type NftOp, type SetObj, type Value,
} from '../../kernel/nft/model.js';
import { applyNft, listNftChainComments } from '../../kernel/nft/apply.js';
import type { NetnsTarget } from '../../kernel/netns.js';

export const SPOOF_TABLE = table('bridge', 'berth');
const T = SPOOF_TABLE;
/** Bumped whenever the rules below change; also how a check tells the rules are there. */
const RULES_VERSION = 'berth:spoof:1';
/** Bridge-family prerouting runs before the bridge learns the source MAC or forwards the frame. */
const PRIORITY = -300;

const SETS = {
  /** host-side veth names of the guarded ports */
  guarded: 'guarded',
  /** (veth . MAC) */
  mac: 'port_mac',
  /** (veth . IPv4 address) */
  ip4: 'port_ip4',
  /** (veth . IPv6 address), the link-local one included */
  ip6: 'port_ip6',
  /** (veth . the same IPv6 addresses as 128-bit integers): a neighbour advertisement's target */
  nd: 'port_nd',
} as const;

/** The ND target of a neighbour advertisement: 16 bytes after the ICMPv6 type, code, checksum and flags. */
const ND_TARGET = raw('th', 64, 128);

function setObjs(): SetObj[] {
  return [
    { kind: 'set', table: T, name: SETS.guarded, type: 'ifname' },
    { kind: 'set', table: T, name: SETS.mac, type: ['ifname', 'ether_addr'] },
    { kind: 'set', table: T, name: SETS.ip4, type: ['ifname', 'ipv4_addr'] },
    { kind: 'set', table: T, name: SETS.ip6, type: ['ifname', 'ipv6_addr'] },
    // nft 1.0.6 has no `icmpv6 taddr`: the target is raw payload, so the set is declared by typeof
    { kind: 'set', table: T, name: SETS.nd, type: ['ifname', 'ipv6_addr'], typeOf: [meta('iifname'), ND_TARGET] },
  ];
}

/** The table, its sets and its rules; idempotent (the chain is flushed and refilled in the same batch). */
function tableOps(): NftOp[] {
  const pre = chain(T, 'prerouting', { type: 'filter', hook: 'prerouting', priority: PRIORITY, policy: 'accept' });
  const own = (set: string, ...value: Parameters<typeof concat>) => match(concat(meta('iifname'), ...value), setRef(set), '!=');
  const rules = [
    // ports berth does not guard (allow_spoofing, the bridge's own frames) pass untouched
    [notMatch(meta('iifname'), setRef(SETS.guarded)), accept],
    [own(SETS.mac, ether.saddr), counter, drop],
    [match(ether.type, 'arp'), own(SETS.mac, arp.saddrEther), counter, drop],
    // an ARP probe (RFC 5227) claims no address
    [match(ether.type, 'arp'), match(arp.saddrIp, '0.0.0.0'), accept],
    [match(ether.type, 'arp'), own(SETS.ip4, arp.saddrIp), counter, drop],
    [match(ether.type, 'ip'), own(SETS.ip4, ip.saddr), counter, drop],
    // duplicate address detection and its MLD reports come from the unspecified address
    [match(ether.type, 'ip6'), match(ip6.saddr, '::'), match(icmpv6.type, anonSet('nd-neighbor-solicit', 'mld-listener-report', 'mld2-listener-report')), accept],
    [match(ether.type, 'ip6'), own(SETS.ip6, ip6.saddr), counter, drop],
    [match(ether.type, 'ip6'), match(icmpv6.type, 'nd-neighbor-advert'), own(SETS.nd, ND_TARGET), counter, drop],
    // nothing else: no VLAN-tagged or other protocols that would carry someone else's addresses
    [notMatch(ether.type, anonSet('ip', 'ip6', 'arp')), counter, drop],
  ];
  return [
    add(T),
    ...setObjs().map(add),
    add(pre),
    flush(pre),
    ...rules.map((st, i) => add(rule(T, 'prerouting', st, i === 0 ? RULES_VERSION : undefined))),
  ];
}

/** A guarded bridge port: the host side of an endpoint and what it may send from. */
export interface PortGuard {
  /** host-side veth name */
  ifname: string;
  mac: string;
  /** the endpoint's addresses, with or without prefix */
  addresses: readonly string[];
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** fe80::/64 with the modified EUI-64 of mac: the link-local address the kernel gives the port. */
export function linkLocalOf(mac: string): string {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  const eui = [(b[0] ?? 0) ^ 0x02, b[1], b[2], 0xff, 0xfe, b[3], b[4], b[5]] as number[];
  const groups = [0, 2, 4, 6].map((i) => (((eui[i] ?? 0) << 8) | (eui[i + 1] ?? 0)).toString(16));
  return `fe80::${groups.join(':')}`;
}

function ipv6Integer(addr: string): bigint {
  return new Address6(addr).bigInt();
}

function guardElements(g: PortGuard): { set: string; items: Value[] }[] {
  const mac = g.mac.toLowerCase();
  if (!MAC.test(mac)) throw new Error(`spoof guard: bad MAC ${JSON.stringify(g.mac)}`);
  const plain = g.addresses.map((a) => a.split('/')[0] ?? a);
  const v4 = plain.filter((a) => isIP(a) === 4);
  const v6 = [...plain.filter((a) => isIP(a) === 6), linkLocalOf(mac)];
  return [
    { set: SETS.guarded, items: [g.ifname] },
    { set: SETS.mac, items: [tuple(g.ifname, mac)] },
    { set: SETS.ip4, items: v4.map((a) => tuple(g.ifname, a)) },
    { set: SETS.ip6, items: v6.map((a) => tuple(g.ifname, a)) },
    { set: SETS.nd, items: v6.map((a) => tuple(g.ifname, ipv6Integer(a))) },
  ].filter((e) => e.items.length > 0);
}

/**
 * Guard one port: add its elements (one small batch, ~0.5 ms). Where the table or its sets are
 * missing (the first port, a flushed ruleset, an older berth's table), the same elements go in one
 * atomic batch with the table, its sets and its rules. Rules flushed while the sets stayed are put
 * back by the daemon's watch and by `system check --repair` (spoofGuardInstalled).
 */
export function guardPort(netns: NetnsTarget | null, g: PortGuard): void {
  const adds = guardElements(g).map((e) => add(elements(T, e.set, e.items)));
  try {
    applyNft(adds, { netns });
  } catch {
    applyNft([...tableOps(), ...adds], { netns });
  }
}

/** Forget one port's elements. Idempotent; with no berth bridge table there is nothing to forget. */
export function unguardPort(netns: NetnsTarget | null, g: PortGuard): void {
  const els = guardElements(g);
  try {
    applyNft(els.map((e) => del(elements(T, e.set, e.items))), { netns });
    return;
  } catch {
    // some element was already gone: delete what is there, one idempotent batch
  }
  try {
    applyNft(els.map((e) => del(elements(T, e.set, e.items), { ifExists: true })), { netns });
  } catch (err) {
    if (spoofGuardInstalled(netns)) throw err;
  }
}

/**
 * Forget one port's elements in the same batch as other deletions (the endpoint's published
 * ports): every commit that deletes something waits for an RCU grace period (~14 ms here), so one
 * commit instead of two halves a detach's nft cost. If the batch fails (a table is gone),
 * fallback applies the other deletions alone and the port's are forgotten on their own.
 */
export function unguardPortWith(netns: NetnsTarget | null, g: PortGuard, ops: readonly NftOp[], fallback: () => void): void {
  try {
    applyNft([...ops, ...guardElements(g).map((e) => del(elements(T, e.set, e.items), { ifExists: true }))], { netns });
  } catch {
    fallback();
    unguardPort(netns, g);
  }
}

/** Make the bridge table hold exactly these ports (self-repair), in one atomic batch. */
export function syncSpoofGuard(netns: NetnsTarget | null, guards: readonly PortGuard[]): void {
  const emptied = setObjs().map((s) => flush(s));
  const fill = guards.flatMap(guardElements).map((e) => add(elements(T, e.set, e.items)));
  applyNft([...tableOps(), ...emptied, ...fill], { netns });
}

/** True if the bridge table is there with the current rules. */
export function spoofGuardInstalled(netns: NetnsTarget | null): boolean {
  return Boolean(listNftChainComments(T, 'prerouting', { netns })?.includes(RULES_VERSION));
}

/** Remove the bridge table (idempotent). */
export function removeSpoofGuard(netns: NetnsTarget | null): void {
  applyNft([del(T, { ifExists: true })], { netns });
}
