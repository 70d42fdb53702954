// Bundle the CLI and the CNI plugin: a few files instead of hundreds of module resolutions, split
// at dynamic imports so a command loads only what it may run. Native addons stay external.
import { build } from 'esbuild';
import { readFile, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

// netlink loads its addon relative to its own directory; point that at the installed package.
const netlinkAddon = {
  name: 'netlink-addon',
  setup(b) {
    b.onLoad({ filter: /node_modules[\\/]netlink[\\/]dist[\\/]raw\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const patched = src.replace(
        "require('node-gyp-build')(__dirname + '/..')",
        "require('node-gyp-build')(require('path').dirname(require.resolve('netlink/package.json')))",
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
// ~2.5 ms for its native module alone. berth uses koffi.load, lib.func and koffi.errno only: the
// bundles load the prebuilt glibc module of this platform directly, and koffi's own loader when
// that is missing, fails to load (musl) or is another version.
const koffiVersion = JSON.parse(await readFile('node_modules/koffi/package.json', 'utf8')).version;
const koffiDirect = {
  name: 'koffi-direct',
  setup(b) {
    b.onResolve({ filter: /^koffi$/ }, (args) => (/[\\/]dist[\\/]src[\\/]/.test(args.importer) ? { path: 'koffi', namespace: 'koffi-direct' } : undefined));
    b.onLoad({ filter: /.*/, namespace: 'koffi-direct' }, () => ({
      contents: `const load = require;
let native;
try {
  native = load(\`@koromix/koffi-\${process.platform}-\${process.arch}/\${process.platform}_\${process.arch}/koffi.node\`);
} catch {
  native = undefined;
}
module.exports = native && native.version === ${JSON.stringify(koffiVersion)} ? native : load('koffi');
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
  banner: { js: "const __berthBundleUrl = require('node:url').pathToFileURL(__filename).href;" },
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
