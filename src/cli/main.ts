// berth's command line: parse, validate at the edge, call the engine, format. No logic here.
import { Command, CommanderError, Option } from 'commander';
import { BerthError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import { VERSION } from '../common/version.js';
import { containerCommands } from './commands/containers.js';
import { networkCommand } from './commands/networks.js';
import { systemCommand } from './commands/system.js';

function buildProgram(): Command {
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
      if (opts.format === 'json') process.stdout.write(`${JSON.stringify({ Version: VERSION, Node: process.version })}\n`);
      else process.stdout.write(`berth ${VERSION}\n`);
    });
  for (const c of containerCommands()) program.addCommand(c, { hidden: c.name() === 'internal' });
  program.addCommand(networkCommand());
  program.addCommand(systemCommand());
  program
    .command('daemon')
    .description('run the daemon: REST API (Docker Engine API subset), repair, nft watch')
    .option('--api <listener>', 'unix:///PATH or tcp://127.0.0.1:PORT (repeatable; default unix://$BERTH_RUN/berth.sock)', (v: string, acc: string[]) => [...acc, v], [])
    .action(async (o: { api: string[] }) => {
      const { startDaemon } = await import('../daemon/main.js');
      const { berthPaths } = await import('../common/config.js');
      const api = o.api.length ? o.api : [`unix://${berthPaths().run}/berth.sock`];
      const log = (line: string) => process.stderr.write(`${new Date().toISOString()} ${line}\n`);
      const daemon = await startDaemon({ api, log });
      await new Promise<void>((resolve) => {
        for (const sig of ['SIGTERM', 'SIGINT'] as const) process.once(sig, () => resolve());
      });
      log('stopping');
      await daemon.stop();
    });
  return program;
}

/** Exit statuses (DESIGN.md): 0 ok, 1 user error, 2 usage, 3 system/kernel error. */
async function main(argv: string[]): Promise<number> {
  trace('cli: loaded');
  const program = buildProgram();
  const overrideExit = (cmd: Command): void => {
    cmd.exitOverride();
    cmd.commands.forEach(overrideExit);
  };
  overrideExit(program);
  try {
    await program.parseAsync(argv);
    // an action may have set a status of its own (berth run: the command's)
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are "errors" to commander; they exit 0
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof BerthError) {
      process.stderr.write(`berth: ${err.message}\n`);
      return err.exitCode;
    }
    process.stderr.write(`berth: ${(err as Error).stack ?? String(err)}\n`);
    return 3;
  }
}

const status = await main(process.argv);
// Exit as soon as the output is flushed: idle handles (netlink sockets, timers of libraries)
// would otherwise keep the process around for tens of milliseconds after its work is done.
// The daemon never gets here while it runs.
process.exitCode = status;
process.stdout.write('', () => process.stderr.write('', () => process.exit(status)));
