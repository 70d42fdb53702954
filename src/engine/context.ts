// One engine per process: where berth keeps things, and the store, opened on first use.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { berthPaths, type BerthPaths } from '../common/config.js';
import { SqliteStore } from '../store/sqlite.js';
import type { Store } from '../store/store.js';
import type { OverlayCluster } from '../drivers/overlay/cluster.js';

export class Engine {
  readonly paths: BerthPaths;
  private storeInstance: Store | undefined;
  /** Set by a daemon joined to a cluster (--cluster-store): what overlay networks go through. */
  cluster: OverlayCluster | undefined;

  constructor(env: NodeJS.ProcessEnv = process.env) {
    this.paths = berthPaths(env);
  }

  get store(): Store {
    this.storeInstance ??= new SqliteStore(this.paths.root);
    return this.storeInstance;
  }

  /** berth acts on the network namespace it runs in: "the host". */
  readonly hostNetns = null;

  containerDir(id: string): string {
    return join(this.paths.run, 'containers', id);
  }

  netnsPath(id: string): string {
    return join(this.paths.netnsDir, id);
  }

  ensureRunDirs(): void {
    mkdirSync(join(this.paths.run, 'containers'), { recursive: true, mode: 0o711 });
    mkdirSync(this.paths.netnsDir, { recursive: true, mode: 0o755 });
  }

  close(): void {
    this.storeInstance?.close();
    this.storeInstance = undefined;
  }
}
