// berth daemon, part of the composition root: one long-lived process serving what a daemonless
// CLI cannot — the REST API, and keeping the kernel in line with the store (repair at start, nft
// table watch). This file wires the engine, the API server, the CLI gateway, DNS and the overlay
// agent together; the pieces themselves know nothing of each other.
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Server } from 'node:http';
import { socketAnswers } from './common/unix-socket.js';
import { UserError } from './common/errors.js';
import { Engine } from './engine/context.js';
import { checkSystem, firewallTablesInstalled, restoreFirewall } from './engine/repair.js';
import { ContainerWatch } from './engine/container-watch.js';
import { createApiServer } from './api/server.js';
import type { GatewayFactory } from './api/gateway.js';
import { CliGateway } from './cli/gateway.js';
import { events } from './api/events.js';
import { DaemonDns } from './daemon/dns.js';
import { watchNftTable } from './engine/nft-watch.js';
import { stopIdleHostRelay } from './engine/host-relay.js';
import { tuneHeapForDaemon } from './daemon/heap.js';
import { releaseFreeMemory, tuneMallocForDaemon } from './kernel/malloc.js';
import type { OverlayAgent } from './engine/overlay-agent.js';
import type { DnsContainerRecord } from './dns/index.js';
import type { DaemonRequest } from './cli/context.js';
import { checkDockerPluginSocket, listenDockerPlugin } from './plugin/listen.js';
import { parseUiAddress } from './ui/access.js';
import { bearerCheck, checkSocketDir, ensureApiToken, planListeners, readTlsFiles, type TlsFiles } from './daemon/api-listeners.js';

/** How often the daemon gives glibc's free memory back (src/kernel/malloc.ts; ~0.1 ms when nothing changed). */
const TRIM_INTERVAL_MS = 10_000;

export interface DaemonOptions {
  /** unix:///path or tcp://IP:PORT (see api-listeners.ts for who may use each) */
  api: string[];
  /** mutual TLS for every TCP listener (dockerd's --tlsverify) */
  tls?: Partial<TlsFiles> & { verify?: boolean };
  log: (line: string) => void;
  /** how often the nft table is checked (ms) */
  watchInterval?: number;
  /** join a cluster: overlay networks (src/daemon/overlay-agent.ts) */
  cluster?: { store: string; advertiseAddress: string; leaseTtlSeconds?: number; reclaimAfterSeconds?: number; wireguardPort?: number; tunnelSubnet?: string };
  /** serve Docker's network driver plugin on this unix socket (src/plugin/) */
  dockerPlugin?: string;
  /** IP:PORT of the topology page (src/ui/server.ts) */
  ui?: string;
}

export interface Daemon {
  engine: Engine;
  dns: DaemonDns;
  servers: Server[];
  agent?: OverlayAgent;
  stop(): Promise<void>;
}

export async function startDaemon(opts: DaemonOptions): Promise<Daemon> {
  // every listener and its guard are checked before anything starts (bad ones: exit 1)
  const plan = planListeners(opts.api, opts.tls ?? {});
  if (opts.ui !== undefined) parseUiAddress(opts.ui);
  const tlsFiles = plan.find((p) => p.guard.kind === 'tls') && opts.tls ? readTlsFiles(opts.tls as TlsFiles) : undefined;
  // a socket that answers belongs to a live daemon: never take it over (nor repair under it)
  for (const { listener: l } of plan) {
    if (l.kind === 'unix') checkSocketDir(l.path as string);
    if (l.kind === 'unix' && (await socketAnswers(l.path as string))) {
      throw new UserError(`a berth daemon already listens on ${l.path as string}: stop it first, or give this one another --api`);
    }
  }
  if (opts.dockerPlugin) await checkDockerPluginSocket(opts.dockerPlugin);
  tuneHeapForDaemon();
  if (!tuneMallocForDaemon()) opts.log('malloc: glibc refused the daemon\'s thresholds; memory freed after bursts may stay resident');
  // what the thresholds do not reach (free pages inside the arenas after a burst) goes back at rest;
  // unref: never what keeps the daemon alive
  setInterval(() => void releaseFreeMemory(), TRIM_INTERVAL_MS).unref();
  const engine = new Engine();
  engine.ensureRunDirs();
  // before repair, so that overlay networks are checked with the cluster's VTEP and MTU; its
  // options are checked here (a bad --advertise-addr fails the start), etcd is joined in the background
  const dnsRemote: { set?: (r: DnsContainerRecord[], full: boolean) => void; early: Map<string, DnsContainerRecord> } = { early: new Map() };
  // the etcd client is loaded only by a daemon that joins a cluster (~11 MB, see cluster-errors.ts)
  const overlay = opts.cluster ? await import('./engine/overlay-agent.js') : undefined;
  const agent = opts.cluster && overlay
    ? await overlay.OverlayAgent.start(engine, {
        endpoints: overlay.parseClusterStore(opts.cluster.store),
        advertiseAddress: opts.cluster.advertiseAddress,
        ...(opts.cluster.leaseTtlSeconds ? { leaseTtlSeconds: opts.cluster.leaseTtlSeconds } : {}),
        ...(opts.cluster.reclaimAfterSeconds !== undefined ? { reclaimAfterSeconds: opts.cluster.reclaimAfterSeconds } : {}),
        ...(opts.cluster.wireguardPort ? { wireguardPort: opts.cluster.wireguardPort } : {}),
        ...(opts.cluster.tunnelSubnet ? { tunnelSubnet: opts.cluster.tunnelSubnet } : {}),
        log: opts.log,
        onRemoteRecords: (records, full) => {
          if (dnsRemote.set) return dnsRemote.set(records, full);
          // before the DNS exists: kept, as the whole set it will start from
          if (full) dnsRemote.early.clear();
          for (const r of records) {
            if (r.endpoints.length) dnsRemote.early.set(r.id, r);
            else dnsRemote.early.delete(r.id);
          }
        },
      })
    : undefined;
  const findings = await checkSystem(engine, { repair: true });
  for (const f of findings) opts.log(`repair: ${f.object}: ${f.problem}${f.action ? ` -> ${f.action}` : ''}`);
  // a shim killed from now on: its container is reconciled at once, not at the next repair
  const containerWatch = new ContainerWatch(engine, opts.log, 0);

  // the thin client's routes: the CLI's command code, and the CNI plugin's (loaded on its first call)
  const gateway: GatewayFactory = (serial) => {
    const cli = new CliGateway(engine, serial);
    return {
      run: (body) => cli.run(body),
      continue: (body) => cli.continue(body),
      cni: async (body, callerPid) => (await import('./cni/gateway.js')).serveCni(engine, serial, body, callerPid),
    };
  };
  const servers: Server[] = [];
  for (const { listener: l, spec, guard } of plan) {
    const server = createApiServer(engine, {
      gateway,
      ...(guard.kind === 'token' ? { authorize: bearerCheck(ensureApiToken(engine.paths.root)) } : {}),
      // client certificates signed by the CA, or no handshake at all
      ...(guard.kind === 'tls' && tlsFiles ? { tls: { ...tlsFiles, requestCert: true, rejectUnauthorized: true, minVersion: 'TLSv1.2' as const } } : {}),
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      if (l.kind === 'unix') {
        const path = l.path as string;
        mkdirSync(dirname(path), { recursive: true, mode: 0o711 });
        // a socket file left by a daemon that died (a live one was ruled out above)
        rmSync(path, { force: true });
        // born 0600 (no window where others may connect), then root-only 0660 (DESIGN.md)
        const umask = process.umask(0o077);
        server.once('error', () => process.umask(umask));
        server.listen(path, () => {
          process.umask(umask);
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
  if (opts.dockerPlugin) servers.push(await listenDockerPlugin(engine, opts.dockerPlugin, opts.log));

  // the topology page, loaded only when asked for
  const ui = opts.ui !== undefined
    ? await (await import('./ui/server.js')).startUi({
        listen: opts.ui,
        engine,
        log: opts.log,
        subscribe: (fn) => (events.on('event', fn), () => void events.off('event', fn)),
      })
    : undefined;
  if (ui) servers.push(ui.server);

  const dns = new DaemonDns(engine, opts.log);
  dnsRemote.set = (records, full) => {
    dns.setRemote(records, full);
    void dns.refresh().catch((err: Error) => opts.log(`dns: ${err.message}`));
  };
  dns.setRemote([...dnsRemote.early.values()], true);
  await dns.refresh(true);
  // CLI processes change the store too: follow it (cheap when nothing changed)
  let refreshing = false;
  const followStore = () => {
    if (refreshing) return;
    refreshing = true;
    dns
      .refresh()
      .catch((err: Error) => opts.log(`dns: ${err.message}`))
      .finally(() => (refreshing = false));
  };
  // One rebuild per burst: a create publishes create+start in one go (issue 5: each rebuild reads
  // every container). A microtask still runs before any I/O, so no DNS query sees the old table.
  let rebuildQueued = false;
  events.on('event', () => {
    if (rebuildQueued) return;
    rebuildQueued = true;
    queueMicrotask(() => {
      rebuildQueued = false;
      void dns.refresh(true).catch((err: Error) => opts.log(`dns: ${err.message}`));
    });
  });

  // someone flushing the ruleset or reloading a firewall removes berth's table: put it back
  const watch = watchNftTable({
    netns: engine.hostNetns,
    intervalMs: 0,
    // a count, not listNetworks(): it must not decode every network
    healthy: () => !engine.store.countNetworks() || firewallTablesInstalled(engine),
    restore: () => {
      restoreFirewall(engine);
      opts.log("repair: berth's nft table was gone; restored it");
      events.emit('event', { Type: 'daemon', Action: 'firewall-restored', Actor: { ID: 'nft', Attributes: {} } });
    },
    log: opts.log,
  });
  // One timer for the daemon's idle watches (store -> DNS, new containers' pidfds, nft table):
  // a sleeping daemon wakes 4 times a second, not 12.
  const idleTick = setInterval(() => {
    followStore();
    containerWatch.sync();
    watch.tick();
  }, opts.watchInterval ?? 250);

  return {
    engine,
    dns,
    servers,
    ...(agent ? { agent } : {}),
    async stop() {
      clearInterval(idleTick);
      watch.close();
      containerWatch.close();
      await agent?.close();
      await dns.close();
      await ui?.close();
      await Promise.all(servers.filter((s) => s !== ui?.server).map((s) => new Promise<void>((r) => s.close(() => r()))));
      // the host port relay stays while it binds ports (their loopback keeps working until the next daemon)
      await stopIdleHostRelay(engine).catch(() => undefined);
      engine.close();
    },
  };
}

/** `berth daemon`: run until SIGTERM or SIGINT, logging to stderr. */
export async function serveDaemon(req: DaemonRequest): Promise<void> {
  const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
  const daemon = await startDaemon({ ...req, log });
  await new Promise<void>((resolve) => {
    for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
  });
  log('stopping');
  await daemon.stop();
}
