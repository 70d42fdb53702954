// Checks shared by both renderings of an nft batch (JSON and native syntax): every name, value and
// comment is checked before it is written, so no input can change what a command means, and a
// few checks look at the whole batch. Also the batch-level facts that pick the syntax.
import { isIP } from 'node:net';
import { UserError } from '../../common/errors.js';
import { keyTypes, type MatchRight, type NftOp, type SetFlag, type Statement, type TableRef } from './model.js';

/** One rendered command and the index of the operation it came from (one op may give two). */
export interface RenderedCommand<T> {
  readonly command: T;
  readonly op: number;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const FAMILIES = new Set(['inet', 'ip', 'ip6', 'bridge', 'netdev']);
const SET_FLAGS = new Set<SetFlag>(['constant', 'interval', 'timeout']);
const COMMENT_MAX = 128;

export function fail(what: string, value: unknown, accepted: string): never {
  throw new UserError(`invalid nft ${what} ${JSON.stringify(value)}: ${accepted}`);
}

export function checkName(what: string, name: string): string {
  if (!NAME.test(name)) fail(`${what} name`, name, 'use 1-64 characters from [A-Za-z0-9_.-], starting with a letter or "_"');
  return name;
}

export function checkTable(t: TableRef): TableRef {
  if (!FAMILIES.has(t.family)) fail('table family', t.family, 'use inet, ip, ip6, bridge or netdev');
  checkName('table', t.name);
  return t;
}

export function checkString(s: string): string {
  // '@' would read as a set reference; control characters have no business in nft values.
  // eslint-disable-next-line no-control-regex
  if (s.length === 0 || s.startsWith('@') || /[\x00-\x1f\x7f]/.test(s)) {
    fail('string value', s, 'use a non-empty string without control characters, not starting with "@"');
  }
  return s;
}

export function checkNumber(what: string, n: number): number {
  if (!Number.isSafeInteger(n) || n < 0) fail(what, n, 'use a non-negative integer');
  return n;
}

export function checkAddr(addr: string): string {
  if (isIP(addr) === 0) fail('NAT address', addr, 'use an IPv4 or IPv6 address');
  return addr;
}

export function checkComment(c: string): string {
  // eslint-disable-next-line no-control-regex
  if (Buffer.byteLength(c) > COMMENT_MAX || /[\x00-\x1f\x7f"\\]/.test(c)) {
    fail('comment', c, `use at most ${COMMENT_MAX} bytes without quotes, backslashes or control characters`);
  }
  return c;
}

export function checkFlags(flags: readonly SetFlag[] | undefined): readonly SetFlag[] {
  for (const f of flags ?? []) if (!SET_FLAGS.has(f)) fail('set flag', f, 'use constant, interval or timeout');
  return flags ?? [];
}

/**
 * Checks on the whole batch that need more than one op. nft 1.0.6 crashes (SIGSEGV) on a NAT
 * map lookup whose target is a set, so a batch that declares a set and uses it as a map is refused.
 */
export function checkBatch(ops: readonly NftOp[]): void {
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

/** A bigint as nft reads it in both syntaxes: hexadecimal. */
export function hex(v: bigint): string {
  if (v < 0n) fail('integer value', String(v), 'use a non-negative integer');
  return `0x${v.toString(16)}`;
}

/** A match's right side that is a set reference, anonymous set or flag list, not a plain value. */
export function isTagged(r: MatchRight): r is Extract<MatchRight, { kind: string }> {
  return typeof r === 'object' && 'kind' in r;
}
