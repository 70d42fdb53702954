// End to end, issue 16: a container's mount namespace is made from a base namespace and a clone
// of the host's tree that leaves out $BERTH_RUN/netns (native/berth-init.c, "the containers'
// mount namespace"). Counted, not timed: however many containers run, a new one's namespace
// holds no mount under this host's BERTH_RUN (before, one netns bind mount per container already
// running, each keeping that container's namespace alive after its removal), in every mode.
import assert from 'node:assert/strict';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Host } from '../lab/index.js';
import { type BasicLab, basicLab, hostState, inspect, runDetached } from './helpers.js';

const T = { timeout: 180_000 };
const N = 8;

/** Mount points under the host's BERTH_RUN in the mount namespace of the container's PID 1. */
async function runMounts(h: Host, ctr: string): Promise<string[]> {
  const pid = (await inspect(h, ctr)).State.Pid;
  const text = await readFile(`/proc/${pid}/mountinfo`, 'utf8');
  return text
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .filter((m) => m === h.runDir || m.startsWith(`${h.runDir}/`));
}

void describe("a container's mount namespace", () => {
  let L: BasicLab;
  before(async () => {
    L = await basicLab('e2e mount-ns');
  });
  after(async () => {
    await L?.lab.close();
  });

  void test(`holds none of the other containers' netns files, with 1 to ${N} running`, T, async () => {
    const { h } = L;
    const ids: string[] = [];
    const seen: number[] = [];
    for (let i = 0; i < N; i++) {
      ids.push(await runDetached(h, ['--', 'sleep', '600']));
      seen.push((await runMounts(h, ids[i] as string)).length);
    }
    assert.deepEqual(seen, Array(N).fill(0), 'mounts under BERTH_RUN in the i-th container, for i = 1..N');
    const first = ids[0] as string;
    const joined = await runDetached(h, ['--network', `container:${first}`, '--', 'sleep', '600']);
    const host = await runDetached(h, ['--network', 'host', '--', 'sleep', '600']);
    assert.deepEqual(await runMounts(h, joined), [], 'container mode');
    assert.deepEqual(await runMounts(h, host), [], 'host mode');
    // the container still sees the host's files as they are now, and its own /etc files
    const r = await h.berthOk(['exec', ids[N - 1] as string, '--', 'sh', '-c', `cat /etc/hostname; test -d ${h.runDir}/containers && echo run-dir-seen`]);
    assert.deepEqual(r.stdout.trim().split('\n'), [ids[N - 1]?.slice(0, 12), 'run-dir-seen']);

    // removed, a container's namespace is the host's no more: no copy of its netns file anywhere
    await h.berthOk(['rm', '-f', joined]);
    const before = await hostState(h);
    await h.berthOk(['rm', '-f', first]);
    const after = await hostState(h);
    assert.deepEqual(after.netns, before.netns.filter((n) => n !== first));
    assert.deepEqual(after.mounts, before.mounts.filter((m) => !m.endsWith(`/netns/${first}`)));
    for (const id of [...ids.slice(1), host]) assert.deepEqual(await runMounts(h, id), [], `container ${id.slice(0, 12)}`);
    await h.berthOk(['rm', '-f', ...ids.slice(1), host]);
  });

  void test('starts from a working directory that was deleted, in "/"', T, async () => {
    const { h } = L;
    // the shell enters the directory, removes it, then runs berth there (argv, no interpolation)
    const dir = await mkdtemp(join(tmpdir(), 'berth-gone-cwd-'));
    const r = await h.exec(['sh', '-c', 'cd "$1" && rmdir "$1" && shift && exec "$@"', 'sh', dir, ...h.berthArgv(['run', '--rm', '--network', 'none', '--', 'pwd'])]);
    assert.equal(r.code, 0, `exit ${r.code}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), '/');
  });
});
