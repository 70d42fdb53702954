// V8 heap settings for the long-running daemon (issue 5: RSS with 500 containers <= 100 MB).
// V8's defaults favour throughput, which suits a short CLI run but not a daemon whose live heap
// is under 10 MB while each request makes a few MB of short-lived garbage (netlink dumps, store
// reads). Measured with 500 containers (BENCHMARKS.md): 119 MB without these flags, 90 MB with
// them, and the same daemon CPU time for the 500 creates.
import { setFlagsFromString } from 'node:v8';

/**
 * The flags, both read by V8 at every resize, so they work when set from inside the process
 * (--max-semi-space-size and --max-old-space-size are start-up only, and a re-exec would cost
 * the daemon a second start):
 * - --semi-space-growth-factor=1: keep the young generation at the size it has now (1-2 MB
 *   semi-spaces). By default V8 doubles it, up to 16 MB semi-spaces (32 MB resident), as soon as
 *   a few MB have survived scavenges, which a long-running process always sees.
 * - --optimize-for-size: grow the old generation by at most 1.3x its live size (step 2 MB)
 *   after a full GC instead of up to 4x (step 8 MB), and shrink the young generation when idle.
 *   Its other effect (max semi-space 1 MB) applies at start-up only.
 */
export const DAEMON_V8_FLAGS = ['--semi-space-growth-factor=1', '--optimize-for-size'] as const;

export function tuneHeapForDaemon(): void {
  for (const flag of DAEMON_V8_FLAGS) setFlagsFromString(flag);
}
