// Bundle the CLI and the CNI plugin: a few files instead of hundreds of module resolutions, split
// at dynamic imports so a command loads only what it may run. Native addons stay external.
import { build } from 'esbuild';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';

// netlink loads its addon relative to its own directory; point that at the installed package.
const netlinkAddon = {
  name: 'netlink-addon',
  setup(b) {
    b.onLoad({ filter: /node_modules[\\/]netlink[\\/]dist[\\/]raw\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      // loaded on first use, not at import: a V8 startup snapshot (below) holds no native addon
      const patched = src.replace(
        "const binding = require('node-gyp-build')(__dirname + '/..');",
        "let nativeBinding; const binding = new Proxy({}, { get: (_, key) => (nativeBinding ??= require('node-gyp-build')(require('path').dirname(require.resolve('netlink/package.json'))))[key] });",
      );
      if (patched === src) throw new Error('netlink/dist/raw.js changed: update scripts/bundle.mjs');
      return { contents: patched, loader: 'js' };
    });
  },
};

// berth uses netlink's rtnetlink socket and one enum; the package's index also loads (and runs) its
// generic netlink, nl80211 and WireGuard families, about three quarters of its load time. berth's
// imports of 'netlink' get only the two modules it needs: a new name imported from 'netlink' fails
// the build here ("No matching export"), so add it to this list.
const netlinkRtOnly = {
  name: 'netlink-rt-only',
  setup(b) {
    b.onResolve({ filter: /^netlink$/ }, (args) => (/[\\/]dist[\\/]src[\\/]/.test(args.importer) ? { path: 'netlink', namespace: 'netlink-rt-only' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'netlink-rt-only' }, () => ({
      contents: "export { FlagsNew } from 'netlink/dist/constants.js';\nexport { createRtNetlink } from 'netlink/dist/rt/rt.js';\nexport * as rt from 'netlink/dist/rt/structs.js';\n",
      resolveDir: process.cwd(),
      loader: 'js',
    }));
  },
};

// zod's index exports every locale's messages (z.locales, a quarter of the CNI plugin's code);
// berth uses zod's default English messages only, so the bundle carries that one.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onLoad({ filter: /[\\/]zod[\\/]v4[\\/]locales[\\/]index\.js$/ }, (args) => ({
      contents: "export { default as en } from './en.js';\n",
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

// koffi's package loader reads node's ELF headers to tell glibc from musl, then wraps calls berth
// never makes (deprecated ones): ~6 ms of CPU on every call that touches the kernel, against
// ~2.5 ms for its native module alone. berth uses koffi.load, lib.func (and its .async) and
// koffi.errno only: the bundles load the prebuilt glibc module of this platform directly, and
// koffi's own loader when that is missing, fails to load (musl) or is another version. The native
// module is loaded on first use; while a V8 startup snapshot is built (below), which can
// hold no native addon, a library that a module loads at import is bound on its first call.
const koffiVersion = JSON.parse(await readFile('node_modules/koffi/package.json', 'utf8')).version;
const koffiDirect = {
  name: 'koffi-direct',
  setup(b) {
    b.onResolve({ filter: /^koffi$/ }, (args) => (/[\\/]dist[\\/]src[\\/]/.test(args.importer) ? { path: 'koffi', namespace: 'koffi-direct' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'koffi-direct' }, () => ({
      contents: `const load = require;
const { startupSnapshot } = require('node:v8');
let koffi;
function native() {
  if (koffi) return koffi;
  let direct;
  try {
    direct = load(\`@koromix/koffi-\${process.platform}-\${process.arch}/\${process.platform}_\${process.arch}/koffi.node\`);
  } catch {
    direct = undefined;
  }
  koffi = direct && direct.version === ${JSON.stringify(koffiVersion)} ? direct : load('koffi');
  return koffi;
}
function boundOnFirstCall(name) {
  let lib;
  return {
    func(signature) {
      let fn;
      const real = () => (fn ??= (lib ??= native().load(name)).func(signature));
      const call = (...args) => real()(...args);
      call.async = (...args) => real().async(...args);
      return call;
    },
  };
}
module.exports = {
  load: (name) => (startupSnapshot.isBuildingSnapshot() ? boundOnFirstCall(name) : native().load(name)),
  errno: (...args) => native().errno(...args),
};
`,
      resolveDir: process.cwd(),
      loader: 'js',
    }));
  },
};

// Split at dynamic imports: a command loads only the code it may run (`berth --version` loads no
// engine, store or kernel code and none of their native addons; `berth run` none of the daemon's).
// The two entries share their chunks in dist/chunks/, emptied first so no stale chunk lingers.
await rm('dist/chunks', { recursive: true, force: true });
await build({
  entryPoints: { berth: 'dist/src/main.js' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  chunkNames: 'chunks/[name]-[hash]',
  splitting: true,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // etcd3 reads its .proto files from its own directory at load time: bundled, it would look for
  // them next to the bundle and fail on import. It stays in node_modules, with cockatiel, its
  // retry library (both loaded on first use: src/store/etcd-lib.ts).
  external: ['better-sqlite3', 'koffi', 'node-gyp-build', 'etcd3', 'cockatiel'],
  banner: { js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);" },
  plugins: [netlinkRtOnly, zodEnglishOnly, netlinkAddon, koffiDirect],
  logLevel: 'warning',
  legalComments: 'none',
  minify: process.env.BERTH_BUNDLE_MINIFY !== '0',
});

// The CLI and berth-cni as CommonJS files, because a CLI command or CNI call is a fresh Node process
// and Node 20 gives a code cache only to scripts (vm.Script, not ES modules): bin/berth and
// bin/berth-cni compile them with dist/berth.cache and dist/berth-cni.cache (bin/code-cache.mjs),
// made below by one run of each, so V8 neither parses nor compiles ~1 MB on each call. Dynamic
// imports inside stay lazy (esbuild evaluates such a module on first import), so `berth --version`
// still evaluates no engine code and loads no native addon. import.meta.url (berth's package root,
// createRequire) becomes the bundle's own file URL. (The split ES module build above stays for the
// benches that load dist/berth.mjs.)
const cjs = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // a vm.Script has no loader for import(): the dynamic imports esbuild leaves (builtins such as
  // node:os) become require
  supported: { 'dynamic-import': false },
  external: ['better-sqlite3', 'koffi', 'node-gyp-build', 'etcd3', 'cockatiel', 'netlink/package.json'],
  define: { 'import.meta.url': '__berthBundleUrl' },
  // var: the startup snapshot below sets it again where the bundle runs
  banner: { js: "var __berthBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [netlinkRtOnly, zodEnglishOnly, netlinkAddon, koffiDirect],
  logLevel: 'warning',
  legalComments: 'none',
  minify: process.env.BERTH_BUNDLE_MINIFY !== '0',
};
await build({ ...cjs, entryPoints: ['dist/src/main.js'], outfile: 'dist/berth.cjs' });
await build({ ...cjs, entryPoints: ['dist/src/cni-main.js'], outfile: 'dist/berth-cni.cjs' });
// (dist/berth-cni.mjs: the ES module bundle of earlier builds)
await Promise.all(['dist/berth.cache', 'dist/berth-cni.cache', 'dist/berth-cni.mjs'].map((f) => rm(f, { force: true })));
// One run of each makes its cache: CNI VERSION runs every module's top level; the CLI's
// --warm-code-cache (src/main.ts) evaluates the modules its commands load on demand.
for (const [bin, args, env, cache] of [
  ['bin/berth-cni', [], { CNI_COMMAND: 'VERSION' }, 'dist/berth-cni.cache'],
  ['bin/berth', ['--warm-code-cache'], {}, 'dist/berth.cache'],
]) {
  const made = spawnSync(process.execPath, [bin, ...args], { env: { ...process.env, ...env, BERTH_WRITE_CODE_CACHE: '1' }, input: '', encoding: 'utf8' });
  if (made.status !== 0 || !existsSync(cache)) throw new Error(`cannot make ${cache}: status ${made.status} ${made.signal ?? ''} ${made.error?.message ?? ''} ${made.stdout} ${made.stderr}`);
}

// The V8 startup snapshots of the CLI and the CNI plugin (dist/berth.blob, dist/berth-cni.blob):
// the heap after the bundle and the modules its commands load on demand were evaluated
// (src/main.ts, src/cni-main.ts), so a call neither deserializes the code cache nor runs that
// top-level code. The native client (native/berth-client.c) runs one as `node --snapshot-blob
// dist/berth.blob dist/berth.cjs ARGS` (bin/berth keeps the code cache: a node script cannot pass
// node that flag without a second process). Node 20 builds a snapshot from one script whose
// require reaches built-in modules only, and the snapshot can hold no native addon: the bundle's
// require is the built-in one while building and, once deserialized, one made for the bundle's
// path where it runs (argv[1]), where __filename and import.meta.url point too. Modules load
// addons on first use (koffi above, better-sqlite3, netlink), and read the environment and their
// paths again after deserialization (src/common/package.ts, trace.ts).
//
// The node flags a snapshot is made and run with (it runs only with the flags it was made with):
// native/berth-client.c's snapshot_flags, which must be equal (a unit test checks).
const snapshotFlags = ['--min-semi-space-size=16'];
await Promise.all(['dist/berth.blob', 'dist/berth-cni.blob', 'dist/snapshot.node'].map((f) => rm(f, { force: true })));
for (const name of ['berth', 'berth-cni']) {
  const entry = `dist/${name}-snapshot.cjs`;
  await writeFile(
    entry,
    `'use strict';
// generated by scripts/bundle.mjs: the entry that builds dist/${name}.blob
const { startupSnapshot } = require('node:v8');
let runtimeRequire;
const bundleRequire = (id) => (runtimeRequire ?? require)(id);
bundleRequire.resolve = (id, options) => runtimeRequire.resolve(id, options);
let __berthRelocate;
startupSnapshot.addDeserializeCallback(() => {
  const bundle = require('node:path').resolve(process.argv[1]);
  runtimeRequire = require('node:module').createRequire(bundle);
  __berthRelocate(bundle);
});
(function (exports, require, module, __filename, __dirname) {
${await readFile(`dist/${name}.cjs`, 'utf8')}
__berthRelocate = (bundle) => {
  __filename = bundle;
  __dirname = require('node:path').dirname(bundle);
  __berthBundleUrl = require('node:url').pathToFileURL(bundle).href;
};
})({}, bundleRequire, { exports: {} }, ${JSON.stringify(resolve(`dist/${name}.cjs`))}, ${JSON.stringify(resolve('dist'))});
`,
  );
  // --no-warnings: Node warns about each built-in module it has not verified in snapshots
  // (child_process, net, …); the e2e tests run the CLI and the plugin from their snapshots
  const made = spawnSync(process.execPath, [...snapshotFlags, '--no-warnings', '--snapshot-blob', `dist/${name}.blob`, '--build-snapshot', entry], { input: '', encoding: 'utf8' });
  if (made.status !== 0 || !existsSync(`dist/${name}.blob`)) throw new Error(`cannot make dist/${name}.blob: status ${made.status} ${made.signal ?? ''} ${made.stdout} ${made.stderr}`);
  await rm(entry);
}
{
  // which node made them (device, inode, size, mtime): the client runs them with that node only
  const node = statSync(process.execPath, { bigint: true });
  const ns = node.mtimeNs % 1000000000n;
  await writeFile('dist/snapshot.node', `${node.dev} ${node.ino} ${node.size} ${node.mtimeNs / 1000000000n}.${String(ns).padStart(9, '0')}\n`);
}

// The topology page's script (src/ui/page/, served by `berth daemon --ui`): one file for the
// browser, its layout library inside (no CDN: users may be offline).
await build({
  entryPoints: ['src/ui/page/main.ts'],
  outfile: 'dist/ui/page.js',
  bundle: true,
  platform: 'browser',
  target: 'es2022',
  format: 'iife',
  logLevel: 'warning',
  legalComments: 'none',
  minify: process.env.BERTH_BUNDLE_MINIFY !== '0',
});
