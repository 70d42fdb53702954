// Where berth keeps its state (DESIGN.md, Places). Both can be moved with environment
// variables, which is how one machine hosts several lab "hosts".
import { join } from 'node:path';

export interface BerthPaths {
  /** durable state: the store */
  root: string;
  /** runtime state: netns bind mounts, sockets, locks, per-container files */
  run: string;
  netnsDir: string;
  locksDir: string;
}

export function berthPaths(env: NodeJS.ProcessEnv = process.env): BerthPaths {
  const root = env.BERTH_ROOT || '/var/lib/berth';
  const run = env.BERTH_RUN || '/run/berth';
  return { root, run, netnsDir: join(run, 'netns'), locksDir: join(run, 'locks') };
}
