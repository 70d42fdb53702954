// Reading an nft listing (`nft -j list ...`, parsed) back into the model: tables, chains with
// their rules, sets and maps with their elements. Pure: no I/O.
import {
  PRIORITY,
  type BaseChainSpec,
  type ChainPolicy,
  type ChainType,
  type DataType,
  type Family,
  type Hook,
  type KeyType,
  type MapEntry,
  type TableRef,
  type Value,
  type Verdict,
} from './model.js';
import type { Json } from './render-json.js';

/** `nft -j list ruleset|table` output, parsed. */
export interface NftListing {
  readonly nftables: readonly { readonly [key: string]: Json }[];
}

export interface NftRuleState {
  readonly handle: number;
  readonly comment?: string;
  /** the rule's expressions exactly as nft lists them */
  readonly expr: readonly Json[];
}
export interface NftChainState {
  readonly name: string;
  readonly handle: number;
  readonly base?: BaseChainSpec;
  readonly rules: NftRuleState[];
}
export interface NftSetState {
  readonly name: string;
  readonly handle: number;
  readonly type: KeyType;
  readonly flags: readonly string[];
  readonly elements: readonly Value[];
}
export interface NftMapState {
  readonly name: string;
  readonly handle: number;
  readonly type: KeyType;
  readonly data: KeyType | 'verdict';
  readonly flags: readonly string[];
  readonly elements: readonly MapEntry[];
}
export interface NftTableState extends TableRef {
  readonly handle: number;
  readonly chains: NftChainState[];
  readonly sets: NftSetState[];
  readonly maps: NftMapState[];
}
export interface NftState {
  readonly version?: string;
  readonly tables: NftTableState[];
}

type JsonObject = { readonly [key: string]: Json };

function obj(x: Json | undefined): JsonObject {
  return typeof x === 'object' && x !== null && !Array.isArray(x) ? x : {};
}
function str(x: Json | undefined): string {
  return typeof x === 'string' ? x : '';
}
function num(x: Json | undefined): number {
  return typeof x === 'number' ? x : -1;
}

/** "ipv4_addr", ["ipv4_addr", "inet_service"] or (nft < 1.1 map data) "ipv4_addr . inet_service". */
function readType(x: Json | undefined): KeyType {
  const types = (Array.isArray(x) ? x.map(str) : str(x).split(' . ')) as DataType[];
  return types.length === 1 ? types[0]! : types;
}

/** Elements with a timeout, counter or comment come wrapped as {"elem": {"val": ...}}. */
function unwrap(x: Json): Json {
  const e = obj(x).elem;
  return e === undefined ? x : (obj(e).val ?? null);
}

function readVerdict(x: Json): Verdict | undefined {
  const o = obj(x);
  for (const kind of ['accept', 'drop', 'return', 'continue'] as const) if (kind in o) return { kind };
  for (const kind of ['jump', 'goto'] as const) if (kind in o) return { kind, target: str(obj(o[kind]).target) };
  return undefined;
}

function readPriority(x: Json | undefined): number {
  if (typeof x === 'number') return x;
  const named = PRIORITY[str(x) as keyof typeof PRIORITY];
  return named ?? Number.NaN;
}

/** Turn a listing into tables, chains (with their rules), sets and maps (with elements). */
export function readNftState(listing: NftListing): NftState {
  const tables = new Map<string, NftTableState>();
  const tableKey = (family: string, name: string) => `${family} ${name}`;
  const tableOf = (o: JsonObject) => tables.get(tableKey(str(o.family), str(o.table)));
  const rules: JsonObject[] = [];
  let version: string | undefined;

  for (const item of listing.nftables) {
    const [kind, value] = Object.entries(item)[0] ?? [];
    const o = obj(value);
    switch (kind) {
      case 'metainfo':
        version = str(o.version) || undefined;
        break;
      case 'table':
        tables.set(tableKey(str(o.family), str(o.name)), {
          family: str(o.family) as Family,
          name: str(o.name),
          handle: num(o.handle),
          chains: [],
          sets: [],
          maps: [],
        });
        break;
      case 'chain': {
        const base: BaseChainSpec | undefined =
          o.hook === undefined
            ? undefined
            : {
                type: str(o.type) as ChainType,
                hook: str(o.hook) as Hook,
                priority: readPriority(o.prio),
                ...(o.policy !== undefined ? { policy: str(o.policy) as ChainPolicy } : {}),
                ...(o.dev !== undefined ? { device: str(o.dev) } : {}),
              };
        tableOf(o)?.chains.push({ name: str(o.name), handle: num(o.handle), ...(base ? { base } : {}), rules: [] });
        break;
      }
      case 'set': {
        const elems = Array.isArray(o.elem) ? o.elem : [];
        tableOf(o)?.sets.push({
          name: str(o.name),
          handle: num(o.handle),
          type: readType(o.type),
          flags: Array.isArray(o.flags) ? o.flags.map(str) : [],
          elements: elems.map((e) => unwrap(e) as Value),
        });
        break;
      }
      case 'map': {
        const elems = Array.isArray(o.elem) ? o.elem : [];
        const data = str(o.map) === 'verdict' ? 'verdict' : readType(o.map);
        tableOf(o)?.maps.push({
          name: str(o.name),
          handle: num(o.handle),
          type: readType(o.type),
          data,
          flags: Array.isArray(o.flags) ? o.flags.map(str) : [],
          elements: elems.map((e) => {
            const [k, d] = Array.isArray(e) ? e : [null, null];
            const dv = unwrap(d ?? null);
            return { key: unwrap(k ?? null) as Value, data: (data === 'verdict' ? readVerdict(dv) : undefined) ?? (dv as Value) };
          }),
        });
        break;
      }
      case 'rule':
        rules.push(o);
        break;
      default:
        break;
    }
  }
  for (const r of rules) {
    const c = tableOf(r)?.chains.find((ch) => ch.name === str(r.chain));
    c?.rules.push({
      handle: num(r.handle),
      ...(r.comment !== undefined ? { comment: str(r.comment) } : {}),
      expr: Array.isArray(r.expr) ? r.expr : [],
    });
  }
  return { ...(version ? { version } : {}), tables: [...tables.values()] };
}

export function findTable(state: NftState, ref: TableRef): NftTableState | undefined {
  return state.tables.find((t) => t.family === ref.family && t.name === ref.name);
}
