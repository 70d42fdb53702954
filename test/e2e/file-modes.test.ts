// End to end, the modes of every file berth writes (issue 11, item 7). Before: berth.db and its
// -wal/-shm were created 0644, so with a BERTH_ROOT that existed as 0755 `nobody` read every
// container's configuration; pid and exit files were 0644, logs 0640. Now BERTH_ROOT is 0700,
// everything in it 0600, a container's pid/exit/log files 0600, the API socket 0660, and the
// daemon refuses a socket directory anyone may write. The lab's directories are 0755, so only
// berth's own modes stand between nobody and the files.
import assert from 'node:assert/strict';
import { chmod, chown, lstat, mkdir, readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Host, Lab } from '../lab/index.js';
import { asNobody } from './auth-helpers.js';
import { type Daemon, killContainers, startDaemon, stopDaemon } from './daemon-helpers.js';
import { sleep } from './helpers.js';

const T = { timeout: 90_000 };

interface Entry {
  path: string;
  mode: number;
  kind: 'file' | 'dir' | 'socket' | 'other';
}

async function walk(dir: string): Promise<Entry[]> {
  const out: Entry[] = [];
  for (const name of await readdir(dir)) {
    const path = join(dir, name);
    const st = await lstat(path);
    const kind = st.isDirectory() ? 'dir' : st.isFile() ? 'file' : st.isSocket() ? 'socket' : 'other';
    out.push({ path, mode: st.mode & 0o7777, kind });
    if (kind === 'dir') out.push(...(await walk(path)));
  }
  return out;
}

const octal = (m: number) => m.toString(8).padStart(4, '0');

void describe('file modes of everything berth writes', () => {
  let lab: Lab;
  let h: Host;
  let d: Daemon | undefined;

  before(async () => {
    lab = await Lab.create({ label: 'e2e file modes' });
    h = await lab.createHost('h');
    // as an admin might have made them: readable by all
    await chmod(h.rootDir, 0o755);
    await chmod(join(h.rootDir, '..'), 0o755);
  });
  after(async () => {
    await stopDaemon(d).catch(() => undefined);
    if (h) await killContainers(h);
    await lab?.close();
  });

  void test('BERTH_ROOT 0700 (it was 0755), its files 0600; pid, exit and log 0600; socket 0660; nobody reads nothing', T, async () => {
    await h.berthOk(['network', 'create', '--subnet', '10.61.0.0/24', '--label', 'secret=hunter2', 'modes']);
    await h.berthOk(['run', '-d', '--name', 'long', '--network', 'modes', '-p', '8080:80', '--', 'sleep', '300']);
    await h.berthOk(['run', '-d', '--name', 'short', '--', 'sh', '-c', 'echo said-something']);
    d = await startDaemon(h, { args: ['--api', 'tcp://127.0.0.1:23780'] });
    // a write through the daemon too (its connection keeps -wal and -shm around)
    await h.berthOk(['network', 'create', 'modes2']);
    const until = Date.now() + 10_000;
    while (!(await h.berth(['logs', 'short'])).stdout.includes('said-something') && Date.now() < until) await sleep(50);

    const rootStat = await stat(h.rootDir);
    assert.equal(rootStat.mode & 0o777, 0o700, `BERTH_ROOT mode ${octal(rootStat.mode & 0o777)}`);
    const inRoot = await walk(h.rootDir);
    const names = inRoot.map((e) => relative(h.rootDir, e.path));
    for (const f of ['berth.db', 'berth.db-wal', 'berth.db-shm', 'api-token']) assert.ok(names.includes(f), `${f} is there (${names.join(', ')})`);
    for (const e of inRoot) {
      assert.equal(e.mode & 0o077, 0, `${relative(h.rootDir, e.path)} is ${octal(e.mode)}: nothing in BERTH_ROOT may be open to group or others`);
    }

    const inRun = await walk(h.runDir);
    const seen = new Set<string>();
    for (const e of inRun) {
      const rel = relative(h.runDir, e.path);
      assert.equal(e.mode & 0o002, 0, `${rel} is ${octal(e.mode)}: world-writable`);
      const base = rel.split('/').pop() ?? '';
      if (e.kind === 'file' && ['pid', 'exit', 'log'].includes(base)) {
        seen.add(base);
        assert.equal(e.mode, 0o600, `${rel} is ${octal(e.mode)}, expected 0600`);
      }
      // a container's /etc/hosts, /etc/resolv.conf and /etc/hostname: every user in it reads them
      if (e.kind === 'file' && ['hosts', 'resolv.conf', 'hostname'].includes(base)) assert.equal(e.mode, 0o644, `${rel}`);
      if (e.kind === 'socket') {
        seen.add('socket');
        assert.equal(e.mode & 0o007, 0, `${rel} is ${octal(e.mode)}: open to others`);
      }
    }
    assert.deepEqual([...seen].sort(), ['exit', 'log', 'pid', 'socket'], 'pid, exit, log files and the socket were checked');

    // nobody, with every directory above BERTH_ROOT open to it, reads nothing
    for (const f of ['berth.db', 'berth.db-wal', 'api-token']) {
      const r = await h.exec(asNobody(['cat', join(h.rootDir, f)]));
      assert.notEqual(r.code, 0, `nobody read ${f}`);
      assert.doesNotMatch(r.stdout, /hunter2/);
    }
    const ls = await h.exec(asNobody(['ls', h.rootDir]));
    assert.notEqual(ls.code, 0, 'nobody cannot list BERTH_ROOT');
    const viaSocket = await h.exec(asNobody(['curl', '-sS', '--unix-socket', join(h.runDir, 'berth.sock'), 'http://berth/_ping']));
    assert.notEqual(viaSocket.code, 0, `nobody cannot connect to the API socket: ${viaSocket.stdout}`);
    for (const c of ['long', 'short']) await h.berthOk(['rm', '-f', c]);
  });

  void test('a store made 0644 by an older berth is narrowed to 0600 when opened', T, async () => {
    await stopDaemon(d);
    d = undefined;
    for (const f of ['berth.db', 'berth.db-wal', 'berth.db-shm']) await chmod(join(h.rootDir, f), 0o644).catch(() => undefined);
    await chmod(h.rootDir, 0o755);
    await h.berthOk(['network', 'ls']);
    assert.equal((await stat(h.rootDir)).mode & 0o777, 0o700);
    for (const e of await walk(h.rootDir)) assert.equal(e.mode & 0o077, 0, `${e.path} is ${octal(e.mode)}`);
  });

  void test('a shared world-writable BERTH_ROOT (like /tmp) is refused, not closed to its other users', T, async () => {
    const shared = join(lab.dir, 'tmp-like');
    await mkdir(shared, { recursive: true });
    await chmod(shared, 0o1777);
    const r = await h.berth(['network', 'ls'], { env: { BERTH_ROOT: shared } });
    assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /BERTH_ROOT ".*tmp-like" is a shared, world-writable directory/);
    assert.equal((await stat(shared)).mode & 0o7777, 0o1777, 'its mode is left alone');
    assert.deepEqual(await readdir(shared), [], 'nothing written there');
  });

  void test('the daemon refuses a socket in a directory others may write (exit 1, named)', T, async () => {
    const open = join(lab.dir, 'open');
    await mkdir(open, { recursive: true });
    await chmod(open, 0o1777);
    const sockPath = join(open, 'berth.sock');
    const r = await h.berth(['daemon', '--api', `unix://${sockPath}`], { timeoutMs: 15_000 });
    assert.equal(r.code, 1, `exit ${r.code}: ${r.stderr}`);
    assert.match(r.stderr, /world-writable \(mode 1777\)/);
    assert.doesNotMatch(r.stderr, /listening on/);
    await assert.rejects(stat(sockPath), 'no socket was made');
    // group-writable, or another user's directory: the same
    const shared = join(lab.dir, 'shared');
    await mkdir(shared, { recursive: true });
    await chmod(shared, 0o775);
    const g = await h.berth(['daemon', '--api', `unix://${join(shared, 'berth.sock')}`], { timeoutMs: 15_000 });
    assert.equal(g.code, 1, `exit ${g.code}: ${g.stderr}`);
    assert.match(g.stderr, /group-writable \(mode 775\)/);
    const theirs = join(lab.dir, 'theirs');
    await mkdir(theirs, { recursive: true });
    await chown(theirs, 65534, 65534);
    const o = await h.berth(['daemon', '--api', `unix://${join(theirs, 'berth.sock')}`], { timeoutMs: 15_000 });
    assert.equal(o.code, 1, `exit ${o.code}: ${o.stderr}`);
    assert.match(o.stderr, /owned by uid 65534/);
  });
});
