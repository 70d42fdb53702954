// berth's commands in groups, each group's module loaded only when the command line may need it:
// `berth --version` loads none, `berth run` only the container commands. Help, a mistyped command
// or anything not listed here loads every group, so commander lists and suggests them all.
import type { Command } from 'commander';
import type { CliContext } from './context.js';

interface CommandGroup {
  /** top-level command names the group defines (a name missing here only costs a full load) */
  names: readonly string[];
  load(ctx: CliContext): Promise<Command[]>;
}

const GROUPS: readonly CommandGroup[] = [
  {
    names: ['run', 'ps', 'inspect', 'exec', 'port', 'logs', 'stop', 'rm', 'internal'],
    load: async (ctx) => (await import('./commands/containers.js')).containerCommands(ctx),
  },
  { names: ['network'], load: async (ctx) => [(await import('./commands/networks.js')).networkCommand(ctx)] },
  { names: ['system'], load: async (ctx) => [(await import('./commands/system.js')).systemCommand(ctx)] },
  { names: ['topology'], load: async (ctx) => [(await import('./commands/topology.js')).topologyCommand(ctx)] },
];

/** Commands the program defines itself (no group needed). */
const BUILT_IN = ['version', 'daemon'];

/** The groups a command line may need. */
function groupsFor(args: readonly string[]): readonly CommandGroup[] {
  if (args.some((a) => a === '-h' || a === '--help')) return GROUPS;
  // the program has no option that takes a value: the first operand is the command's name
  const top = args.find((a) => !a.startsWith('-'));
  if (top === undefined) return args.some((a) => a === '-v' || a === '--version') ? [] : GROUPS;
  if (BUILT_IN.includes(top)) return [];
  const named = GROUPS.filter((g) => g.names.includes(top));
  return named.length > 0 ? named : GROUPS;
}

/** The commands args may need, in the order help lists them. */
export async function loadCommands(args: readonly string[], ctx: CliContext): Promise<Command[]> {
  return (await Promise.all(groupsFor(args).map((g) => g.load(ctx)))).flat();
}
