// The graph the open pages draw, kept by the daemon (issue 15: a live update within a second with
// 500 containers). It is built once per change, as soon as the change is told (a daemon event, a
// store change made by a CLI, new drift findings), not once per page's fetch, and each new build
// goes to the pages as its difference from the last (engine/topology-diff.ts): no page fetches
// and parses the whole graph again. The drift check (`system check`: it reads every sandbox,
// about a second with 500 containers) runs in the background only after a quiet spell, so a
// change's build does not wait behind it; its findings are drawn on the next build. The host's
// links and addresses are kept from rtnetlink notifications while the graph is kept
// (engine/topology-watch.ts): a change's build reads them without dumping the host's ~500 veths.
import type { Engine } from '../engine/context.js';
import type { Finding } from '../engine/repair.js';
import { type GraphIndex, type TopologyDiff, diffGraphs, indexGraph, isEmptyDiff } from '../engine/topology-diff.js';
import type { TopologyGraph } from '../engine/topology-types.js';
import type { TopologyHostWatch } from '../engine/topology-watch.js';

/** Where a build's time went, and the kernel dumps it made (0 once the host is watched). */
export interface BuildTiming {
  waitedMs: number;
  buildMs: number;
  linkDumps: number;
  addressDumps: number;
}

export interface LiveGraphOptions {
  engine: Engine;
  /** a build that changed something: send it to the pages */
  onDiff(diff: TopologyDiff, timing: BuildTiming): void;
  log(line: string): void;
  /** how old the drift findings drawn may be (ms) */
  driftEveryMs: number;
  /** how long without a change before a drift check may start (ms) */
  quietMs?: number;
}

const NO_PAGE = 'no page open';

/** Events of one change come in a burst (create, connect, start): one build after it. */
const BURST_MS = 15;

export class LiveGraph {
  private graph: TopologyGraph | undefined;
  private index: GraphIndex | undefined;
  /** from the clock: a restarted daemon's versions follow the last one's, and a page fetches anew */
  private version = Date.now();
  private dirty = true;
  private building: Promise<void> | undefined;
  private burst: NodeJS.Timeout | undefined;
  /** when the first change not yet built was told */
  private changedAt: number | undefined;
  private lastChange = 0;
  private findings: Finding[] = [];
  private driftAt = 0;
  private driftTimer: NodeJS.Timeout | undefined;
  private checking = false;
  private closed = false;
  private watch: TopologyHostWatch | undefined;
  /** why the last watch was dropped (logged when the next one opens: it costs a dump) */
  private watchDropped: string | undefined;

  constructor(private readonly o: LiveGraphOptions) {}

  /** Something changed: build again right after the burst, and tell the pages what differs. */
  changed(): void {
    this.dirty = true;
    this.lastChange = Date.now();
    this.changedAt ??= this.lastChange;
    this.burst ??= setTimeout(() => {
      this.burst = undefined;
      this.build().catch((err: Error) => this.o.log(`ui: topology: ${err.message}`));
    }, BURST_MS);
  }

  /** The graph now (the last build when nothing changed since) and its version. */
  async current(): Promise<{ graph: TopologyGraph; version: number }> {
    if (this.dirty || !this.graph) await this.build();
    if (!this.graph) throw new Error('the topology could not be built');
    return { graph: this.graph, version: this.version };
  }

  /** No page is open: keep nothing, and build from scratch when asked next. */
  forget(): void {
    this.graph = undefined;
    this.index = undefined;
    this.dirty = true;
    clearTimeout(this.driftTimer);
    this.driftTimer = undefined;
    this.dropWatch(NO_PAGE);
  }

  private dropWatch(why: string): void {
    if (!this.watch) return;
    this.watch.close();
    this.watch = undefined;
    this.watchDropped = why;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.burst);
    this.forget();
  }

  private build(): Promise<void> {
    this.building ??= (async () => {
      const { topology } = await import('../engine/topology.js');
      try {
        while (this.dirty) {
          this.dirty = false;
          const waitedMs = this.changedAt === undefined ? 0 : Date.now() - this.changedAt;
          this.changedAt = undefined;
          const t0 = performance.now();
          const { host, linkDumps, addressDumps } = await this.readHost();
          const g = await topology(this.o.engine, { findings: this.findings, ...(host ? { host } : {}) });
          const buildMs = performance.now() - t0;
          if (!this.index) {
            this.index = indexGraph(g);
            this.version++;
          } else {
            const { diff, index } = diffGraphs(this.index, g, this.version);
            this.index = index;
            if (!isEmptyDiff(diff)) {
              this.version = diff.version;
              this.o.onDiff(diff, { waitedMs, buildMs, linkDumps, addressDumps });
            }
          }
          this.graph = g;
        }
      } catch (err) {
        this.dirty = true;
        throw err;
      } finally {
        this.building = undefined;
      }
      this.driftSoon();
    })();
    return this.building;
  }

  /** The host's links, addresses and routes from the kept watch, opened on the first build; none (topology() dumps them) if it fails. */
  private async readHost(): Promise<{ host?: Awaited<ReturnType<TopologyHostWatch['read']>>; linkDumps: number; addressDumps: number }> {
    try {
      if (!this.watch) {
        const { watchTopologyHost } = await import('../engine/topology-watch.js');
        // closed meanwhile (no page open): no socket to keep
        if (this.closed) return { linkDumps: 1, addressDumps: 1 };
        this.watch = watchTopologyHost(this.o.engine);
        // (a page closed and another opened: nothing to say)
        if (this.watchDropped && this.watchDropped !== NO_PAGE) this.o.log(`ui: topology: watching the host's links again (the last watch ended: ${this.watchDropped})`);
        this.watchDropped = undefined;
      }
      const w = this.watch;
      const before = { ...w.counts, resyncs: w.counts.resyncs.length };
      const host = await w.read();
      for (const why of w.counts.resyncs.slice(before.resyncs)) this.o.log(`ui: topology: the host's links were read anew (${why})`);
      return { host, linkDumps: w.counts.linkDumps - before.linkDumps, addressDumps: w.counts.addressDumps - before.addressDumps };
    } catch (err) {
      this.o.log(`ui: topology: the host watch failed, dumping instead: ${(err as Error).message}`);
      this.dropWatch(`it failed: ${(err as Error).message}`);
      return { linkDumps: 1, addressDumps: 1 };
    }
  }

  /** A drift check once no change came for quietMs, if the findings drawn are older than driftEveryMs. */
  private driftSoon(): void {
    if (this.closed || this.driftTimer || this.checking || !this.graph) return;
    const quietMs = this.o.quietMs ?? 1000;
    const wait = Math.max(quietMs - (Date.now() - this.lastChange), this.o.driftEveryMs - (Date.now() - this.driftAt), 0);
    this.driftTimer = setTimeout(() => {
      this.driftTimer = undefined;
      if (Date.now() - this.lastChange < quietMs) return this.driftSoon();
      void this.checkDrift();
    }, wait + 10);
    this.driftTimer.unref();
  }

  private async checkDrift(): Promise<void> {
    if (!this.graph) return;
    this.checking = true;
    try {
      const { driftFindings } = await import('../engine/topology-drift.js');
      const found = await driftFindings(this.o.engine);
      this.driftAt = Date.now();
      const changed = JSON.stringify(found) !== JSON.stringify(this.findings);
      this.findings = found;
      if (changed && this.graph) this.changed();
    } catch (err) {
      // a failed check keeps the last findings, and is tried again after the next change
      this.o.log(`ui: drift check: ${(err as Error).message}`);
    } finally {
      this.checking = false;
    }
  }
}
