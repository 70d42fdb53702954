// Following a key prefix in etcd as a stream of changes to a local view, without gaps:
//
//   1. read the prefix at revision R and deliver it as one 'snapshot';
//   2. watch from R + 1, so every change after the read arrives, however late the watch starts;
//   3. after the watch stream was lost (member died, all members down and back) or was cancelled
//      by etcd (history compacted), read the prefix again and deliver the difference to the view
//      as 'put'/'delete' changes, then carry on watching from there.
//
// While no member answers nothing is delivered and the view stays as it was: a consumer keeps
// its last known state (kernel entries stay, traffic keeps flowing) rather than tearing it down.
import type { Etcd3, IKeyValue, Watcher } from 'etcd3';
import { bounded, rangePrefix } from './cluster-etcd.js';

export type WatchChange<T> =
  | { type: 'snapshot'; items: T[]; revision: number }
  | { type: 'put'; item: T; previous: T | undefined; revision: number }
  | { type: 'delete'; item: T; revision: number };

export interface WatchOptions {
  /** Stream state: 'disconnected' when the watch stream broke, 'connected' once resumed. */
  onStatus?: (status: 'connected' | 'disconnected', error?: Error) => void;
  /** An exception thrown by onChange; default: a process warning. The watch carries on. */
  onError?: (error: unknown) => void;
}

/** Turns a stored key/value into a record, or undefined to ignore the key. */
export type Decoder<T> = (key: string, value: Buffer) => T | undefined;

interface Entry<T> {
  item: T;
  modRevision: number;
}

const RETRY_MS = 1000;

export class ClusterWatch<T> {
  private readonly view = new Map<string, Entry<T>>();
  /** Changes at or below this revision are already in the view (from the last read). */
  private floor = 0;
  private watcher: Watcher | undefined;
  private needsReconcile = false;
  private reconciling: Promise<void> | undefined;
  /** Events that arrived while a read was in flight, applied after it. */
  private queued: { type: 'put' | 'delete'; kv: IKeyValue }[] = [];
  private cancelled = false;
  private retryTimer: NodeJS.Timeout | undefined;

  private constructor(
    private readonly client: Etcd3,
    private readonly endpoints: readonly string[],
    private readonly timeoutMs: number,
    readonly prefix: string,
    private readonly decode: Decoder<T>,
    private readonly onChange: (change: WatchChange<T>) => void,
    private readonly opts: WatchOptions,
  ) {}

  /** Read the prefix, deliver the snapshot, start watching. Throws ClusterUnreachableError if the read fails. */
  static async start<T>(
    client: Etcd3,
    endpoints: readonly string[],
    timeoutMs: number,
    prefix: string,
    decode: Decoder<T>,
    onChange: (change: WatchChange<T>) => void,
    opts: WatchOptions = {},
  ): Promise<ClusterWatch<T>> {
    const w = new ClusterWatch(client, endpoints, timeoutMs, prefix, decode, onChange, opts);
    const { kvs, revision } = await bounded(endpoints, timeoutMs, () => rangePrefix(client, prefix));
    for (const kv of kvs) {
      const item = w.decodeKv(kv);
      if (item !== undefined) w.view.set(kv.key.toString(), { item, modRevision: Number(kv.mod_revision) });
    }
    w.floor = revision;
    w.emit({ type: 'snapshot', items: w.current(), revision });
    w.startWatcher();
    return w;
  }

  /** The view now: every record under the prefix as last seen. */
  current(): T[] {
    return [...this.view.values()].map((e) => e.item);
  }

  /** Stop watching. Resolves even when no member answers (the stream is dropped locally). */
  async cancel(): Promise<void> {
    if (this.cancelled) return;
    this.cancelled = true;
    clearTimeout(this.retryTimer);
    const w = this.watcher;
    this.watcher = undefined;
    if (w) {
      w.removeAllListeners();
      w.on('error', () => undefined);
      // etcd3's cancel waits for the server's confirmation, which never comes with no member up.
      await Promise.race([w.cancel().catch(() => undefined), new Promise((r) => setTimeout(r, 1000).unref())]);
    }
  }

  private decodeKv(kv: IKeyValue): T | undefined {
    try {
      return this.decode(kv.key.toString(), kv.value);
    } catch (e) {
      this.opts.onError?.(e);
      return undefined;
    }
  }

  private emit(change: WatchChange<T>): void {
    try {
      this.onChange(change);
    } catch (e) {
      if (this.opts.onError) this.opts.onError(e);
      else process.emitWarning(`cluster store watch of ${this.prefix}: change handler threw: ${e instanceof Error ? e.message : String(e)}`);
    }
  }

  private startWatcher(): void {
    if (this.cancelled) return;
    const w = this.client.watch().prefix(this.prefix).startRevision(String(this.floor + 1)).watcher();
    this.watcher = w;
    w.on('put', (kv) => this.onEvent('put', kv));
    w.on('delete', (kv) => this.onEvent('delete', kv));
    w.on('disconnected', (err) => {
      this.needsReconcile = true;
      this.opts.onStatus?.('disconnected', err);
    });
    w.on('connected', () => {
      this.opts.onStatus?.('connected');
      // etcd3 resumes from the last revision it saw; reading again also covers a stream that
      // broke between the create response and the first events.
      if (this.needsReconcile) void this.reconcile();
    });
    // The watch was cancelled by etcd (e.g. its start revision was compacted): it will not
    // resume on its own. Read again and start a new one.
    w.on('error', (err) => {
      if (this.watcher !== w) return;
      this.watcher = undefined;
      w.removeAllListeners();
      w.on('error', () => undefined);
      void w.cancel().catch(() => undefined);
      this.opts.onStatus?.('disconnected', err);
      void this.reconcile().then(() => this.startWatcher());
    });
  }

  private onEvent(type: 'put' | 'delete', kv: IKeyValue): void {
    if (this.cancelled) return;
    if (this.reconciling) {
      this.queued.push({ type, kv });
      return;
    }
    this.apply(type, kv);
  }

  private apply(type: 'put' | 'delete', kv: IKeyValue): void {
    const revision = Number(kv.mod_revision);
    if (revision <= this.floor) return;
    const key = kv.key.toString();
    const prev = this.view.get(key);
    if (type === 'put') {
      const item = this.decodeKv(kv);
      if (item === undefined) return;
      this.view.set(key, { item, modRevision: revision });
      this.emit({ type: 'put', item, previous: prev?.item, revision });
    } else if (prev) {
      this.view.delete(key);
      this.emit({ type: 'delete', item: prev.item, revision });
    }
  }

  /** Read the prefix again and deliver the difference to the view; retries until it succeeds. */
  private reconcile(): Promise<void> {
    this.reconciling ??= (async () => {
      for (;;) {
        if (this.cancelled) return;
        try {
          const { kvs, revision } = await bounded(this.endpoints, this.timeoutMs, () => rangePrefix(this.client, this.prefix));
          if (this.cancelled) return;
          this.needsReconcile = false;
          if (revision > this.floor) this.applySnapshot(kvs, revision);
          return;
        } catch {
          await new Promise<void>((r) => {
            this.retryTimer = setTimeout(r, RETRY_MS);
          });
        }
      }
    })().finally(() => {
      this.reconciling = undefined;
      const queued = this.queued;
      this.queued = [];
      for (const e of queued) this.apply(e.type, e.kv);
    });
    return this.reconciling;
  }

  private applySnapshot(kvs: readonly IKeyValue[], revision: number): void {
    const seen = new Set<string>();
    for (const kv of kvs) {
      const key = kv.key.toString();
      seen.add(key);
      const modRevision = Number(kv.mod_revision);
      const prev = this.view.get(key);
      if (prev && prev.modRevision === modRevision) continue;
      const item = this.decodeKv(kv);
      if (item === undefined) continue;
      this.view.set(key, { item, modRevision });
      this.emit({ type: 'put', item, previous: prev?.item, revision });
    }
    for (const [key, entry] of [...this.view]) {
      if (seen.has(key)) continue;
      this.view.delete(key);
      this.emit({ type: 'delete', item: entry.item, revision });
    }
    this.floor = revision;
  }
}
