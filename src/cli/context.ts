// What a command needs from where it runs: output, the engine, the caller's directory, and —
// when a thin client sent the command to the daemon — who the caller is. The same command code
// serves the in-process CLI (process stdio) and the daemon's CLI gateway (captured output).
import type { Engine } from '../engine/context.js';
import type { Prepared } from '../engine/containers.js';

/** What the thin client must do itself after the daemon did the rest (see src/cli/gateway.ts). */
export type Handoff =
  /** start the prepared container's shim with the client's stdio, then report its status */
  | { kind: 'run'; prepared: Prepared }
  /** replace the client with this program (e.g. nsenter for exec) */
  | { kind: 'exec'; argv: string[] }
  /** the command cannot run in the daemon (e.g. `daemon`): run the in-process CLI instead */
  | { kind: 'local' };

export interface RemoteCaller {
  pid: number;
  /** /proc/PID/stat start time: tells the caller from a later process with its PID */
  start: string;
  /** the caller's PATH, to find commands as its exec would */
  path: string;
  handoff?: Handoff;
}

/** `berth daemon`'s command line, checked: what the composition root starts (src/daemon-root.ts). */
export interface DaemonRequest {
  /** unix:///path or tcp://IP:PORT */
  api: string[];
  tls: { verify: boolean; ca?: string; cert?: string; key?: string };
  cluster?: { store: string; advertiseAddress: string; leaseTtlSeconds: number; reclaimAfterSeconds: number; wireguardPort: number; tunnelSubnet?: string };
  /** the unix socket of Docker's network driver plugin, when served */
  dockerPlugin?: string;
  /** --ui IP:PORT: the topology page */
  ui?: string;
}

export interface CliContext {
  out(data: string | Uint8Array): void;
  err(data: string | Uint8Array): void;
  /** the command's exit status, when it sets one (berth run: the container's) */
  exitCode?: number;
  /** the caller's working directory: relative paths are resolved against it */
  cwd: string;
  engine(): Engine;
  /**
   * Loads what engine() needs, before a command's action runs (the in-process CLI loads the
   * engine's code, its store and kernel modules and their native addons, only for a command
   * that may use them: `berth --version` does not). Absent: engine() is ready as it is.
   */
  ready?(): Promise<void>;
  /** set when the command came through the daemon from a thin client */
  remote?: RemoteCaller;
  /** runs the daemon until it is told to stop (given by the composition root, src/main.ts) */
  runDaemon?: (req: DaemonRequest) => Promise<void>;
}

/** The working directory; "/" when it cannot be named (deleted), as the native client sends. */
function workingDirectory(): string {
  try {
    return process.cwd();
  } catch {
    return '/';
  }
}

/** The in-process CLI: process stdio, one engine opened on first use. */
export function processContext(): CliContext {
  let engineClass: typeof Engine | undefined;
  let engine: Engine | undefined;
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    cwd: workingDirectory(),
    ready: async () => {
      engineClass ??= (await import('../engine/context.js')).Engine;
    },
    engine: () => {
      if (!engineClass) throw new Error('the engine was used before the command was made ready (CliContext.ready)');
      return (engine ??= new engineClass());
    },
  };
}
