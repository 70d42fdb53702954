// berth daemon: one long-lived process serving what a daemonless CLI cannot — the REST API, and
// keeping the kernel in line with the store (repair at start, nft table watch).
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Server } from 'node:http';
import { UserError } from '../common/errors.js';
import { Engine } from '../engine/context.js';
import { checkSystem, restoreFirewall } from '../engine/repair.js';
import { firewallInstalled } from '../drivers/firewall.js';
import { createApiServer } from '../api/server.js';
import { events } from '../api/events.js';
import { DaemonDns } from './dns.js';

export interface DaemonOptions {
  /** unix:///path or tcp://127.0.0.1:PORT (loopback only) */
  api: string[];
  log: (line: string) => void;
  /** how often the nft table is checked (ms) */
  watchInterval?: number;
}

export interface Listener {
  kind: 'unix' | 'tcp';
  path?: string;
  host?: string;
  port?: number;
}

export function parseListener(spec: string): Listener {
  if (spec.startsWith('unix://')) return { kind: 'unix', path: spec.slice('unix://'.length) };
  const m = /^tcp:\/\/(127\.\d+\.\d+\.\d+|localhost|\[::1\]):(\d{1,5})$/.exec(spec);
  if (m && Number(m[2]) <= 65535) return { kind: 'tcp', host: (m[1] ?? '').replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  throw new UserError(`invalid --api "${spec}": expected unix:///PATH or tcp://127.0.0.1:PORT (TCP only on loopback)`);
}

export interface Daemon {
  engine: Engine;
  dns: DaemonDns;
  servers: Server[];
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  const engine = new Engine();
  engine.ensureRunDirs();
  const findings = await checkSystem(engine, { repair: true });
  for (const f of findings) opts.log(`repair: ${f.object}: ${f.problem}${f.action ? ` -> ${f.action}` : ''}`);

  const servers: Server[] = [];
  for (const spec of opts.api) {
    const l = parseListener(spec);
    const server = createApiServer(engine);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (l.kind === 'unix') {
        const path = l.path as string;
        mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
        rmSync(path, { force: true });
        server.listen(path, () => {
          // root-only by default (DESIGN.md, Errors, input and safety)
          chmodSync(path, 0o660);
          resolve();
        });
      } else {
        server.listen(l.port, l.host, () => resolve());
      }
    });
    opts.log(`listening on ${spec}`);
    servers.push(server);
  }

  const dns = new DaemonDns(engine, opts.log);
  await dns.refresh(true);
  // CLI processes change the store too: follow it (cheap when nothing changed)
  let refreshing = false;
  const follow = setInterval(() => {
    if (refreshing) return;
    refreshing = true;
    dns
      .refresh()
      .catch((err: Error) => opts.log(`dns: ${err.message}`))
      .finally(() => (refreshing = false));
  }, opts.watchInterval ?? 250);
  events.on('event', () => void dns.refresh(true).catch((err: Error) => opts.log(`dns: ${err.message}`)));

  // someone flushing the ruleset or reloading a firewall removes berth's table: put it back
  const watch = setInterval(() => {
    try {
      if (engine.store.listNetworks().length && !firewallInstalled(engine.hostNetns)) {
        restoreFirewall(engine);
        opts.log("repair: berth's nft table was gone; restored it");
        events.emit('event', { Type: 'daemon', Action: 'firewall-restored', Actor: { ID: 'nft', Attributes: {} } });
      }
    } catch (err) {
      opts.log(`repair: cannot restore the nft table: ${(err as Error).message}`);
    }
  }, opts.watchInterval ?? 250);

  return {
    engine,
    dns,
    servers,
    async stop() {
      clearInterval(watch);
      clearInterval(follow);
      await dns.close();
      await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
      engine.close();
    },
  };
}
