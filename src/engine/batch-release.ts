// Releasing many containers in one go (`rm -f` of many ids). Per container the release costs an
// nft commit that waits an RCU grace period (~14 ms), a deletion of its veth's host end that
// waits another (~20 ms), and a read of every container record (to find the ones that joined its
// namespace): at 1000 containers that was 80+ s. Inside batchedRelease the nft deletions are
// committed as one batch (kernel/nft/gather.ts), the host ends left to the namespaces' deletion
// are awaited together (the kernel's cleanup_net destroys many namespaces per grace period) and
// only the stragglers deleted, and the joined containers are looked up in one index.
import { AsyncLocalStorage } from 'node:async_hooks';
import { trace } from '../common/trace.js';
import { deleteLinkByIndex, listLinks } from '../kernel/links.js';
import { gatherNftDeletions } from '../kernel/nft/apply.js';
import { withRtnl } from '../kernel/rtnl.js';
import type { Engine } from './context.js';
import { joinedContainerId } from './network-mode.js';
import { sleep } from './process.js';

interface Batch {
  /** host ends of veths left to their sandbox's deletion */
  readonly veths: string[];
  /** container id -> ids of the containers that joined its namespace (--network container:ID) */
  readonly joined: Map<string, string[]>;
}

const batch = new AsyncLocalStorage<Batch>();

/** Inside batchedRelease: take these host ends to finish at the batch's end (true); false outside. */
export function deferVeths(names: readonly string[]): boolean {
  const b = batch.getStore();
  if (!b) return false;
  b.veths.push(...names);
  return true;
}

/** Inside batchedRelease: ids of the containers that joined id's namespace; undefined outside (read the store). */
export function batchJoinedIds(id: string): string[] | undefined {
  return batch.getStore()?.joined.get(id) ?? (batch.getStore() ? [] : undefined);
}

/** How long the kernel gets to destroy the deleted namespaces' veths before berth deletes the rest. */
const KERNEL_GRACE_MS = 5000;

/** Run fn (releasing many containers) with its releases batched; see the top of this file. */
export async function batchedRelease<T>(engine: Engine, fn: () => Promise<T>): Promise<T> {
  const joined = new Map<string, string[]>();
  for (const r of engine.store.listContainers()) {
    const target = joinedContainerId((r.config as { networkMode?: string }).networkMode ?? '');
    if (target) joined.set(target, [...(joined.get(target) ?? []), r.id]);
  }
  const b: Batch = { veths: [], joined };
  try {
    return await gatherNftDeletions({ netns: engine.hostNetns }, () => batch.run(b, fn));
  } finally {
    trace(`batch: released, nft committed; ${b.veths.length} veths left to their namespaces`);
    await finishVeths(engine, b.veths);
    trace('batch: veths gone');
  }
}

/** Wait (bounded) for the kernel to destroy these host ends with their namespaces; delete what is left. */
async function finishVeths(engine: Engine, names: readonly string[]): Promise<void> {
  if (!names.length) return;
  const want = new Set(names);
  const deadline = Date.now() + KERNEL_GRACE_MS;
  await withRtnl(engine.hostNetns, async (nl) => {
    for (;;) {
      const left = (await listLinks(nl)).filter((l) => want.has(l.name));
      if (!left.length) return;
      if (Date.now() > deadline) {
        for (const l of left) await deleteLinkByIndex(nl, l.index);
        return;
      }
      await sleep(25);
    }
  });
}
