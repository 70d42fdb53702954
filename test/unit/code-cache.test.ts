// The launchers' start-up (bin/berth, bin/berth-cni, issue 16): each bundle's V8 code cache, made
// at build time, is accepted by this node (a rejected cache silently costs a full compile on every
// call), and `berth --version` loads no native addon (no store, netlink or nftables).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
    writeFileSync(probe, "const seen = []; const dlopen = process.dlopen; process.dlopen = (m, f, ...r) => (seen.push(f), dlopen.call(process, m, f, ...r)); process.on('exit', () => process.stderr.write('addons:' + JSON.stringify(seen) + '\\n'));\n");
    const addons = (args: string[]): string[] => {
      const r = spawnSync(process.execPath, ['--require', probe, ...args], { cwd: REPO, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(/^addons:(.*)$/m.exec(r.stderr)?.[1] ?? 'null') as string[];
    };
    // the probe sees an addon when one is loaded
    assert.equal(addons(['-e', "require('koffi')"]).length, 1);
    assert.deepEqual(addons([join(REPO, 'bin', 'berth'), '--version']), []);
    assert.deepEqual(addons([join(REPO, 'bin', 'berth'), 'version', '--format', 'json']), []);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
