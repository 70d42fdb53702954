// The in-process CLI: one command line, run by the engine in this process.
import { processContext } from './context.js';
import { needsRoot, PERMISSION_DENIED, runCli } from './program.js';

const args = process.argv.slice(2);
let status: number;
if (needsRoot(args)) {
  process.stderr.write(`berth: ${PERMISSION_DENIED}\n`);
  status = 1;
} else {
  status = await runCli(args, processContext());
}
// Exit as soon as the output is flushed: idle handles (netlink sockets, timers of libraries)
// would otherwise keep the process around for tens of milliseconds after its work is done.
// The daemon never gets here while it runs.
process.exitCode = status;
process.stdout.write('', () => process.stderr.write('', () => process.exit(status)));
