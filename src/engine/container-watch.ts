// The daemon's watch over running containers: a pidfd on each one's shim (and on the berth
// process waiting for a foreground one), so that a shim killed with -9 is reconciled the moment
// it dies (src/engine/reconcile.ts): Exited (137), ports, address and namespace released. Idle it
// costs one `data_version` read per interval to notice new containers, nothing per container.
import { ProcessExitWatcher } from '../kernel/pidfd.js';
import type { Engine } from './context.js';
import type { ContainerRecord } from '../store/store.js';
import type { ContainerConfig, ContainerState, Container } from './container-types.js';
import { isSameProcessAlive, setLivenessHint } from './process.js';
import { reconcileContainer } from './reconcile.js';

export class ContainerWatch {
  private readonly watcher: ProcessExitWatcher;
  private readonly timer: NodeJS.Timeout | undefined;
  private lastVersion = -1;
  /** the change log's seq the watch is up to; undefined: not looked yet */
  private seq: number | undefined;
  /** pid -> start time of the processes watched, verified when their pidfd was opened */
  private readonly alive = new Map<number, string>();

  constructor(
    private readonly engine: Engine,
    private readonly log: (line: string) => void,
    /** 0: no timer of its own, the caller calls sync() (the daemon's one idle tick) */
    intervalMs = 250,
  ) {
    this.watcher = new ProcessExitWatcher((err) => log(`container watch: ${err.message}`));
    setLivenessHint((pid, start) => this.knowsAlive(pid, start));
    this.sync();
    this.timer = intervalMs > 0 ? setInterval(() => this.sync(), intervalMs) : undefined;
  }

  /**
   * After a store change: watch the processes of every running container not watched yet. Only
   * the containers written since the last look are read (the store's change log), unless the log
   * no longer reaches back that far.
   */
  sync(): void {
    let version: number;
    try {
      version = this.engine.store.dataVersion();
    } catch (err) {
      return this.log(`container watch: ${(err as Error).message}`);
    }
    if (version === this.lastVersion) return;
    this.lastVersion = version;
    const store = this.engine.store;
    const changes = this.seq === undefined ? undefined : store.changesSince(this.seq);
    if (!changes) {
      this.seq = store.changesSeq();
      for (const r of store.listContainers()) this.watchRecord(r);
      return;
    }
    this.seq = changes.seq;
    for (const id of new Set(changes.changes.filter((c) => c.kind === 'container').map((c) => c.id))) {
      const r = store.findContainer(id);
      if (r?.id === id) this.watchRecord(r);
    }
  }

  private watchRecord(r: ContainerRecord): void {
    const state = r.state as ContainerState;
    if (state.status !== 'running') return;
    for (const [pid, start] of [[state.pid, state.pidStart], [state.waiterPid, state.waiterStart]] as const) {
      if (!pid || this.watcher.has(pid)) continue;
      const ended = () => {
        this.alive.delete(pid);
        void this.ended(r.id);
      };
      // checked after opening the pidfd: it then refers to exactly the process the record names
      if (this.watcher.watch(pid, ended) && isSameProcessAlive(pid, start)) {
        if (start) this.alive.set(pid, start);
        continue;
      }
      this.watcher.unwatch(pid);
      ended();
    }
  }

  /** pid (started at start) is watched and its end not reported yet: alive, no /proc read needed */
  knowsAlive(pid: number, start: string): boolean {
    return this.alive.get(pid) === start;
  }

  private async ended(id: string): Promise<void> {
    const r = this.engine.store.findContainer(id);
    if (!r) return;
    const c: Container = { id: r.id, name: r.name, created: r.created, config: r.config as ContainerConfig, state: r.state as ContainerState };
    try {
      const what = await reconcileContainer(this.engine, c);
      if (what) this.log(`container ${c.name}: its shim ended without recording the end (${what}); released its network`);
    } catch (err) {
      this.log(`container ${c.name}: cannot record its end: ${(err as Error).message}`);
    }
  }

  close(): void {
    setLivenessHint(undefined);
    this.alive.clear();
    clearInterval(this.timer);
    this.watcher.close();
  }
}
