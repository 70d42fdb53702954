// CLI around the root-namespace snapshot, for scripts/test.sh:
//   node dist/test/lab/root-snapshot.js save FILE      before the suite
//   node dist/test/lab/root-snapshot.js compare FILE   after it: prints differences and lab
//                                                      leftovers, exits 1 if there are any
//   node dist/test/lab/root-snapshot.js show           print a snapshot (JSON) to stdout
import { diffSnapshots, loadSnapshot, saveSnapshot, snapshotRootNamespace } from './snapshot.js';
import { checkLeftovers } from './sweep.js';

const USAGE = 'usage: root-snapshot.js save FILE | compare FILE | show';

async function main(argv: string[]): Promise<number> {
  const [cmd, file, ...extra] = argv;
  if (extra.length) {
    console.error(USAGE);
    return 2;
  }
  if (cmd === 'save' && file) {
    const s = await saveSnapshot(file);
    console.log(`root namespace snapshot saved to ${file}: ${Object.keys(s.links).length} links, ${s.routes.length} routes, ${s.nft.length} nft objects, ${s.netns.length} netns`);
    return 0;
  }
  if (cmd === 'compare' && file) {
    const before = await loadSnapshot(file);
    const diff = diffSnapshots(before, await snapshotRootNamespace());
    const left = await checkLeftovers(before.netns);
    for (const n of left.notes) console.log(`note: ${n}`);
    if (diff.length === 0 && left.problems.length === 0) {
      console.log(`root namespace unchanged since ${before.takenAt}; no lab leftovers`);
      return 0;
    }
    if (diff.length) {
      console.log(`root namespace changed since ${before.takenAt}:`);
      for (const d of diff) console.log(`  ${d}`);
    }
    if (left.problems.length) {
      console.log('lab leftovers:');
      for (const p of left.problems) console.log(`  ${p}`);
    }
    return 1;
  }
  if (cmd === 'show' && file === undefined) {
    console.log(JSON.stringify(await snapshotRootNamespace(), null, 2));
    return 0;
  }
  console.error(USAGE);
  return 2;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    console.error(`root-snapshot: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 3;
  },
);
