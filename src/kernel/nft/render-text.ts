// The same batch in nft's native syntax, only for what this nft's JSON parser cannot say (before
// nftables 1.1.0, JSON cannot declare a map whose data is a concatenation, nor a typeof set).
// Values are quoted so no value can be read as a keyword; names cannot be quoted in nft 1.0.6,
// and one that is an nft keyword (e.g. "fwd", "counter") fails loudly with a syntax error rather
// than doing something else.
import { isIP } from 'node:net';
import {
  isMapEntry,
  isVerdict,
  keyTypes,
  type Expr,
  type KeyType,
  type MapEntry,
  type MapLookup,
  type MatchRight,
  type Nat,
  type NftObject,
  type NftOp,
  type Range,
  type Scalar,
  type Statement,
  type TableRef,
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
