// Pure rendering of a batch of nft operations: the libnftables JSON document (what berth applies),
// and the same batch in nft's native syntax (only for what this nft's JSON parser cannot say:
// before nftables 1.1.0, JSON cannot declare a map whose data is a concatenation).
import { isIP } from 'node:net';
import { UserError } from '../../common/errors.js';
import {
  isMapEntry,
  isVerdict,
  keyTypes,
  type Expr,
  type KeyType,
  type MapEntry,
  type MapLookup,
  type MapObj,
  type MatchRight,
  type Nat,
  type NftObject,
  type NftOp,
  type Range,
  type Scalar,
  type SetFlag,
  type SetObj,
  type Statement,
  type TableRef,
  type Value,
  type Verdict,
} from './model.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface NftJsonDocument {
  nftables: Json[];
}
/** One rendered command and the index of the operation it came from (one op may give two). */
export interface RenderedCommand<T> {
  readonly command: T;
  readonly op: number;
}

// ---------------------------------------------------------------------------------------------
// Validation shared by both syntaxes

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const FAMILIES = new Set(['inet', 'ip', 'ip6', 'bridge', 'netdev']);
const SET_FLAGS = new Set<SetFlag>(['constant', 'interval', 'timeout']);
const COMMENT_MAX = 128;

function fail(what: string, value: unknown, accepted: string): never {
  throw new UserError(`invalid nft ${what} ${JSON.stringify(value)}: ${accepted}`);
}

function checkName(what: string, name: string): string {
  if (!NAME.test(name)) fail(`${what} name`, name, 'use 1-64 characters from [A-Za-z0-9_.-], starting with a letter or "_"');
  return name;
}

function checkTable(t: TableRef): TableRef {
  if (!FAMILIES.has(t.family)) fail('table family', t.family, 'use inet, ip, ip6, bridge or netdev');
  checkName('table', t.name);
  return t;
}

function checkString(s: string): string {
  // '@' would read as a set reference; control characters have no business in nft values.
  // eslint-disable-next-line no-control-regex
  if (s.length === 0 || s.startsWith('@') || /[\x00-\x1f\x7f]/.test(s)) {
    fail('string value', s, 'use a non-empty string without control characters, not starting with "@"');
  }
  return s;
}

function checkNumber(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) fail(what, n, 'use a non-negative integer');
  return n;
}

function checkAddr(addr: string): string {
  if (isIP(addr) === 0) fail('NAT address', addr, 'use an IPv4 or IPv6 address');
  return addr;
}

function checkComment(c: string): string {
  // eslint-disable-next-line no-control-regex
  if (Buffer.byteLength(c) > COMMENT_MAX || /[\x00-\x1f\x7f"\\]/.test(c)) {
    fail('comment', c, `use at most ${COMMENT_MAX} bytes without quotes, backslashes or control characters`);
  }
  return c;
}

function checkFlags(flags: readonly SetFlag[] | undefined): readonly SetFlag[] {
  for (const f of flags ?? []) if (!SET_FLAGS.has(f)) fail('set flag', f, 'use constant, interval or timeout');
  return flags ?? [];
}

/**
 * Checks on the whole batch that need more than one op. nft 1.0.6 crashes (SIGSEGV) on a NAT
 * map lookup whose target is a set, so a batch that declares a set and uses it as a map is refused.
 */
function checkBatch(ops: readonly NftOp[]): void {
  const declaredSets = new Set<string>();
  const declaredMaps = new Set<string>();
  const key = (t: TableRef, name: string) => `${t.family} ${t.name} ${name}`;
  ops.forEach((o, i) => {
    if (o.op === 'add' || o.op === 'create') {
      if (o.obj.kind === 'set') declaredSets.add(key(o.obj.table, o.obj.name));
      if (o.obj.kind === 'map') declaredMaps.add(key(o.obj.table, o.obj.name));
      if (o.obj.kind === 'rule') {
        if (o.obj.handle !== undefined) fail(`${o.op} rule (op ${i}) handle`, o.obj.handle, 'a new rule has no handle yet; leave it out');
        const t = o.obj.table;
        for (const name of natMapsOf(o.obj.statements)) {
          if (declaredSets.has(key(t, name)) && !declaredMaps.has(key(t, name))) {
            fail(`NAT map (op ${i})`, `@${name}`, 'a NAT lookup needs a map, and this batch declares a set by that name');
          }
        }
      }
    }
    if (o.op === 'delete' && o.obj.kind === 'rule') {
      if (o.obj.handle === undefined) fail(`delete rule (op ${i}) handle`, null, 'deleting a rule needs its handle');
      if (o.ifExists) fail(`delete rule (op ${i}) ifExists`, true, 'rules are deleted by handle; ifExists is for tables, chains, sets, maps and elements');
    }
  });
}

/** Names of the maps NAT statements look up. */
export function natMapsOf(statements: readonly Statement[]): string[] {
  const names: string[] = [];
  for (const s of statements) {
    if (s.kind !== 'snat' && s.kind !== 'dnat') continue;
    if (typeof s.addr === 'object') names.push(s.addr.map);
    if (typeof s.port === 'object' && 'kind' in s.port) names.push(s.port.map);
  }
  return names;
}

/** True when some op declares a map whose data is a concatenation (`: ipv4_addr . inet_service`). */
export function declaresConcatDataMap(ops: readonly NftOp[]): boolean {
  return ops.some(
    (o) =>
      (o.op === 'add' || o.op === 'create' || (o.op === 'delete' && o.ifExists === true)) &&
      o.obj.kind === 'map' &&
      o.obj.data !== 'verdict' &&
      keyTypes(o.obj.data).length > 1,
  );
}

/** True when the batch must go in native syntax: a map with concatenated data, or a typeof set. */
export function needsTextSyntax(ops: readonly NftOp[]): boolean {
  return (
    declaresConcatDataMap(ops) ||
    ops.some((o) => (o.op === 'add' || o.op === 'create' || (o.op === 'delete' && o.ifExists === true)) && o.obj.kind === 'set' && o.obj.typeOf !== undefined)
  );
}

// ---------------------------------------------------------------------------------------------
// JSON

function hex(v: bigint): string {
  if (v < 0n) fail('integer value', String(v), 'use a non-negative integer');
  return `0x${v.toString(16)}`;
}

function jScalar(v: Scalar): Json {
  if (typeof v === 'bigint') return hex(v);
  return typeof v === 'number' ? checkNumber('number value', v) : checkString(v);
}

function jValue(v: Value): Json {
  if (typeof v !== 'object') return jScalar(v);
  if ('prefix' in v) return { prefix: { addr: checkString(v.prefix.addr), len: checkNumber('prefix length', v.prefix.len) } };
  if ('range' in v) return { range: [jScalar(v.range[0]), jScalar(v.range[1])] };
  if (v.concat.length < 2) fail('tuple', v, 'a tuple needs at least two items');
  return { concat: v.concat.map((x) => jValue(x)) };
}

function jVerdict(v: Verdict): Json {
  if (v.kind === 'jump' || v.kind === 'goto') return { [v.kind]: { target: checkName('chain', v.target) } };
  return { [v.kind]: null };
}

function jMapData(d: Value | Verdict): Json {
  return isVerdict(d) ? jVerdict(d) : jValue(d);
}

function jExpr(e: Expr): Json {
  switch (e.kind) {
    case 'meta':
      return { meta: { key: e.key } };
    case 'payload':
      return { payload: { protocol: e.protocol, field: e.field } };
    case 'ct':
      return { ct: { key: e.key } };
    case 'fib':
      return { fib: { result: e.result, flags: [...e.flags] } };
    case 'raw':
      return { payload: { base: e.base, offset: checkNumber('payload offset', e.offset), len: checkNumber('payload length', e.len) } };
    case 'concat':
      if (e.items.length < 2 || e.items.some((x) => x.kind === 'concat')) fail('concatenation', e, 'use two or more non-concatenated expressions');
      return { concat: e.items.map(jExpr) };
  }
}

function isTagged(r: MatchRight): r is Extract<MatchRight, { kind: string }> {
  return typeof r === 'object' && 'kind' in r;
}

function jRight(r: MatchRight): Json {
  if (!isTagged(r)) return jValue(r);
  switch (r.kind) {
    case 'setRef':
      return `@${checkName('set', r.name)}`;
    case 'anonSet':
      return { set: r.items.map(jValue) };
    case 'flags':
      return r.items.length === 1 ? checkString(r.items[0]!) : r.items.map(checkString);
  }
}

function jLookup(l: MapLookup): Json {
  return { map: { key: jExpr(l.key), data: `@${checkName('map', l.map)}` } };
}

function jNat(s: Nat): Json {
  const out: { [key: string]: Json } = {};
  if (s.family) out.family = s.family;
  out.addr = typeof s.addr === 'string' ? checkAddr(s.addr) : jLookup(s.addr);
  if (s.port !== undefined) {
    if (typeof s.port === 'number') out.port = checkNumber('NAT port', s.port);
    else out.port = 'kind' in s.port ? jLookup(s.port) : jValue(s.port);
  }
  return { [s.kind]: out };
}

function jStatement(s: Statement): Json {
  switch (s.kind) {
    case 'match':
      // A bitmask (ct state) matches with "in": any of the bits, as nft's own listing shows it.
      return { match: { op: isTagged(s.right) && s.right.kind === 'flags' && s.op === '==' ? 'in' : s.op, left: jExpr(s.left), right: jRight(s.right) } };
    case 'counter':
    case 'masquerade':
    case 'notrack':
      return { [s.kind]: null };
    case 'snat':
    case 'dnat':
      return jNat(s);
    case 'vmap':
      return {
        vmap: {
          key: jExpr(s.key),
          data: typeof s.map === 'string' ? `@${checkName('map', s.map)}` : { set: s.map.map((e) => [jValue(e.key), jMapData(e.data)]) },
        },
      };
    default:
      return jVerdict(s);
  }
}

function jKeyType(t: KeyType): Json {
  const types = keyTypes(t);
  if (types.length === 0) fail('type', t, 'give at least one data type');
  return types.length === 1 ? types[0]! : [...types];
}

function jElement(item: Value | MapEntry, withData: boolean): Json {
  if (isMapEntry(item)) return withData ? [jValue(item.key), jMapData(item.data)] : jValue(item.key);
  return jValue(item);
}

function jSetLike(o: SetObj | MapObj, withBody: boolean, withElements: boolean): { [key: string]: Json } {
  const t = checkTable(o.table);
  const out: { [key: string]: Json } = { family: t.family, table: t.name, name: checkName(o.kind, o.name) };
  if (!withBody) return out;
  if (o.kind === 'set' && o.typeOf) fail(`set ${o.name} typeof`, o.typeOf.length, 'a set declared by typeof is sent in native syntax (see needsTextSyntax)');
  out.type = jKeyType(o.type);
  if (o.kind === 'map') out.map = o.data === 'verdict' ? 'verdict' : jKeyType(o.data);
  const flags = checkFlags(o.flags);
  if (flags.length) out.flags = [...flags];
  const elems: readonly (Value | MapEntry)[] = withElements ? (o.elements ?? []) : [];
  if (elems.length) out.elem = elems.map((e) => jElement(e, true));
  return out;
}

/** The object part of a command ({"table": {...}}) for the given verb; bare: without a base
 * chain's hook or a set's elements (the "add" of an idempotent delete). */
function jObject(obj: NftObject, verb: 'add' | 'create' | 'delete' | 'flush', bare = false): Json {
  switch (obj.kind) {
    case 'table': {
      const t = checkTable(obj);
      return { table: { family: t.family, name: t.name } };
    }
    case 'chain': {
      const t = checkTable(obj.table);
      const out: { [key: string]: Json } = { family: t.family, table: t.name, name: checkName('chain', obj.name) };
      const b = obj.base;
      if (b && (verb === 'add' || verb === 'create') && !bare) {
        if (!Number.isSafeInteger(b.priority)) fail('chain priority', b.priority, 'use an integer');
        out.type = b.type;
        out.hook = b.hook;
        out.prio = b.priority;
        if (b.device !== undefined) out.dev = checkString(b.device);
        if (b.policy) out.policy = b.policy;
      }
      return { chain: out };
    }
    case 'rule': {
      const t = checkTable(obj.table);
      const out: { [key: string]: Json } = { family: t.family, table: t.name, chain: checkName('chain', obj.chain) };
      if (verb === 'delete') {
        out.handle = checkNumber('rule handle', obj.handle ?? -1);
      } else {
        if (obj.statements.length === 0) fail('rule', obj.statements, 'a rule needs at least one statement');
        out.expr = obj.statements.map(jStatement);
        if (obj.comment !== undefined) out.comment = checkComment(obj.comment);
      }
      return { rule: out };
    }
    case 'set':
    case 'map':
      return { [obj.kind]: jSetLike(obj, verb === 'add' || verb === 'create', !bare) };
    case 'element': {
      const t = checkTable(obj.table);
      if (obj.items.length === 0) fail('element list', obj.items, 'give at least one element');
      return {
        element: {
          family: t.family,
          table: t.name,
          name: checkName('set', obj.set),
          elem: obj.items.map((e) => jElement(e, verb !== 'delete')),
        },
      };
    }
  }
}

/** The JSON commands of a batch, each with the index of the op it came from. */
export function renderNftJsonCommands(ops: readonly NftOp[]): RenderedCommand<Json>[] {
  checkBatch(ops);
  const out: RenderedCommand<Json>[] = [];
  ops.forEach((o, i) => {
    if (o.op === 'delete' && o.ifExists) {
      // nft 1.0.6 has no "destroy": adding first makes the delete find something to delete.
      out.push({ command: { add: jObject(o.obj, 'add', true) }, op: i });
    }
    out.push({ command: { [o.op]: jObject(o.obj, o.op) }, op: i });
  });
  return out;
}

export function renderNftJson(ops: readonly NftOp[]): NftJsonDocument {
  return { nftables: [{ metainfo: { json_schema_version: 1 } }, ...renderNftJsonCommands(ops).map((c) => c.command)] };
}

// ---------------------------------------------------------------------------------------------
// Native syntax (same batch, for the JSON parser's gaps). Values are quoted so no value can be
// read as a keyword; names cannot be quoted in nft 1.0.6, and one that is an nft keyword
// (e.g. "fwd", "counter") fails loudly with a syntax error rather than doing something else.

function tString(s: string): string {
  checkString(s);
  if (/["\\]/.test(s)) fail('string value', s, 'quotes and backslashes cannot be written in nft syntax');
  return `"${s}"`;
}

function tScalar(v: Scalar): string {
  if (typeof v === 'bigint') return hex(v);
  return typeof v === 'number' ? String(checkNumber('number value', v)) : tString(v);
}

function tValue(v: Value): string {
  if (typeof v !== 'object') return tScalar(v);
  if ('prefix' in v) return `${tString(v.prefix.addr)}/${checkNumber('prefix length', v.prefix.len)}`;
  if ('range' in v) return `${tScalar(v.range[0])}-${tScalar(v.range[1])}`;
  if (v.concat.length < 2) fail('tuple', v, 'a tuple needs at least two items');
  return v.concat.map((x) => tValue(x)).join(' . ');
}

function tVerdict(v: Verdict): string {
  return v.kind === 'jump' || v.kind === 'goto' ? `${v.kind} ${checkName('chain', v.target)}` : v.kind;
}

function tMapData(d: Value | Verdict): string {
  return isVerdict(d) ? tVerdict(d) : tValue(d);
}

function tExpr(e: Expr): string {
  switch (e.kind) {
    case 'meta':
      return `meta ${e.key}`;
    case 'payload':
      return `${e.protocol} ${e.field}`;
    case 'ct':
      return `ct ${e.key}`;
    case 'fib':
      return `fib ${e.flags.join(' . ')} ${e.result}`;
    case 'raw':
      return `@${e.base},${checkNumber('payload offset', e.offset)},${checkNumber('payload length', e.len)}`;
    case 'concat':
      if (e.items.length < 2 || e.items.some((x) => x.kind === 'concat')) fail('concatenation', e, 'use two or more non-concatenated expressions');
      return e.items.map(tExpr).join(' . ');
  }
}

function tRight(r: MatchRight): string {
  if (!isTagged(r)) return tValue(r);
  switch (r.kind) {
    case 'setRef':
      return `@${checkName('set', r.name)}`;
    case 'anonSet':
      return `{ ${r.items.map(tValue).join(', ')} }`;
    case 'flags':
      for (const f of r.items) if (!/^[a-z]+$/.test(f)) fail('flag', f, 'use a lowercase word such as established');
      return r.items.join(',');
  }
}

function tLookup(l: MapLookup): string {
  return `${tExpr(l.key)} map @${checkName('map', l.map)}`;
}

function tNat(s: Nat): string {
  const fam = s.family ? ` ${s.family}` : '';
  if (typeof s.addr !== 'string') {
    const port = s.port === undefined ? '' : ` : ${typeof s.port === 'object' && 'kind' in s.port ? tLookup(s.port) : tPort(s.port)}`;
    return `${s.kind}${fam} to ${tLookup(s.addr)}${port}`;
  }
  const addr = checkAddr(s.addr);
  if (s.port === undefined) return `${s.kind}${fam} to ${addr}`;
  if (typeof s.port === 'object' && 'kind' in s.port) return `${s.kind}${fam} to ${addr} : ${tLookup(s.port)}`;
  return `${s.kind}${fam} to ${isIP(addr) === 6 ? `[${addr}]` : addr}:${tPort(s.port)}`;
}

function tPort(p: number | Range): string {
  return typeof p === 'number' ? String(checkNumber('NAT port', p)) : tValue(p);
}

function tStatement(s: Statement): string {
  switch (s.kind) {
    case 'match':
      return `${tExpr(s.left)} ${s.op === '!=' ? '!= ' : ''}${tRight(s.right)}`;
    case 'counter':
    case 'masquerade':
    case 'notrack':
      return s.kind;
    case 'snat':
    case 'dnat':
      return tNat(s);
    case 'vmap':
      return `${tExpr(s.key)} vmap ${
        typeof s.map === 'string' ? `@${checkName('map', s.map)}` : `{ ${s.map.map((e) => `${tValue(e.key)} : ${tMapData(e.data)}`).join(', ')} }`
      }`;
    default:
      return tVerdict(s);
  }
}

function tKeyType(t: KeyType): string {
  const types = keyTypes(t);
  if (types.length === 0) fail('type', t, 'give at least one data type');
  return types.join(' . ');
}

function tElement(item: Value | MapEntry, withData: boolean): string {
  if (isMapEntry(item)) return withData ? `${tValue(item.key)} : ${tMapData(item.data)}` : tValue(item.key);
  return tValue(item);
}

function tTable(t: TableRef): string {
  checkTable(t);
  return `${t.family} ${t.name}`;
}

function tObject(obj: NftObject, verb: 'add' | 'create' | 'delete' | 'flush', bare = false): string {
  switch (obj.kind) {
    case 'table':
      return `table ${tTable(obj)}`;
    case 'chain': {
      const head = `chain ${tTable(obj.table)} ${checkName('chain', obj.name)}`;
      const b = obj.base;
      if (!b || bare || (verb !== 'add' && verb !== 'create')) return head;
      if (!Number.isSafeInteger(b.priority)) fail('chain priority', b.priority, 'use an integer');
      const dev = b.device === undefined ? '' : ` device ${tString(b.device)}`;
      const policy = b.policy ? ` policy ${b.policy};` : '';
      return `${head} { type ${b.type} hook ${b.hook}${dev} priority ${b.priority};${policy} }`;
    }
    case 'rule': {
      const head = `rule ${tTable(obj.table)} ${checkName('chain', obj.chain)}`;
      if (verb === 'delete') return `${head} handle ${checkNumber('rule handle', obj.handle ?? -1)}`;
      if (obj.statements.length === 0) fail('rule', obj.statements, 'a rule needs at least one statement');
      const comment = obj.comment === undefined ? '' : ` comment "${checkComment(obj.comment)}"`;
      return `${head} ${obj.statements.map(tStatement).join(' ')}${comment}`;
    }
    case 'set':
    case 'map': {
      const head = `${obj.kind} ${tTable(obj.table)} ${checkName(obj.kind, obj.name)}`;
      if (verb !== 'add' && verb !== 'create') return head;
      const data = obj.kind === 'map' ? ` : ${obj.data === 'verdict' ? 'verdict' : tKeyType(obj.data)}` : '';
      const flags = checkFlags(obj.flags);
      const elems: readonly (Value | MapEntry)[] = bare ? [] : (obj.elements ?? []);
      const key = obj.kind === 'set' && obj.typeOf ? `typeof ${obj.typeOf.map(tExpr).join(' . ')}` : `type ${tKeyType(obj.type)}`;
      const body = [
        `${key}${data};`,
        ...(flags.length ? [`flags ${flags.join(', ')};`] : []),
        ...(elems.length ? [`elements = { ${elems.map((e) => tElement(e, true)).join(', ')} };`] : []),
      ];
      return `${head} { ${body.join(' ')} }`;
    }
    case 'element':
      if (obj.items.length === 0) fail('element list', obj.items, 'give at least one element');
      return `element ${tTable(obj.table)} ${checkName('set', obj.set)} { ${obj.items.map((e) => tElement(e, verb !== 'delete')).join(', ')} }`;
  }
}

/** The native-syntax commands of a batch, one line each, with the op each came from. */
export function renderNftTextCommands(ops: readonly NftOp[]): RenderedCommand<string>[] {
  checkBatch(ops);
  const out: RenderedCommand<string>[] = [];
  ops.forEach((o, i) => {
    if (o.op === 'delete' && o.ifExists) out.push({ command: `add ${tObject(o.obj, 'add', true)}`, op: i });
    out.push({ command: `${o.op} ${tObject(o.obj, o.op)}`, op: i });
  });
  return out;
}

export function renderNftText(ops: readonly NftOp[]): string {
  return renderNftTextCommands(ops)
    .map((c) => `${c.command}\n`)
    .join('');
}
