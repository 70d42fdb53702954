// The runtime's DNS servers for a CNI sandbox (runtimeConfig.dns.servers, checked as addresses
// at the CNI edge): the daemon's embedded DNS forwards the names it does not own to them, as it
// does for a berth container's --dns. Run-time state, beside the sandbox's other files:
// $BERTH_RUN/sandboxes/<sha256 of the container id>/dns, one address a line.
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Engine } from './context.js';

/** The container id hashed: a runtime's id never becomes a path of its own. */
function dnsDir(engine: Engine, containerId: string): string {
  return join(engine.paths.run, 'sandboxes', createHash('sha256').update(containerId).digest('hex'));
}

export function recordSandboxDns(engine: Engine, containerId: string, servers: readonly string[]): void {
  const dir = dnsDir(engine, containerId);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  writeFileSync(join(dir, 'dns'), servers.map((s) => `${s}\n`).join(''), { mode: 0o600 });
}

/** The sandbox's upstream servers, or undefined (none given: the host's resolvers). */
export function sandboxDnsServers(engine: Engine, containerId: string): string[] | undefined {
  try {
    const servers = readFileSync(join(dnsDir(engine, containerId), 'dns'), 'utf8').split('\n').filter(Boolean);
    return servers.length ? servers : undefined;
  } catch {
    return undefined;
  }
}

export function forgetSandboxDns(engine: Engine, containerId: string): void {
  rmSync(dnsDir(engine, containerId), { recursive: true, force: true });
}
