// A small typed model of the nftables objects berth owns: tables, chains, rules, sets, maps and
// their elements, and the operations on them that go into one atomic batch. Literal values are
// shaped like libnftables JSON ({prefix}, {range}, {concat}) so values read back from the kernel
// compare directly with values written; expressions and statements are tagged by `kind`.

export type Family = 'inet' | 'ip' | 'ip6' | 'bridge' | 'netdev';

export interface TableRef {
  readonly family: Family;
  readonly name: string;
}

// ---------------------------------------------------------------------------------------------
// Literal values (set elements, map keys and data, right-hand sides of matches)

/** bigint: a wide integer, such as 128 raw bits of a header (written 0x…) */
export type Scalar = string | number | bigint;
export interface Prefix {
  readonly prefix: { readonly addr: string; readonly len: number };
}
export interface Range {
  readonly range: readonly [Scalar, Scalar];
}
/** A concatenated value such as `10.0.0.1 . tcp . 80`. */
export interface Tuple {
  readonly concat: readonly (Scalar | Prefix | Range)[];
}
export type Value = Scalar | Prefix | Range | Tuple;

export function prefix(addr: string, len: number): Prefix {
  return { prefix: { addr, len } };
}

/** `10.0.0.0/8` -> prefix('10.0.0.0', 8); a bare address stays a plain address. */
export function cidr(text: string): Prefix | string {
  const slash = text.indexOf('/');
  if (slash < 0) return text;
  return prefix(text.slice(0, slash), Number(text.slice(slash + 1)));
}

export function range(low: Scalar, high: Scalar): Range {
  return { range: [low, high] };
}

export function tuple(...items: (Scalar | Prefix | Range)[]): Tuple {
  return { concat: items };
}

// ---------------------------------------------------------------------------------------------
// Data types of set keys and map data

export type DataType =
  | 'ipv4_addr'
  | 'ipv6_addr'
  | 'ether_addr'
  | 'inet_proto'
  | 'inet_service'
  | 'ifname'
  | 'mark'
  | 'nf_proto';
/** One type, or the types of a concatenation (`ipv4_addr . inet_proto . inet_service`). */
export type KeyType = DataType | readonly DataType[];
export type SetFlag = 'constant' | 'interval' | 'timeout';

// ---------------------------------------------------------------------------------------------
// Expressions: what a rule looks at

export type MetaKey = 'iifname' | 'oifname' | 'iif' | 'oif' | 'l4proto' | 'nfproto' | 'mark' | 'protocol';
export type CtKey = 'state' | 'status' | 'mark';
export type FibFlag = 'saddr' | 'daddr' | 'mark' | 'iif' | 'oif';
export type FibResult = 'type' | 'oif' | 'oifname';

export type PayloadExpr =
  | { readonly kind: 'payload'; readonly protocol: 'ip'; readonly field: 'saddr' | 'daddr' | 'protocol' }
  | { readonly kind: 'payload'; readonly protocol: 'ip6'; readonly field: 'saddr' | 'daddr' | 'nexthdr' }
  | { readonly kind: 'payload'; readonly protocol: 'tcp' | 'udp' | 'sctp' | 'th'; readonly field: 'sport' | 'dport' }
  | { readonly kind: 'payload'; readonly protocol: 'ether'; readonly field: 'saddr' | 'type' }
  | { readonly kind: 'payload'; readonly protocol: 'arp'; readonly field: 'saddr ip' | 'saddr ether' }
  | { readonly kind: 'payload'; readonly protocol: 'icmpv6'; readonly field: 'type' };

/** `@th,64,128`: len bits at a bit offset from the start of a header (link, network, transport). */
export interface RawPayloadExpr {
  readonly kind: 'raw';
  readonly base: 'll' | 'nh' | 'th';
  readonly offset: number;
  readonly len: number;
}

export type Expr =
  | { readonly kind: 'meta'; readonly key: MetaKey }
  | PayloadExpr
  | { readonly kind: 'ct'; readonly key: CtKey }
  | { readonly kind: 'fib'; readonly flags: readonly FibFlag[]; readonly result: FibResult }
  | RawPayloadExpr
  | { readonly kind: 'concat'; readonly items: readonly Expr[] };

export function meta(key: MetaKey): Expr {
  return { kind: 'meta', key };
}
export function ct(key: CtKey): Expr {
  return { kind: 'ct', key };
}
export function fib(flags: readonly FibFlag[], result: FibResult): Expr {
  return { kind: 'fib', flags, result };
}
/** `ip daddr . meta l4proto . th dport`: several expressions looked up as one key. */
export function concat(...items: Expr[]): Expr {
  return { kind: 'concat', items };
}
export const ip = {
  saddr: { kind: 'payload', protocol: 'ip', field: 'saddr' },
  daddr: { kind: 'payload', protocol: 'ip', field: 'daddr' },
  protocol: { kind: 'payload', protocol: 'ip', field: 'protocol' },
} as const satisfies Record<string, Expr>;
export const ip6 = {
  saddr: { kind: 'payload', protocol: 'ip6', field: 'saddr' },
  daddr: { kind: 'payload', protocol: 'ip6', field: 'daddr' },
  nexthdr: { kind: 'payload', protocol: 'ip6', field: 'nexthdr' },
} as const satisfies Record<string, Expr>;
function ports<P extends 'tcp' | 'udp' | 'sctp' | 'th'>(protocol: P) {
  return {
    sport: { kind: 'payload', protocol, field: 'sport' },
    dport: { kind: 'payload', protocol, field: 'dport' },
  } as const;
}
export const ether = {
  saddr: { kind: 'payload', protocol: 'ether', field: 'saddr' },
  type: { kind: 'payload', protocol: 'ether', field: 'type' },
} as const satisfies Record<string, Expr>;
export const arp = {
  saddrIp: { kind: 'payload', protocol: 'arp', field: 'saddr ip' },
  saddrEther: { kind: 'payload', protocol: 'arp', field: 'saddr ether' },
} as const satisfies Record<string, Expr>;
export const icmpv6 = {
  type: { kind: 'payload', protocol: 'icmpv6', field: 'type' },
} as const satisfies Record<string, Expr>;
export function raw(base: RawPayloadExpr['base'], offset: number, len: number): RawPayloadExpr {
  return { kind: 'raw', base, offset, len };
}
export const tcp = ports('tcp');
export const udp = ports('udp');
export const sctp = ports('sctp');
/** Transport header ports whatever the protocol (pair with a `meta l4proto` match). */
export const th = ports('th');

// ---------------------------------------------------------------------------------------------
// Statements: what a rule does

export type Verdict =
  | { readonly kind: 'accept' }
  | { readonly kind: 'drop' }
  | { readonly kind: 'return' }
  | { readonly kind: 'continue' }
  | { readonly kind: 'jump'; readonly target: string }
  | { readonly kind: 'goto'; readonly target: string };

export const accept: Verdict = { kind: 'accept' };
export const drop: Verdict = { kind: 'drop' };
export const ret: Verdict = { kind: 'return' };
export function jump(target: string): Verdict {
  return { kind: 'jump', target };
}
export function goTo(target: string): Verdict {
  return { kind: 'goto', target };
}

/** A map entry: key and data (a value, or a verdict in a verdict map). */
export interface MapEntry {
  readonly key: Value;
  readonly data: Value | Verdict;
}

export type MatchOp = '==' | '!=';
export type MatchRight =
  | Value
  /** a named set: `@name` */
  | { readonly kind: 'setRef'; readonly name: string }
  /** an anonymous set: `{ tcp, udp }` */
  | { readonly kind: 'anonSet'; readonly items: readonly Value[] }
  /** bits of a bitmask such as ct state: `established,related` */
  | { readonly kind: 'flags'; readonly items: readonly string[] };

export interface Match {
  readonly kind: 'match';
  readonly left: Expr;
  readonly op: MatchOp;
  readonly right: MatchRight;
}

/** `KEY map @name`: the data stored under KEY in a named map. */
export interface MapLookup {
  readonly kind: 'lookup';
  readonly key: Expr;
  readonly map: string;
}

/**
 * snat/dnat. `addr` may be a map lookup; when that map's data is a concatenation
 * `addr . port` (e.g. `ipv4_addr . inet_service`), it sets both and `port` stays empty.
 */
export interface Nat {
  readonly kind: 'snat' | 'dnat';
  readonly family?: 'ip' | 'ip6';
  readonly addr: string | MapLookup;
  readonly port?: number | Range | MapLookup;
}

export interface VerdictMap {
  readonly kind: 'vmap';
  readonly key: Expr;
  /** a named verdict map, or anonymous entries */
  readonly map: string | readonly MapEntry[];
}

export type Statement =
  | Match
  | Verdict
  | { readonly kind: 'counter' }
  | { readonly kind: 'masquerade' }
  | { readonly kind: 'notrack' }
  | Nat
  | VerdictMap;

export const counter: Statement = { kind: 'counter' };
export const masquerade: Statement = { kind: 'masquerade' };
export const notrack: Statement = { kind: 'notrack' };

export function match(left: Expr, right: MatchRight, op: MatchOp = '=='): Match {
  return { kind: 'match', left, op, right };
}
export function notMatch(left: Expr, right: MatchRight): Match {
  return { kind: 'match', left, op: '!=', right };
}
export function setRef(name: string): MatchRight {
  return { kind: 'setRef', name };
}
export function anonSet(...items: Value[]): MatchRight {
  return { kind: 'anonSet', items };
}
/** `ct state established,related` */
export function ctState(...states: ('new' | 'established' | 'related' | 'invalid' | 'untracked')[]): Match {
  return match(ct('state'), { kind: 'flags', items: states });
}
/** `fib daddr type local`: the destination is an address of this host. */
export const fibDaddrLocal: Match = match(fib(['daddr'], 'type'), 'local');
export function lookup(key: Expr, map: string): MapLookup {
  return { kind: 'lookup', key, map };
}
export function dnat(family: 'ip' | 'ip6', addr: string | MapLookup, port?: number | Range | MapLookup): Nat {
  return port === undefined ? { kind: 'dnat', family, addr } : { kind: 'dnat', family, addr, port };
}
export function snat(family: 'ip' | 'ip6', addr: string | MapLookup, port?: number | Range | MapLookup): Nat {
  return port === undefined ? { kind: 'snat', family, addr } : { kind: 'snat', family, addr, port };
}
export function vmap(key: Expr, map: string | readonly MapEntry[]): VerdictMap {
  return { kind: 'vmap', key, map };
}

// ---------------------------------------------------------------------------------------------
// Objects

export type ChainType = 'filter' | 'nat' | 'route';
export type Hook = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting' | 'ingress';
export type ChainPolicy = 'accept' | 'drop';

/** Standard hook priorities, as nft names them. */
export const PRIORITY = { raw: -300, mangle: -150, dstnat: -100, filter: 0, security: 50, srcnat: 100 } as const;

export interface BaseChainSpec {
  readonly type: ChainType;
  readonly hook: Hook;
  readonly priority: number;
  readonly policy?: ChainPolicy;
  /** netdev ingress only */
  readonly device?: string;
}

export interface TableObj extends TableRef {
  readonly kind: 'table';
}
export interface ChainObj {
  readonly kind: 'chain';
  readonly table: TableRef;
  readonly name: string;
  /** present for base chains (attached to a hook) */
  readonly base?: BaseChainSpec;
}
export interface RuleObj {
  readonly kind: 'rule';
  readonly table: TableRef;
  readonly chain: string;
  readonly statements: readonly Statement[];
  /** lets later code find its own rules again */
  readonly comment?: string;
  /** the kernel's handle; only for delete */
  readonly handle?: number;
}
export interface SetObj {
  readonly kind: 'set';
  readonly table: TableRef;
  readonly name: string;
  readonly type: KeyType;
  /**
   * Declare the key by the expressions it is matched with (nft's `typeof`), for keys no data
   * type names (raw payload). Native syntax only: a batch declaring one is sent as text.
   */
  readonly typeOf?: readonly Expr[];
  readonly flags?: readonly SetFlag[];
  readonly elements?: readonly Value[];
}
export interface MapObj {
  readonly kind: 'map';
  readonly table: TableRef;
  readonly name: string;
  readonly type: KeyType;
  readonly data: KeyType | 'verdict';
  readonly flags?: readonly SetFlag[];
  readonly elements?: readonly MapEntry[];
}
/** Elements of a named set (values) or map (entries; on delete only keys count). */
export interface ElementObj {
  readonly kind: 'element';
  readonly table: TableRef;
  readonly set: string;
  readonly items: readonly (Value | MapEntry)[];
}

export type NftObject = TableObj | ChainObj | RuleObj | SetObj | MapObj | ElementObj;

export function table(family: Family, name: string): TableObj {
  return { kind: 'table', family, name };
}
export function chain(t: TableRef, name: string, base?: BaseChainSpec): ChainObj {
  return base ? { kind: 'chain', table: t, name, base } : { kind: 'chain', table: t, name };
}
export function rule(t: TableRef, chainName: string, statements: readonly Statement[], comment?: string): RuleObj {
  return comment === undefined
    ? { kind: 'rule', table: t, chain: chainName, statements }
    : { kind: 'rule', table: t, chain: chainName, statements, comment };
}
export function elements(t: TableRef, set: string, items: readonly (Value | MapEntry)[]): ElementObj {
  return { kind: 'element', table: t, set, items };
}

// ---------------------------------------------------------------------------------------------
// Operations: one batch is a list of these, applied all or nothing

export type NftOp =
  | { readonly op: 'add' | 'create'; readonly obj: NftObject }
  /**
   * ifExists: deleting something already gone is success (table/chain/set/map/element). It adds
   * the object first, so map elements need their data, and fail if the key holds other data.
   */
  | { readonly op: 'delete'; readonly obj: NftObject; readonly ifExists?: boolean }
  | { readonly op: 'flush'; readonly obj: TableObj | ChainObj | SetObj | MapObj };

export function add(obj: NftObject): NftOp {
  return { op: 'add', obj };
}
export function create(obj: NftObject): NftOp {
  return { op: 'create', obj };
}
export function del(obj: NftObject, opts: { ifExists?: boolean } = {}): NftOp {
  return opts.ifExists ? { op: 'delete', obj, ifExists: true } : { op: 'delete', obj };
}
export function flush(obj: TableObj | ChainObj | SetObj | MapObj): NftOp {
  return { op: 'flush', obj };
}

/** The table an object lives in. */
export function tableOf(obj: NftObject): TableRef {
  return obj.kind === 'table' ? { family: obj.family, name: obj.name } : obj.table;
}

export function isMapEntry(item: Value | MapEntry): item is MapEntry {
  return typeof item === 'object' && 'key' in item;
}

const VERDICT_KINDS = new Set(['accept', 'drop', 'return', 'continue', 'jump', 'goto']);
export function isVerdict(x: unknown): x is Verdict {
  return typeof x === 'object' && x !== null && 'kind' in x && VERDICT_KINDS.has((x as { kind: string }).kind);
}

export function keyTypes(t: KeyType): readonly DataType[] {
  return typeof t === 'string' ? [t] : t;
}
