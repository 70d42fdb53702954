// The host's links, addresses and routes for the live topology, kept from rtnetlink
// notifications while a page is open (kernel/host-watch.ts) instead of dumped for each change.
import { HostWatch, type HostWatchCounts } from '../kernel/host-watch.js';
import type { Engine } from './context.js';
import type { HostState } from './topology.js';

export type { HostWatchCounts };

export interface TopologyHostWatch {
  read(): Promise<HostState>;
  readonly counts: HostWatchCounts;
  close(): void;
}

export function watchTopologyHost(engine: Engine): TopologyHostWatch {
  return new HostWatch(engine.hostNetns);
}
