// Local endpoint changes (shared) against the agent's resync of this host's cluster records
// (exclusive). A resync takes a snapshot of the local endpoints and makes etcd match it: an
// endpoint published, or removed, while it ran would be removed as stale, or put back, by it.
// Changes run side by side; a resync waits for those in flight, and new ones wait for it (so a
// steady stream of attaches cannot starve it).
export class ResyncGate {
  private active = 0;
  /** a resync running or waiting for the changes in flight */
  private exclusiveTurn: Promise<void> | undefined;
  private drained: (() => void) | undefined;

  /**
   * Run a local change (claim → publish, or unpublish → local delete); waits while a resync runs.
   * With maxWaitMs, a change that waited that long runs anyway, outside the gate (the resync then
   * sees the local endpoints changed under it and runs again: overlay agent).
   */
  async shared<T>(fn: () => Promise<T>, opts: { maxWaitMs?: number } = {}): Promise<T> {
    const deadline = opts.maxWaitMs === undefined ? undefined : Date.now() + opts.maxWaitMs;
    while (this.exclusiveTurn) {
      if (deadline === undefined) await this.exclusiveTurn;
      else if (!(await within(this.exclusiveTurn, deadline - Date.now()))) return fn();
    }
    this.active++;
    try {
      return await fn();
    } finally {
      if (--this.active === 0 && this.drained) this.drained();
    }
  }

  /** Run a resync once no change is in flight; changes that come meanwhile wait for it. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.exclusiveTurn) await this.exclusiveTurn;
    let done: () => void = () => undefined;
    this.exclusiveTurn = new Promise<void>((r) => (done = r));
    try {
      if (this.active > 0) await new Promise<void>((r) => (this.drained = r));
      this.drained = undefined;
      return await fn();
    } finally {
      this.exclusiveTurn = undefined;
      done();
    }
  }

  /** Changes in flight (tests, logs). */
  inFlight(): number {
    return this.active;
  }
}

/** True when p settles within ms. */
async function within(p: Promise<void>, ms: number): Promise<boolean> {
  if (ms <= 0) return false;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
