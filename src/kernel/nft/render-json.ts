// An nft batch rendered as the libnftables JSON document (what berth applies).
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
  type Scalar,
  type SetObj,
  type Statement,
  type Value,
  type Verdict,
} from './model.js';
import {
  checkAddr,
  checkBatch,
  checkComment,
  checkFlags,
  checkName,
  checkNumber,
  checkString,
  checkTable,
  fail,
  hex,
  isTagged,
  type RenderedCommand,
} from './render-checks.js';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export interface NftJsonDocument {
  nftables: Json[];
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
