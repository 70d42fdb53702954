// Command-line flags of the bench scripts: `--name value` pairs, read where they are used.

/** The value after --name on the command line, or fallback. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] !== undefined ? (process.argv[i + 1] as string) : fallback;
}

/** A whole-number flag of at least min; anything else ends the script with status 2, naming it. */
export function wholeNumberArg(name: string, fallback: number, min = 0): number {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isInteger(v) || v < min) {
    console.error(`invalid ${name} "${arg(name, '')}": expected a whole number >= ${min}`);
    process.exit(2);
  }
  return v;
}
