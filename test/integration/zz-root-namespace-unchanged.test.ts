// Runs last (file order): the suite must leave the machine's own network namespace as it found
// it, and leave no lab namespace, lab temp dir or lab process behind.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RootSnapshot, checkLeftovers, diffSnapshots, loadSnapshot, snapshotRootNamespace } from '../lab/index.js';

const file = process.env.BERTH_TEST_ROOT_SNAPSHOT;
const NOT_SET =
  'BERTH_TEST_ROOT_SNAPSHOT is not set: scripts/test.sh saves a snapshot of the root network namespace ' +
  'before the suite (node dist/test/lab/root-snapshot.js save FILE) and sets this variable to FILE';

let before: RootSnapshot | undefined;

void test('the root network namespace is unchanged by the suite', async (t) => {
  if (!file) {
    t.skip(NOT_SET);
    return;
  }
  before = await loadSnapshot(file);
  const diff = diffSnapshots(before, await snapshotRootNamespace());
  assert.ok(
    diff.length === 0,
    `the root network namespace changed since ${before.takenAt} (snapshot ${file}):\n  ${diff.join('\n  ')}`,
  );
});

void test('no lab namespace, temp dir or process is left behind', async (t) => {
  if (!file) {
    t.skip(NOT_SET);
    return;
  }
  before ??= await loadSnapshot(file);
  const { problems, notes } = await checkLeftovers(before.netns);
  for (const n of notes) t.diagnostic(n);
  assert.ok(
    problems.length === 0,
    `lab leftovers (node dist/test/lab/sweep-cli.js removes them):\n  ${problems.join('\n  ')}`,
  );
});
