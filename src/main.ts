// The berth binary (bin/berth, dist/berth.cjs), part of the composition root: the in-process CLI
// runs one command line with the engine in this process; `berth daemon` runs the daemon wired
// in src/daemon-root.ts (loaded only then: a plain command never pays for the daemon's code).
import { processContext, type DaemonRequest } from './cli/context.js';
import { needsRoot, PERMISSION_DENIED, runCli } from './cli/program.js';
import { loadCommands } from './cli/command-groups.js';
import { startupSnapshot } from 'node:v8';

async function runDaemon(req: DaemonRequest): Promise<void> {
  const { serveDaemon } = await import('./daemon-root.js');
  await serveDaemon(req);
}

/**
 * The modules a command loads on demand (every command group, the engine's run, ps, rm and
 * network paths, the pre-command checks), evaluated ahead: by the build's one run that makes the
 * bundle's code cache (scripts/bundle.mjs, BERTH_WRITE_CODE_CACHE) so that their compiled code is
 * in the cache, and while the CLI's V8 startup snapshot is built so that the snapshot holds them
 * evaluated. No command runs. The daemon's code is left out: it starts once and runs for long.
 */
async function preloadCommandModules(): Promise<number> {
  await Promise.all([
    loadCommands(['--help'], processContext()),
    import('./engine/context.js'),
    import('./engine/containers.js'),
    import('./engine/inspect.js'),
    import('./engine/networks.js'),
    import('./engine/firewall-state.js'),
    import('./engine/reconcile.js'),
  ]);
  return 0;
}

async function main(args: string[]): Promise<number> {
  if (process.env.BERTH_WRITE_CODE_CACHE === '1' && args[0] === '--warm-code-cache') return preloadCommandModules();
  if (needsRoot(args)) {
    process.stderr.write(`berth: ${PERMISSION_DENIED}\n`);
    return 1;
  }
  return runCli(args, { ...processContext(), runDaemon });
}

function start(): void {
  void main(process.argv.slice(2)).then((status) => {
    // Exit as soon as the output is flushed: idle handles (netlink sockets, timers of libraries)
    // would otherwise keep the process around for tens of milliseconds after its work is done.
    // The daemon never gets here while it runs.
    process.exitCode = status;
    process.stdout.write('', () => process.stderr.write('', () => process.exit(status)));
  });
}

// no top-level await: the bundle is CommonJS, loaded with V8's code cache (bin/berth) or from the
// startup snapshot (dist/berth.blob, run by the native client), whose build runs no command
if (startupSnapshot.isBuildingSnapshot()) {
  void preloadCommandModules();
  startupSnapshot.setDeserializeMainFunction(start);
} else {
  start();
}
