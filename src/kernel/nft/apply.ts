// Applying nft batches and reading rulesets back, in a chosen network namespace. libnftables is
// called in-process through koffi (a context per call, created inside the namespace so its
// netlink socket lives there); `nft -f -` spawned inside the namespace is the fallback. Both take
// the same input and give the same results. One call = one atomic batch.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { SystemError } from '../../common/errors.js';
import { withNetns, type NetnsTarget } from '../netns.js';
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
  type NftOp,
  type TableRef,
  type Value,
  type Verdict,
} from './model.js';
import { natMapsOf, needsTextSyntax, renderNftJsonCommands, renderNftTextCommands, type Json } from './render.js';

export type NftEngine = 'library' | 'process';
export type NftSyntax = 'json' | 'text';

export interface NftTarget {
  /** namespace to act in (nsfs path or fd); null/absent: the one berth runs in */
  readonly netns?: NetnsTarget | null;
  /** default: library when it loads, else process */
  readonly engine?: NftEngine;
}

export interface ApplyResult {
  readonly engine: NftEngine;
  readonly syntax: NftSyntax;
  /** commands sent (an idempotent delete counts two) */
  readonly commands: number;
}

/** nft refused a batch (or a listing). Nothing in the batch was applied. */
export class NftError extends SystemError {
  constructor(
    message: string,
    /** nft's own error text */
    readonly nftMessage: string,
    /** index of the failing command in the batch (JSON: not counting metainfo), when known */
    readonly commandIndex?: number,
    /** index of the operation that command came from, when known */
    readonly opIndex?: number,
  ) {
    super(message);
  }
}

// ---------------------------------------------------------------------------------------------
// Engines

interface RunResult {
  ok: boolean;
  output: string;
  error: string;
}
interface RunOptions {
  json: boolean;
  dryRun: boolean;
}

const NFT_CTX_DEFAULT = 0;
const NFT_CTX_OUTPUT_JSON = 1 << 4;

interface NftLibrary {
  ctxNew(flags: number): unknown;
  ctxFree(ctx: unknown): void;
  getFlags(ctx: unknown): number;
  setFlags(ctx: unknown, flags: number): void;
  bufferOutput(ctx: unknown): number;
  bufferError(ctx: unknown): number;
  getOutput(ctx: unknown): string | null;
  getError(ctx: unknown): string | null;
  setDryRun(ctx: unknown, dry: boolean): void;
  run(ctx: unknown, buf: string): number;
}

let library: NftLibrary | null | undefined;

function loadLibrary(): NftLibrary | null {
  if (library !== undefined) return library;
  try {
    const lib = koffi.load('libnftables.so.1');
    const f = (sig: string) => lib.func(sig) as (...args: unknown[]) => unknown;
    const ctxNew = f('void *nft_ctx_new(uint32_t flags)');
    const ctxFree = f('void nft_ctx_free(void *ctx)');
    const getFlags = f('unsigned int nft_ctx_output_get_flags(void *ctx)');
    const setFlags = f('void nft_ctx_output_set_flags(void *ctx, unsigned int flags)');
    const bufferOutput = f('int nft_ctx_buffer_output(void *ctx)');
    const bufferError = f('int nft_ctx_buffer_error(void *ctx)');
    const getOutput = f('const char *nft_ctx_get_output_buffer(void *ctx)');
    const getError = f('const char *nft_ctx_get_error_buffer(void *ctx)');
    const setDryRun = f('void nft_ctx_set_dry_run(void *ctx, bool dry)');
    const run = f('int nft_run_cmd_from_buffer(void *ctx, const char *buf)');
    library = {
      ctxNew: (flags) => ctxNew(flags),
      ctxFree: (ctx) => void ctxFree(ctx),
      getFlags: (ctx) => getFlags(ctx) as number,
      setFlags: (ctx, flags) => void setFlags(ctx, flags),
      bufferOutput: (ctx) => bufferOutput(ctx) as number,
      bufferError: (ctx) => bufferError(ctx) as number,
      getOutput: (ctx) => getOutput(ctx) as string | null,
      getError: (ctx) => getError(ctx) as string | null,
      setDryRun: (ctx, dry) => void setDryRun(ctx, dry),
      run: (ctx, buf) => run(ctx, buf) as number,
    };
  } catch {
    library = null;
  }
  return library;
}

/** True when libnftables can be called in-process. */
export function nftLibraryAvailable(): boolean {
  return loadLibrary() !== null;
}

function runLibrary(lib: NftLibrary, input: string, o: RunOptions): RunResult {
  const ctx = lib.ctxNew(NFT_CTX_DEFAULT);
  if (ctx === null) throw new SystemError('libnftables: nft_ctx_new failed');
  try {
    // The JSON output flag is also what makes libnftables parse its input as JSON.
    if (o.json) lib.setFlags(ctx, lib.getFlags(ctx) | NFT_CTX_OUTPUT_JSON);
    if (o.dryRun) lib.setDryRun(ctx, true);
    lib.bufferOutput(ctx);
    lib.bufferError(ctx);
    const rc = lib.run(ctx, input);
    return { ok: rc === 0, output: lib.getOutput(ctx) ?? '', error: lib.getError(ctx) ?? '' };
  } finally {
    lib.ctxFree(ctx);
  }
}

let nftBinary: string | undefined;
function nftPath(): string {
  nftBinary ??= ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p)) ?? 'nft';
  return nftBinary;
}

function runProcess(input: string, o: RunOptions): RunResult {
  // `nft -f -` opens /dev/stdin, which fails (ENXIO) on the socket Node gives a child as stdin:
  // hand it a private file instead.
  const dir = mkdtempSync(join(tmpdir(), 'berth-nft-'));
  try {
    const file = join(dir, o.json ? 'batch.json' : 'batch.nft');
    writeFileSync(file, input, { mode: 0o600 });
    const args = [...(o.json ? ['-j'] : []), ...(o.dryRun ? ['-c'] : []), '-f', file];
    const r = spawnSync(nftPath(), args, { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) throw new SystemError(`cannot run ${nftPath()}: ${r.error.message}`, { cause: r.error });
    // Name the input as libnftables does, so both engines report errors alike.
    const stderr = r.stderr.replaceAll(file, '<cmdline>');
    if (r.signal) return { ok: false, output: r.stdout, error: `nft was killed by ${r.signal}\n${stderr}` };
    return { ok: r.status === 0, output: r.stdout, error: stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function pickEngine(wanted: NftEngine | undefined): NftEngine {
  if (wanted === 'process') return 'process';
  if (loadLibrary()) return 'library';
  if (wanted === 'library') throw new SystemError('libnftables.so.1 cannot be loaded: install libnftables1 or use the nft process engine');
  return 'process';
}

function run(engine: NftEngine, input: string, o: RunOptions): RunResult {
  return engine === 'library' ? runLibrary(loadLibrary()!, input, o) : runProcess(input, o);
}

// ---------------------------------------------------------------------------------------------
// Applying

function describeOp(o: NftOp): string {
  const obj = o.obj;
  const where = obj.kind === 'table' ? `${obj.family} ${obj.name}` : `${obj.table.family} ${obj.table.name}`;
  const name = obj.kind === 'table' ? '' : obj.kind === 'rule' ? ` ${obj.chain}` : obj.kind === 'element' ? ` ${obj.set}` : ` ${obj.name}`;
  return `${o.op} ${obj.kind} ${where}${name}`;
}

function cleanError(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^internal:0:0-0: /, '').trim())
    .filter((l) => l !== '')
    .join('; ');
}

/**
 * Apply ops as one atomic batch: all or nothing. Maps with concatenated data and typeof sets are
 * declared in native syntax (nft < 1.1 JSON cannot); everything else goes as JSON.
 */
export function applyNft(ops: readonly NftOp[], target: NftTarget = {}): ApplyResult {
  const syntax: NftSyntax = needsTextSyntax(ops) ? 'text' : 'json';
  // nft 1.0.6 segfaults on some misuses of NAT map lookups: keep those batches out of our process.
  const risky = ops.some((o) => (o.op === 'add' || o.op === 'create') && o.obj.kind === 'rule' && natMapsOf(o.obj.statements).length > 0);
  const engine = pickEngine(target.engine ?? (risky ? 'process' : undefined));
  const cmds =
    syntax === 'json'
      ? renderNftJsonCommands(ops).map((c) => ({ text: JSON.stringify(c.command), op: c.op }))
      : renderNftTextCommands(ops).map((c) => ({ text: c.command, op: c.op }));
  if (cmds.length === 0) return { engine, syntax, commands: 0 };
  const input = (n: number) =>
    syntax === 'json'
      ? `{"nftables":[{"metainfo":{"json_schema_version":1}},${cmds.slice(0, n).map((c) => c.text).join(',')}]}`
      : cmds.slice(0, n).map((c) => `${c.text}\n`).join('');

  return withNetns(target.netns ?? null, () => {
    const r = run(engine, input(cmds.length), { json: syntax === 'json', dryRun: false });
    if (r.ok) return { engine, syntax, commands: cmds.length };
    const index = failingCommand(r.error, cmds.length, (n) => run(engine, input(n), { json: syntax === 'json', dryRun: true }).ok);
    const text = cleanError(r.error) || 'no error text';
    if (index === undefined) throw new NftError(`nft rejected the batch of ${cmds.length} commands: ${text}`, r.error);
    const opIndex = cmds[index]!.op;
    throw new NftError(
      `nft rejected command ${index} of ${cmds.length} (${describeOp(ops[opIndex]!)}): ${text}`,
      r.error,
      index,
      opIndex,
    );
  });
}

/**
 * Which command failed. JSON parse errors name it; otherwise check growing prefixes of the
 * batch in dry-run mode (checked by the kernel, then aborted) to find the first that fails.
 */
function failingCommand(error: string, count: number, prefixOk: (n: number) => boolean): number | undefined {
  const parsed = /Parsing command array at index (\d+) failed/.exec(error);
  if (parsed) return Number(parsed[1]) - 1; // index 0 is our metainfo object
  if (count === 1) return 0;
  let lo = 0;
  let hi = count - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (prefixOk(mid + 1)) lo = mid + 1;
    else hi = mid;
  }
  return prefixOk(lo + 1) ? undefined : lo;
}

// ---------------------------------------------------------------------------------------------
// Listing

/** `nft -j list ruleset|table` output, parsed. */
export interface NftListing {
  readonly nftables: readonly { readonly [key: string]: Json }[];
}

export function listNft(target: NftTarget & { readonly table?: TableRef } = {}): NftListing {
  const engine = pickEngine(target.engine);
  const cmd = target.table
    ? { list: { table: { family: target.table.family, name: target.table.name } } }
    : { list: { ruleset: null } };
  const r = withNetns(target.netns ?? null, () => run(engine, JSON.stringify({ nftables: [cmd] }), { json: true, dryRun: false }));
  const what = target.table ? `table ${target.table.family} ${target.table.name}` : 'ruleset';
  if (!r.ok) throw new NftError(`nft cannot list ${what}: ${cleanError(r.error) || 'no error text'}`, r.error);
  if (r.output.trim() === '') return { nftables: [] };
  return JSON.parse(r.output) as NftListing;
}

/**
 * The comments of the rules of one chain, in order, or undefined if the table or chain is
 * missing. Cheap enough for every call: it does not list sets and maps.
 */
export function listNftChainComments(ref: TableRef, chainName: string, target: NftTarget = {}): (string | undefined)[] | undefined {
  const engine = pickEngine(target.engine);
  const cmd = { list: { chain: { family: ref.family, table: ref.name, name: chainName } } };
  const r = withNetns(target.netns ?? null, () => run(engine, JSON.stringify({ nftables: [cmd] }), { json: true, dryRun: false }));
  if (!r.ok) {
    if (/No such file or directory|does not exist/i.test(r.error)) return undefined;
    throw new NftError(`nft cannot list chain ${ref.family} ${ref.name} ${chainName}: ${cleanError(r.error) || 'no error text'}`, r.error);
  }
  const listing = JSON.parse(r.output || '{"nftables":[]}') as NftListing;
  return listing.nftables
    .filter((o) => 'rule' in o)
    .map((o) => {
      const c = (o.rule as { comment?: Json }).comment;
      return typeof c === 'string' ? c : undefined;
    });
}

// ---------------------------------------------------------------------------------------------
// Reading a listing back into the model

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

/** The table as it is in the kernel now, or undefined if there is none. */
export function readNftTable(ref: TableRef, target: NftTarget = {}): NftTableState | undefined {
  return findTable(readNftState(listNft(target)), ref);
}
