// What a container is, as the store keeps it and the engine hands it out: its configuration, its
// state, and how to look one up. Its status is live: a shim that died shows as exited.
import type { ChildProcess } from 'node:child_process';
import { NotFoundError } from '../common/errors.js';
import type { ExposedPort, PortBinding } from '../portmap/index.js';
import type { ContainerRecord } from '../store/store.js';
import type { Engine } from './context.js';
import type { NetworkMode } from './network-mode.js';
import { isAliveHinted } from './process.js';

export type { NetworkMode };

export interface RunSpec {
  name?: string;
  cmd: string[];
  detach: boolean;
  rm: boolean;
  network: NetworkMode;
  hostname?: string;
  publish: PortBinding[];
  exposed: ExposedPort[];
  dns: string[];
  rootfs?: string;
  mac?: string;
  ip?: string;
  ip6?: string;
  aliases?: string[];
  gwPriority?: number;
  /** who creates it, when not this process (a thin client through the daemon) */
  creator?: { pid: number; start: string };
  /** PATH to find the command in (the client's, through the daemon); default: this process's */
  path?: string;
}

export type ContainerStatus = 'created' | 'running' | 'exited';

export interface ContainerConfig {
  cmd: string[];
  hostname: string;
  /** the resolved mode in its record form (network-mode.ts): read it with storedNetworkMode */
  networkMode: string;
  publish: PortBinding[];
  exposed: ExposedPort[];
  rm: boolean;
  dns: string[];
  rootfs?: string;
  mac?: string;
}

export interface ContainerState {
  status: ContainerStatus;
  /** the berth-init shim, in the host PID namespace */
  pid?: number;
  pidStart?: string;
  /** the container's PID 1, as the host sees it */
  childPid?: number;
  /** its start time (pidfile line 3): tells it from a later process with the same PID */
  childStart?: string;
  exitCode?: number;
  startedAt?: string;
  finishedAt?: string;
  /** the sandbox's network namespace (own bind mount, or the target's in container mode) */
  netns?: string;
  /** set when the network this container joined (container:X) went away */
  networkNote?: string;
  /** while created: the berth process creating it */
  creatorPid?: number;
  creatorStart?: string;
  /** the berth process that waits for the container and records its end: the CLI or thin client of a
   *  foreground run, or a `stop`/`rm -f` that claimed the end of a detached one */
  waiterPid?: number;
  waiterStart?: string;
}

export interface Container {
  id: string;
  name: string;
  created: string;
  config: ContainerConfig;
  state: ContainerState;
}

export interface Started {
  id: string;
  name: string;
  /** foreground only: the shim, stdio inherited */
  shim?: ChildProcess;
  warnings: string[];
}

export function asContainer(r: ContainerRecord): Container {
  return { id: r.id, name: r.name, created: r.created, config: r.config as ContainerConfig, state: r.state as ContainerState };
}

/** Live status: a container recorded as running whose shim is gone has exited. */
export function liveStatus(c: Container): ContainerStatus {
  if (c.state.status === 'running' && !isAliveHinted(c.state.pid, c.state.pidStart)) return 'exited';
  return c.state.status;
}

export function getContainer(engine: Engine, ref: string): Container {
  const rec = engine.store.findContainer(ref);
  if (!rec) throw new NotFoundError(`no such container: "${ref}" (give a name, a full id or a unique id prefix)`);
  return asContainer(rec);
}

export function listContainers(engine: Engine, all: boolean): Container[] {
  return engine.store
    .listContainers()
    .map(asContainer)
    .map((c) => ({ ...c, state: { ...c.state, status: liveStatus(c) } }))
    .filter((c) => all || c.state.status === 'running');
}
