// berth's command line: parse, validate at the edge, call the engine, format. No logic here.
// runCli serves both the in-process CLI (src/cli/main.ts) and the daemon's CLI gateway.
import { Command, CommanderError, Option } from 'commander';
import { BerthError, UserError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import { VERSION } from '../common/version.js';
import { containerCommands } from './commands/containers.js';
import { networkCommand } from './commands/networks.js';
import { systemCommand } from './commands/system.js';
import type { CliContext } from './context.js';
import { restoreFirewallIfMissing } from '../engine/firewall-state.js';

/** ['berth', 'network', 'ls'] for `berth network ls`. */
function commandPath(cmd: Command): string[] {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names;
}

function buildProgram(ctx: CliContext): Command {
  const program = new Command('berth')
    .description('Docker-style container networking for any Linux host')
    .version(VERSION, '-v, --version', 'print the version')
    .showHelpAfterError('(run with --help for usage)')
    .enablePositionalOptions();
  program
    .command('version')
    .description('print the version')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action((opts: { format: string }) => {
      if (opts.format === 'json') ctx.out(`${JSON.stringify({ Version: VERSION, Node: process.version })}\n`);
      else ctx.out(`berth ${VERSION}\n`);
    });
  // Any command puts back berth's nft table if someone deleted it (not only the daemon): none
  // of berth's protections may stay off because no daemon runs. `system` reports and repairs
  // on its own terms (check must change nothing); version and daemon need no store.
  program.hook('preAction', (_cmd, action) => {
    const top = commandPath(action)[1];
    if (top === undefined || ['version', 'daemon', 'system'].includes(top) || process.geteuid?.() !== 0) return;
    try {
      if (restoreFirewallIfMissing(ctx.engine())) trace("cli: berth's nft table was gone; restored it");
    } catch (err) {
      trace(`cli: cannot check berth's nft table: ${(err as Error).message}`);
    }
  });
  for (const c of containerCommands(ctx)) program.addCommand(c, { hidden: c.name() === 'internal' });
  program.addCommand(networkCommand(ctx));
  program.addCommand(systemCommand(ctx));
  program
    .command('daemon')
    .description('run the daemon: REST API (Docker Engine API subset), repair, nft watch')
    .option('--api <listener>', 'unix:///PATH or tcp://127.0.0.1:PORT (repeatable; default unix://$BERTH_RUN/berth.sock)', (v: string, acc: string[]) => [...acc, v], [])
    .option('--cluster-store <etcd://H:P[,H:P…]>', 'join a cluster through these etcd members (overlay networks)')
    .option('--advertise-addr <ip>', "this host's address on the underlay: its VTEP (needed with --cluster-store)")
    .option('--cluster-lease-ttl <seconds>', "how long this host's cluster records outlive a dead daemon", '15')
    .option('--wireguard-port <port>', 'UDP port of this host\'s WireGuard device (encrypted overlay networks)', '51820')
    .action(async (o: { api: string[]; clusterStore?: string; advertiseAddr?: string; clusterLeaseTtl: string; wireguardPort: string }) => {
      // a daemon runs in its own process, never inside another daemon
      if (ctx.remote) return void (ctx.remote.handoff = { kind: 'local' });
      const { startDaemon } = await import('../daemon/main.js');
      const { berthPaths } = await import('../common/config.js');
      const api = o.api.length ? o.api : [`unix://${berthPaths().run}/berth.sock`];
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      if (Boolean(o.clusterStore) !== Boolean(o.advertiseAddr)) {
        throw new UserError('--cluster-store and --advertise-addr go together: give both to join a cluster, or neither');
      }
      const ttl = Number(o.clusterLeaseTtl);
      if (!/^[0-9]+$/.test(o.clusterLeaseTtl) || ttl < 2 || ttl > 3600) throw new UserError(`invalid --cluster-lease-ttl "${o.clusterLeaseTtl}": expected whole seconds from 2 to 3600`);
      const wgPort = Number(o.wireguardPort);
      if (!/^[0-9]+$/.test(o.wireguardPort) || wgPort < 1 || wgPort > 65535) throw new UserError(`invalid --wireguard-port "${o.wireguardPort}": expected a UDP port from 1 to 65535`);
      const cluster = o.clusterStore && o.advertiseAddr ? { store: o.clusterStore, advertiseAddress: o.advertiseAddr, leaseTtlSeconds: ttl, wireguardPort: wgPort } : undefined;
      const daemon = await startDaemon({ api, log, ...(cluster ? { cluster } : {}) });
      await new Promise<void>((resolve) => {
        for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
      });
      log('stopping');
      await daemon.stop();
    });
  return program;
}

/**
 * Run one berth command line (argv without node and script) in ctx. Exit statuses
 * (DESIGN.md): 0 ok, 1 user error, 2 usage, 3 system/kernel error; berth run: the command's.
 */
export async function runCli(args: readonly string[], ctx: CliContext): Promise<number> {
  trace('cli: loaded');
  const program = buildProgram(ctx);
  const output = { writeOut: (s: string) => ctx.out(s), writeErr: (s: string) => ctx.err(s) };
  const configure = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.configureOutput(output);
    cmd.commands.forEach(configure);
  };
  configure(program);
  try {
    await program.parseAsync(['node', 'berth', ...args]);
    return ctx.exitCode ?? 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are "errors" to commander; they exit 0
      return err.exitCode === 0 ? 0 : 2;
    }
    return reportError(err, ctx);
  }
}

/** Print a failure as the CLI does and return its exit status. */
export function reportError(err: unknown, ctx: CliContext): number {
  if (err instanceof BerthError) {
    ctx.err(`berth: ${err.message}\n`);
    return err.exitCode;
  }
  ctx.err(`berth: ${(err as Error).stack ?? String(err)}\n`);
  return 3;
}
