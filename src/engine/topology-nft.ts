// The elements of berth's nft tables (`inet berth`, `bridge berth`) that concern one topology
// node, read from the kernel now (libnftables' listing), not from the store: what the node's
// details show. An element concerns the node when one of its values is one of the node's
// addresses, subnets' network addresses, MACs or interface names.
import { BERTH_TABLE } from '../drivers/bridge/firewall.js';
import { SPOOF_TABLE } from '../drivers/bridge/spoof-guard.js';
import { listNft } from '../kernel/nft/listing.js';
import type { MapEntry, Value } from '../kernel/nft/model.js';
import { findTable, readNftState, type NftTableState } from '../kernel/nft/state.js';
import type { Engine } from './context.js';

const text = (v: unknown): string => {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') return String(v);
  if (typeof v !== 'object' || v === null) return JSON.stringify(v);
  if ('prefix' in v) return `${(v as { prefix: { addr: string; len: number } }).prefix.addr}/${(v as { prefix: { addr: string; len: number } }).prefix.len}`;
  if ('range' in v) return (v as { range: unknown[] }).range.map(text).join('-');
  if ('concat' in v) return (v as { concat: unknown[] }).concat.map(text).join(' . ');
  if ('kind' in v) return String((v as { kind: string; target?: string }).kind) + ((v as { target?: string }).target ? ` ${(v as { target?: string }).target}` : '');
  return JSON.stringify(v);
};

/** Every scalar in a value (a prefix counts by its network address). */
function leaves(v: unknown, out: string[] = []): string[] {
  if (typeof v === 'string' || typeof v === 'number' || typeof v === 'bigint') out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) leaves(x, out);
  else if (typeof v === 'object' && v !== null) for (const x of Object.values(v)) leaves(x, out);
  return out;
}

const isEntry = (e: Value | MapEntry): e is MapEntry => typeof e === 'object' && e !== null && 'key' in e && 'data' in e;

/** Tokens: addresses (without their prefix length), MACs, interface names. */
export function liveNftElements(engine: Engine, tokens: readonly string[]): string[] {
  const want = new Set(tokens.map((t) => t.split('/')[0]?.toLowerCase() ?? '').filter((t) => t !== ''));
  if (!want.size) return [];
  const out: string[] = [];
  for (const ref of [BERTH_TABLE, SPOOF_TABLE]) {
    let t: NftTableState | undefined;
    try {
      t = findTable(readNftState(listNft({ netns: engine.hostNetns, table: ref })), ref);
    } catch {
      // no such table (nothing guarded yet): nothing of it concerns the node
      continue;
    }
    if (!t) continue;
    for (const s of [...t.sets, ...t.maps]) {
      for (const e of s.elements as readonly (Value | MapEntry)[]) {
        if (!leaves(e).some((l) => want.has(l.toLowerCase()))) continue;
        out.push(`${ref.family} ${ref.name} ${s.name}: ${isEntry(e) ? `${text(e.key)} : ${text(e.data)}` : text(e)}`);
      }
    }
  }
  return out;
}
