// Remove what crashed test runs left behind (see sweep.ts):
//   node dist/test/lab/sweep-cli.js [--dry-run] [--include-unowned] [--tag HEX4]...
// --include-unowned also removes bt… namespaces that have no owner record: only for machines
// where nothing but this suite uses the prefix (CI). Exits 1 if something could not be removed.
import { sweepLabs } from './sweep.js';

const USAGE = 'usage: sweep-cli.js [--dry-run] [--include-unowned] [--tag HEX4]...';

async function main(argv: string[]): Promise<number> {
  let dryRun = false;
  let includeUnowned = false;
  const tags: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--dry-run') dryRun = true;
    else if (a === '--include-unowned') includeUnowned = true;
    else if (a === '--tag' && /^[0-9a-f]{4}$/.test(argv[i + 1] ?? '')) tags.push(argv[++i] ?? '');
    else {
      console.error(`sweep-cli: unexpected argument "${a ?? ''}"\n${USAGE}`);
      return 2;
    }
  }
  const r = await sweepLabs({ dryRun, includeUnowned, ...(tags.length ? { tags } : {}), log: (l) => console.log(l) });
  const verb = dryRun ? 'would remove' : 'removed';
  console.log(`sweep: ${verb} ${r.removedNetns.length} netns, ${r.removedDirs.length} dirs; ${dryRun ? 'would kill' : 'killed'} ${r.killed.length} processes`);
  for (const s of r.skipped) console.log(`sweep: skipped ${s.what}: ${s.reason}`);
  for (const e of r.errors) console.error(`sweep: error: ${e}`);
  return r.errors.length ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`sweep-cli: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 3;
  },
);
