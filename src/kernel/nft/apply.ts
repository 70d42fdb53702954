// Applying nft batches in a chosen network namespace: one call = one atomic batch, sent through
// either engine (engines.ts). Reading rulesets back lives in listing.ts and state.ts; their
// exports are repeated here for callers that import everything nft from this module.
import { withNetns, type NetnsTarget } from '../netns.js';
import type { NftOp } from './model.js';
import { natMapsOf, needsTextSyntax, renderNftJsonCommands, renderNftTextCommands } from './render.js';
import { NftError, cleanError, pickEngine, run, type NftEngine, type NftTarget } from './engines.js';
import { gatheredNftBatch, gatherNftDeletions as gatherWith } from './gather.js';

export { NftError, nftLibraryAvailable, type NftEngine, type NftTarget } from './engines.js';
export { listNft, listNftChainComments, listNftChainCommentsByNft, readNftTable } from './listing.js';
export {
  findTable,
  readNftState,
  type NftChainState,
  type NftListing,
  type NftMapState,
  type NftRuleState,
  type NftSetState,
  type NftState,
  type NftTableState,
} from './state.js';

export type NftSyntax = 'json' | 'text';

export interface ApplyResult {
  readonly engine: NftEngine;
  readonly syntax: NftSyntax;
  /** commands sent (an idempotent delete counts two) */
  readonly commands: number;
}

function describeOp(o: NftOp): string {
  const obj = o.obj;
  const where = obj.kind === 'table' ? `${obj.family} ${obj.name}` : `${obj.table.family} ${obj.table.name}`;
  const name = obj.kind === 'table' ? '' : obj.kind === 'rule' ? ` ${obj.chain}` : obj.kind === 'element' ? ` ${obj.set}` : ` ${obj.name}`;
  return `${o.op} ${obj.kind} ${where}${name}`;
}

/**
 * Told of every batch applyNft sends, around its commit (before: nothing sent yet; after: ok is
 * whether it committed), in the calling thread: a cache of what the ruleset holds can tell its
 * own commits from others' by the ruleset generation (engine/firewall-cache.ts).
 */
export interface NftCommitObserver {
  before(netns: NetnsTarget | null): void;
  after(netns: NetnsTarget | null, ops: readonly NftOp[], ok: boolean): void;
}

const observers = new Set<NftCommitObserver>();

/** Observe applyNft's commits; returns the function that stops it. */
export function observeNftCommits(o: NftCommitObserver): () => void {
  observers.add(o);
  return () => void observers.delete(o);
}

/**
 * Apply ops as one atomic batch: all or nothing. Maps with concatenated data and typeof sets are
 * declared in native syntax (nft < 1.1 JSON cannot); everything else goes as JSON.
 */
export function applyNft(ops: readonly NftOp[], target: NftTarget = {}): ApplyResult {
  if (gatheredNftBatch(ops, target)) return { engine: pickEngine(target.engine), syntax: 'json', commands: 0 };
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

  const netns = target.netns ?? null;
  for (const o of observers) o.before(netns);
  const r = withNetns(netns, () => run(engine, input(cmds.length), { json: syntax === 'json', dryRun: false }));
  for (const o of observers) o.after(netns, ops, r.ok);
  if (r.ok) return { engine, syntax, commands: cmds.length };
  return withNetns(netns, () => {
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

/** Run fn with its idempotent element deletions in target's namespace committed as one batch at its end (gather.ts). */
export async function gatherNftDeletions<T>(target: NftTarget, fn: () => Promise<T>): Promise<T> {
  return (await gatherWith(target, fn, (ops, t) => applyNft(ops, t))).value;
}
