// Reaching into a running container: exec a command in its namespaces, its published ports,
// its log file (detached containers).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { ConflictError, UserError } from '../common/errors.js';
import type { PortRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { getContainer, liveStatus } from './container-types.js';
import { exitStatus } from './shim.js';

/** The nsenter command line that runs cmd inside all of a running container's namespaces. */
export function execArgv(engine: Engine, ref: string, cmd: string[]): string[] {
  const c = getContainer(engine, ref);
  if (liveStatus(c) !== 'running' || !c.state.childPid) throw new ConflictError(`container "${c.name}" is not running`);
  if (cmd.length === 0) throw new UserError('no command given: berth exec CONTAINER -- CMD [ARG...]');
  return ['nsenter', '--target', String(c.state.childPid), '--net', '--uts', '--mount', '--pid', '--root', '--wd', '--', ...cmd];
}

/** Run a command inside all of a running container's namespaces; resolves to its exit status. */
export async function execInContainer(engine: Engine, ref: string, cmd: string[]): Promise<number> {
  const [bin = 'nsenter', ...argv] = execArgv(engine, ref, cmd);
  const child = spawn(bin, argv, { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, sig) => resolve(exitStatus(code, sig)));
  });
}

export function containerPorts(engine: Engine, ref: string): PortRecord[] {
  const c = getContainer(engine, ref);
  return engine.store.listPorts({ containerId: c.id });
}

export function logPath(engine: Engine, ref: string): string {
  const c = getContainer(engine, ref);
  return join(engine.containerDir(c.id), 'log');
}
