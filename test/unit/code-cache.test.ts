// The launchers' start-up (bin/berth, bin/berth-cni, issue 16): each bundle's V8 code cache, made
// at build time, is accepted by this node (a rejected cache silently costs a full compile on every
// call), and `berth --version` loads no native addon (no store, netlink or nftables). The native
// client runs the CLI from its V8 startup snapshot (dist/berth.blob): with this node only, with
// the flags it was made with, reading the caller's environment and the package where it runs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Script } from 'node:vm';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const { compileBundle } = createRequire(import.meta.url)(join(REPO, 'bin', 'code-cache.cjs')) as { compileBundle: (bundle: string, cache: string) => Script };

for (const name of ['berth', 'berth-cni']) {
  void test(`dist/${name}.cjs is compiled with its code cache, and V8 accepts it`, () => {
    const script = compileBundle(join(REPO, 'dist', `${name}.cjs`), join(REPO, 'dist', `${name}.cache`));
    assert.equal(script.cachedDataRejected, false, `V8 rejected dist/${name}.cache (or it is missing or older than the bundle): rebuild with npm run build`);
  });
  void test(`dist/${name}.cjs has no import() left: a vm.Script has no loader for it`, () => {
    // e.g. `await import('node:os')`: "A dynamic import callback was not specified" at run time
    assert.doesNotMatch(readFileSync(join(REPO, 'dist', `${name}.cjs`), 'utf8'), /\bimport\(/);
  });
}

void test('berth --version and berth version load no native addon', () => {
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-'));
  try {
    // preloaded: prints every native addon the process opens
    const probe = join(dir, 'probe.cjs');
    writeFileSync(probe, "const seen = []; const dlopen = process.dlopen; process.dlopen = (m, f, ...r) => (seen.push(f), dlopen.call(process, m, f, ...r)); process.on('exit', () => process.stderr.write('addons:' + JSON.stringify(seen) + '\\n')); if (process.env.PROBE_LOAD) require(process.env.PROBE_LOAD);\n");
    const addons = (args: string[], env: NodeJS.ProcessEnv = {}): string[] => {
      const r = spawnSync(process.execPath, ['--require', probe, ...args], { cwd: REPO, encoding: 'utf8', env: { ...process.env, ...env } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(/^addons:(.*)$/m.exec(r.stderr)?.[1] ?? 'null') as string[];
    };
    // the probe sees an addon when one is loaded
    assert.equal(addons(['-e', "require('koffi')"]).length, 1);
    assert.deepEqual(addons([join(REPO, 'bin', 'berth'), '--version']), []);
    assert.deepEqual(addons([join(REPO, 'bin', 'berth'), 'version', '--format', 'json']), []);
    // from the startup snapshot (the probe is preloaded after its deserialization)
    assert.equal(addons([...snapshotArgs(REPO), '--version'], { PROBE_LOAD: createRequire(import.meta.url).resolve('koffi') }).length, 1);
    assert.deepEqual(addons([...snapshotArgs(REPO), '--version']), []);
    assert.deepEqual(addons([...snapshotArgs(REPO), 'version', '--format', 'json']), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** node's arguments that run the CLI of the package at root from its snapshot, as native/berth-client.c does */
function snapshotArgs(root: string): string[] {
  return [...clientSnapshotFlags(), '--snapshot-blob', join(root, 'dist', 'berth.blob'), join(root, 'dist', 'berth.cjs')];
}

/** native/berth-client.c's snapshot_flags */
function clientSnapshotFlags(): string[] {
  const list = /snapshot_flags\[\] = \{([^}]*)\}/.exec(readFileSync(join(REPO, 'native', 'berth-client.c'), 'utf8'))?.[1];
  assert.ok(list !== undefined, 'native/berth-client.c has no snapshot_flags');
  return [...list.matchAll(/"([^"]*)"/g)].map((m) => m[1] ?? '');
}

void test('the native client and the build give the snapshot the same node flags', () => {
  const built = /const snapshotFlags = \[([^\]]*)\]/.exec(readFileSync(join(REPO, 'scripts', 'bundle.mjs'), 'utf8'))?.[1];
  assert.ok(built !== undefined, 'scripts/bundle.mjs has no snapshotFlags');
  assert.deepEqual([...built.matchAll(/'([^']*)'/g)].map((m) => m[1]), clientSnapshotFlags());
});

void test('the native client runs the CLI and the CNI plugin from their snapshots, and `berth daemon` without one', () => {
  // BERTH_NO_DAEMON: the client execs node at once; the probe prints node's own flags
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-'));
  try {
    const probe = join(dir, 'probe.cjs');
    writeFileSync(probe, "process.stderr.write('execArgv:' + JSON.stringify(process.execArgv) + '\\n'); if (process.argv.includes('daemon')) process.exit(0);\n");
    const execArgv = (bin: string, args: string[], env: NodeJS.ProcessEnv = {}): string[] => {
      const r = spawnSync(join(REPO, 'dist', bin), args, { encoding: 'utf8', input: '{}', env: { ...process.env, ...env, BERTH_NO_DAEMON: '1', NODE_OPTIONS: `--require ${probe}` } });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(/^execArgv:(.*)$/m.exec(r.stderr)?.[1] ?? 'null') as string[];
    };
    assert.deepEqual(execArgv('berth', ['--version']), [...clientSnapshotFlags(), '--snapshot-blob', join(REPO, 'dist', 'berth.blob')]);
    assert.deepEqual(execArgv('berth', ['daemon', '--help']), []);
    assert.deepEqual(execArgv('berth-cni', [], { CNI_COMMAND: 'VERSION' }), [...clientSnapshotFlags(), '--snapshot-blob', join(REPO, 'dist', 'berth-cni.blob')]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('the snapshot reads the environment and its package where it runs, not where it was built', () => {
  // a copy of the package elsewhere (as bench/startup freezes a build): its own package.json
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-'));
  try {
    for (const part of ['dist/berth.blob', 'dist/berth.cjs', 'bin']) cpSync(join(REPO, part), join(dir, part), { recursive: true });
    symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
    const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string };
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, version: '99.0.0-copy' }));
    const r = spawnSync(process.execPath, [...snapshotArgs(dir), '--version'], { encoding: 'utf8', env: { ...process.env, BERTH_TRACE: '1' } });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), '99.0.0-copy');
    // BERTH_TRACE was not set when the snapshot was made
    assert.match(r.stderr, /^\[trace [0-9.]+ ms\] /m);
    // the plugin answers VERSION from its snapshot
    const cni = spawnSync(process.execPath, [...clientSnapshotFlags(), '--snapshot-blob', join(REPO, 'dist', 'berth-cni.blob'), join(REPO, 'dist', 'berth-cni.cjs')], {
      encoding: 'utf8',
      input: '{"cniVersion":"0.4.0"}',
      env: { ...process.env, CNI_COMMAND: 'VERSION' },
    });
    assert.equal(cni.status, 0, cni.stderr);
    assert.equal((JSON.parse(cni.stdout) as { cniVersion: string }).cniVersion, '0.4.0');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

void test('processes started from the snapshot do not share Math.random or the random bytes of the build', () => {
  // a snapshot holds the heap as the build left it: each process must still draw its own numbers
  const dir = mkdtempSync(join(tmpdir(), 'berth-unit-'));
  try {
    const probe = join(dir, 'probe.cjs');
    writeFileSync(probe, "process.on('exit', () => process.stderr.write('rand:' + Math.random() + ':' + require('node:crypto').randomBytes(8).toString('hex') + '\\n'));\n");
    const draw = (): string => {
      const r = spawnSync(process.execPath, ['--require', probe, ...snapshotArgs(REPO), '--version'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return /^rand:(.*)$/m.exec(r.stderr)?.[1] ?? '';
    };
    const [a, b] = [draw(), draw()];
    assert.match(a, /^0\.\d+:[0-9a-f]{16}$/);
    assert.notEqual(a.split(':')[0], b.split(':')[0]);
    assert.notEqual(a.split(':')[1], b.split(':')[1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
