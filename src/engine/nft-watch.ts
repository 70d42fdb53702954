// The daemon's watch on berth's nft table (in the engine, as it reads the kernel): someone
// flushing the ruleset or reloading a firewall removes it, and the daemon puts it back. Idle cost
// must not grow with published ports, so each tick reads only the ruleset generation (one netlink
// round trip); the table itself is looked at only when the generation moved, i.e. after some nft
// transaction, berth's own included.
import { NftGeneration } from '../kernel/nft/generation.js';
import type { NetnsTarget } from '../kernel/netns.js';

export interface NftWatchOptions {
  netns: NetnsTarget | null;
  /** 0: no timer of its own, the caller calls tick() (the daemon's one idle tick) */
  intervalMs: number;
  /** true if berth's table is as it should be (called only after a change) */
  healthy: () => boolean;
  /** put the table back */
  restore: () => void;
  log: (line: string) => void;
}

export interface NftWatch {
  /** one check now (what each tick does) */
  tick(): void;
  close(): void;
}

export function watchNftTable(o: NftWatchOptions): NftWatch {
  let gen: NftGeneration | undefined;
  try {
    gen = NftGeneration.open(o.netns);
  } catch (err) {
    o.log(`nft watch: cannot read the ruleset generation (${(err as Error).message}); checking the table on every tick`);
  }
  let seen: number | undefined;
  const tick = () => {
    try {
      const now = gen?.read();
      if (now !== undefined && now === seen) return;
      if (!o.healthy()) o.restore();
      // the restore is a transaction too: remember the generation after it
      seen = gen?.read();
    } catch (err) {
      seen = undefined;
      o.log(`repair: cannot restore the nft table: ${(err as Error).message}`);
    }
  };
  const timer = o.intervalMs > 0 ? setInterval(tick, o.intervalMs) : undefined;
  return {
    tick,
    close() {
      clearInterval(timer);
      gen?.close();
    },
  };
}
