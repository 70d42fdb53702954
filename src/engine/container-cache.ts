// Every container record, decoded once and kept up to date from the store's change log
// (store.changesSince): a sweep over all containers (reconcile, before every command the daemon
// runs) reads and decodes only the records written since the last sweep, not all of them
// (issue 16: at 1000 containers the full decodes were a large part of each command).
import type { Store } from '../store/store.js';
import { asContainer, type Container } from './container-types.js';

export class ContainerCache {
  private seq: number | undefined;
  private readonly byId = new Map<string, Container>();
  /** records decoded so far (a count for tests: it must not grow with the containers per sweep) */
  decoded = 0;

  constructor(private readonly store: Store) {}

  /** Bring the cache up to date; the ids written since the last call, or 'all' after a full read. */
  refresh(): ReadonlySet<string> | 'all' {
    const changes = this.seq === undefined ? undefined : this.store.changesSince(this.seq);
    if (!changes) {
      // the seq first: whatever is written after it shows in the next changesSince
      this.seq = this.store.changesSeq();
      this.byId.clear();
      for (const r of this.store.listContainers()) this.byId.set(r.id, asContainer(r));
      this.decoded += this.byId.size;
      return 'all';
    }
    this.seq = changes.seq;
    const ids = new Set(changes.changes.filter((c) => c.kind === 'container').map((c) => c.id));
    for (const id of ids) {
      const r = this.store.findContainer(id);
      // findContainer also matches names and id prefixes: only the exact id is this container
      if (r?.id === id) {
        this.byId.set(id, asContainer(r));
        this.decoded++;
      } else {
        this.byId.delete(id);
      }
    }
    return ids;
  }

  /** The containers as of the last refresh, in no particular order. */
  values(): IterableIterator<Container> {
    return this.byId.values();
  }
}

const caches = new WeakMap<Store, ContainerCache>();

/** The cache of this store (one per open store: the daemon's lives as long as the daemon). */
export function containerCache(store: Store): ContainerCache {
  let c = caches.get(store);
  if (!c) caches.set(store, (c = new ContainerCache(store)));
  return c;
}
