// What `berth daemon --cluster-store …` is told and keeps: the etcd members, and this host's id.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../common/errors.js';
import { checkHostId } from '../../store/cluster-keys.js';
import { parseEndpoints } from '../../store/cluster-etcd.js';

/** `--cluster-store etcd://H:P[,H:P…]` into member endpoints. */
export function parseClusterStore(spec: string): string[] {
  const parts = spec.split(',').map((p) => p.trim()).filter(Boolean);
  if (!parts.length) throw new UserError(`invalid --cluster-store "${spec}": expected etcd://HOST:PORT[,HOST:PORT…]`);
  const first = parts[0] as string;
  const scheme = /^([a-z]+):\/\//.exec(first)?.[1];
  if (scheme !== undefined && scheme !== 'etcd') throw new UserError(`invalid --cluster-store "${spec}": only etcd:// is supported`);
  return parseEndpoints(parts.map((p, i) => (i === 0 ? p.replace(/^etcd:\/\//, '') : p)));
}

/** This host's id in the cluster: made once, kept in BERTH_ROOT so a restarted daemon is the same host. */
export function hostIdOf(root: string): string {
  const file = join(root, 'cluster-host-id');
  if (existsSync(file)) return checkHostId(readFileSync(file, 'utf8').trim());
  const id = `h-${randomBytes(6).toString('hex')}`;
  writeFileSync(file, `${id}\n`, { mode: 0o600 });
  return id;
}
