// berth's command line: parse, validate at the edge, call the engine, format. No logic here.
// runCli serves both the in-process CLI (src/main.ts) and the daemon's CLI gateway.
import { Command, CommanderError, Option } from 'commander';
import { BerthError, UserError, escapeControls, quote } from '../common/errors.js';
import { trace } from '../common/trace.js';
import { VERSION } from '../common/version.js';
import { loadCommands } from './command-groups.js';
import type { CliContext } from './context.js';

/** ['berth', 'network', 'ls'] for `berth network ls`. */
function commandPath(cmd: Command): string[] {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names;
}

function buildProgram(ctx: CliContext, commands: readonly Command[]): Command {
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
  // Every command first puts back berth's nft table if someone deleted it (not only the daemon:
  // none of berth's protections may stay off because no daemon runs), then makes the store true
  // about containers whose end nobody recorded (a killed shim, a creation abandoned by a dead
  // daemon); the daemon does the latter in its CLI gateway. `system` reports and repairs on its
  // own terms (check must change nothing); version and daemon need no store.
  program.hook('preAction', async (_cmd, action) => {
    const top = commandPath(action)[1];
    if (top !== 'version') await ctx.ready?.();
    trace('cli: engine loaded');
    if (top === undefined || ['version', 'daemon', 'system'].includes(top) || process.geteuid?.() !== 0) return;
    const { restoreFirewallIfMissing } = await import('../engine/firewall-state.js');
    try {
      if (restoreFirewallIfMissing(ctx.engine())) trace("cli: berth's nft table was gone; restored it");
    } catch (err) {
      trace(`cli: cannot check berth's nft table: ${(err as Error).message}`);
    }
    trace("cli: nft table checked");
    if (ctx.remote || ['on-exit', 'finish'].includes(action.name())) return;
    const { reconcileContainers } = await import('../engine/reconcile.js');
    await reconcileContainers(ctx.engine());
    trace('cli: containers reconciled');
  });
  for (const c of commands) program.addCommand(c, { hidden: c.name() === 'internal' });
  program
    .command('daemon')
    .description('run the daemon: REST API (Docker Engine API subset), repair, nft watch')
    .option('--api <listener>', 'unix:///PATH or tcp://IP:PORT (repeatable; default unix://$BERTH_RUN/berth.sock); TCP needs --tlsverify, or on loopback the token in $BERTH_ROOT/api-token', (v: string, acc: string[]) => [...acc, v], [])
    .option('--tlsverify', 'TCP listeners use TLS and accept only clients with a certificate signed by --tlscacert')
    .option('--tlscacert <file>', 'CA certificate (PEM) that signs client certificates')
    .option('--tlscert <file>', "the daemon's TLS certificate (PEM)")
    .option('--tlskey <file>', "the daemon's TLS key (PEM)")
    .option('--cluster-store <etcd://H:P[,H:P…]>', 'join a cluster through these etcd members (overlay networks)')
    .option('--advertise-addr <ip>', "this host's address on the underlay: its VTEP (needed with --cluster-store)")
    .option('--cluster-lease-ttl <seconds>', "how long this host's cluster records outlive a dead daemon", '15')
    .option('--cluster-reclaim-after <seconds>', "how long after a host's lease expired its overlay addresses are released for reuse (a host back sooner keeps them)", '300')
    .option('--tunnel-subnet <cidr>', "the cluster's WireGuard tunnel subnet (encrypted overlay networks), written by the first daemon to join; a daemon given another refuses to join (default 198.18.0.0/16)")
    .option('--wireguard-port <port>', 'UDP port of this host\'s WireGuard device (encrypted overlay networks)', '51820')
    .option('--docker-plugin [socket]', "serve Docker's network and IPAM driver plugin (docker network create -d berth) on this socket (default /run/docker/plugins/berth.sock; its file name is the driver's name)")
    .option('--ui <ip:port>', 'serve the topology page here (loopback; any other address needs the token the daemon prints)')
    .action(async (o: { dockerPlugin?: string | true; ui?: string; api: string[]; tlsverify?: boolean; tlscacert?: string; tlscert?: string; tlskey?: string; clusterStore?: string; advertiseAddr?: string; clusterLeaseTtl: string; clusterReclaimAfter: string; wireguardPort: string; tunnelSubnet?: string }) => {
      // a daemon runs in its own process, never inside another daemon
      if (ctx.remote) return void (ctx.remote.handoff = { kind: 'local' });
      const { berthPaths } = await import('../common/config.js');
      const api = o.api.length ? o.api : [`unix://${berthPaths().run}/berth.sock`];
      if (Boolean(o.clusterStore) !== Boolean(o.advertiseAddr)) {
        throw new UserError('--cluster-store and --advertise-addr go together: give both to join a cluster, or neither');
      }
      const ttl = Number(o.clusterLeaseTtl);
      if (!/^[0-9]+$/.test(o.clusterLeaseTtl) || ttl < 2 || ttl > 3600) throw new UserError(`invalid --cluster-lease-ttl ${quote(o.clusterLeaseTtl)}: expected whole seconds from 2 to 3600`);
      const reclaim = Number(o.clusterReclaimAfter);
      if (!/^[0-9]+$/.test(o.clusterReclaimAfter) || reclaim > 604_800) throw new UserError(`invalid --cluster-reclaim-after ${quote(o.clusterReclaimAfter)}: expected whole seconds from 0 to 604800 (a week)`);
      const wgPort = Number(o.wireguardPort);
      if (!/^[0-9]+$/.test(o.wireguardPort) || wgPort < 1 || wgPort > 65535) throw new UserError(`invalid --wireguard-port ${quote(o.wireguardPort)}: expected a UDP port from 1 to 65535`);
      if (o.tunnelSubnet !== undefined && !o.clusterStore) throw new UserError('--tunnel-subnet is a cluster setting: give it with --cluster-store and --advertise-addr');
      const tunnelSubnet = o.tunnelSubnet === undefined ? undefined : (await import('../engine/tunnel-subnet.js')).parseTunnelSubnet(o.tunnelSubnet);
      const cluster = o.clusterStore && o.advertiseAddr
        ? { store: o.clusterStore, advertiseAddress: o.advertiseAddr, leaseTtlSeconds: ttl, reclaimAfterSeconds: reclaim, wireguardPort: wgPort, ...(tunnelSubnet ? { tunnelSubnet } : {}) }
        : undefined;
      const tls = { verify: Boolean(o.tlsverify), ...(o.tlscacert ? { ca: o.tlscacert } : {}), ...(o.tlscert ? { cert: o.tlscert } : {}), ...(o.tlskey ? { key: o.tlskey } : {}) };
      // the daemon is wired by the composition root, which hands its runner in (a CLI never imports it)
      if (!ctx.runDaemon) throw new Error('this berth cannot run a daemon');
      const dockerPlugin = o.dockerPlugin === true ? '/run/docker/plugins/berth.sock' : o.dockerPlugin;
      if (dockerPlugin !== undefined && !/^\/[^\0]*\.sock$/.test(dockerPlugin)) throw new UserError(`invalid --docker-plugin ${quote(dockerPlugin)}: expected an absolute path ending in .sock (dockerd finds /run/docker/plugins/NAME.sock)`);
      await ctx.runDaemon({ api, tls, ...(cluster ? { cluster } : {}), ...(dockerPlugin ? { dockerPlugin } : {}), ...(o.ui !== undefined ? { ui: o.ui } : {}) });
    });
  return program;
}

/**
 * Run one berth command line (argv without node and script) in ctx. Exit statuses
 * (DESIGN.md): 0 ok, 1 user error, 2 usage, 3 system/kernel error; berth run: the command's.
 */
export async function runCli(args: readonly string[], ctx: CliContext): Promise<number> {
  trace('cli: loaded');
  const program = buildProgram(ctx, await loadCommands(args, ctx));
  // commander echoes unknown flags and bad operands as typed: escaped like berth's own messages
  const output = { writeOut: (s: string) => ctx.out(s), writeErr: (s: string) => ctx.err(escapeControls(s)) };
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
    ctx.err(`berth: ${process.env.BERTH_DEBUG === '1' ? (err.stack ?? err.message) : escapeControls(err.message)}\n`);
    return err.exitCode;
  }
  // one line for people; the stack when asked for (BERTH_DEBUG=1)
  const e = err instanceof Error ? err : new Error(String(err));
  if (process.env.BERTH_DEBUG === '1') ctx.err(`berth: ${e.stack ?? e.message}\n`);
  else if (isPermissionError(e)) ctx.err(`berth: ${PERMISSION_DENIED}\n`);
  else ctx.err(`berth: internal error: ${escapeControls(e.message.split('\n')[0] ?? '')} (BERTH_DEBUG=1 shows where)\n`);
  return isPermissionError(e) ? 1 : 3;
}

/** What a user without root is told, by every command that needs root. */
export const PERMISSION_DENIED = 'permission denied: berth programs the kernel and keeps root-only state; run berth as root';

/** EACCES/EPERM anywhere in the cause chain, for a user who is not root (root's EPERM is the kernel's). */
function isPermissionError(err: Error): boolean {
  if (process.geteuid?.() === 0) return false;
  const code = (err as NodeJS.ErrnoException).code;
  return code === 'EACCES' || code === 'EPERM' || (err.cause instanceof Error && isPermissionError(err.cause));
}

/**
 * The in-process CLI run by someone other than root: everything but help and version needs
 * root (the kernel's network, root-only files), so say so once instead of failing half-way.
 */
export function needsRoot(args: readonly string[]): boolean {
  // BERTH_DEBUG=1: let the command fail where it fails, with its stack
  if (process.geteuid?.() === 0 || process.env.BERTH_DEBUG === '1') return false;
  const first = args.find((a) => !a.startsWith('-'));
  const asksHelp = args.some((a) => ['-h', '--help', '-v', '--version'].includes(a));
  return !asksHelp && first !== undefined && !['help', 'version'].includes(first);
}
