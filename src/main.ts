// The berth binary (bin/berth, dist/berth.mjs), part of the composition root: the in-process CLI
// runs one command line with the engine in this process; `berth daemon` runs the daemon wired
// in src/daemon-root.ts (loaded only then: a plain command never pays for the daemon's code).
import { processContext, type DaemonRequest } from './cli/context.js';
import { needsRoot, PERMISSION_DENIED, runCli } from './cli/program.js';

async function runDaemon(req: DaemonRequest): Promise<void> {
  const { serveDaemon } = await import('./daemon-root.js');
  await serveDaemon(req);
}

const args = process.argv.slice(2);
let status: number;
if (needsRoot(args)) {
  process.stderr.write(`berth: ${PERMISSION_DENIED}\n`);
  status = 1;
} else {
  status = await runCli(args, { ...processContext(), runDaemon });
}
// Exit as soon as the output is flushed: idle handles (netlink sockets, timers of libraries)
// would otherwise keep the process around for tens of milliseconds after its work is done.
// The daemon never gets here while it runs.
process.exitCode = status;
process.stdout.write('', () => process.stderr.write('', () => process.exit(status)));
