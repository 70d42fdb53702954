// Listing what nft holds in a chosen network namespace: the ruleset or one table (as JSON), or
// only the rule comments of one chain.
import { withNetns } from '../netns.js';
import { readChainComments } from './chain-comments.js';
import type { TableRef } from './model.js';
import type { Json } from './render-json.js';
import { NftError, cleanError, pickEngine, run, type NftTarget } from './engines.js';
import { findTable, readNftState, type NftListing, type NftTableState } from './state.js';

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
 * missing. Cheap enough for every call: read over nfnetlink (chain-comments.ts), it costs the
 * chain's rules whatever the table's sets and maps hold; nft's listing only if that fails.
 */
export function listNftChainComments(ref: TableRef, chainName: string, target: NftTarget = {}): (string | undefined)[] | undefined {
  if (target.engine === undefined) {
    try {
      return readChainComments(ref, chainName, target.netns ?? null);
    } catch {
      // an answer this reader did not expect: nft's own listing below says what is there
    }
  }
  return listNftChainCommentsByNft(ref, chainName, target);
}

/** listNftChainComments through nft's listing (its cache holds every set and map of the table: slower). */
export function listNftChainCommentsByNft(ref: TableRef, chainName: string, target: NftTarget = {}): (string | undefined)[] | undefined {
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

/** The table as it is in the kernel now, or undefined if there is none. */
export function readNftTable(ref: TableRef, target: NftTarget = {}): NftTableState | undefined {
  return findTable(readNftState(listNft(target)), ref);
}
