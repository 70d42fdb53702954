// The base mount namespace containers start from (native/berth-init.c, "the containers' mount
// namespace"): $BERTH_RUN/netns and $BERTH_RUN/mntns made unbindable mounts and
// $BERTH_RUN/mntns/base holding a namespace with an empty root, so that a new container's mount
// namespace holds the host's own mounts and none of the other containers' netns files (issue 16).
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { BERTH_INIT } from '../common/package.js';
import { SystemError } from '../common/errors.js';
import { isNamespaceFile } from '../kernel/netns.js';
import type { Engine } from './context.js';

/** The base namespace's file, made (once per BERTH_RUN, by berth-init under a lock) if missing. */
export function ensureMountBase(engine: Engine): string {
  const base = join(engine.paths.run, 'mntns', 'base');
  if (isNamespaceFile(base)) return base;
  const r = spawnSync(BERTH_INIT, ['--prepare-mounts', engine.paths.run], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const why = (r.stderr ?? '').replace(/^berth-init: /, '').trim();
  if (r.status !== 0 || !isNamespaceFile(base)) {
    throw new SystemError(`cannot prepare the containers' base mount namespace in ${engine.paths.run}: ${why || r.error?.message || `exit status ${r.status}`}`);
  }
  return base;
}
