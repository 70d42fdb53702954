// Runs one of berth's CommonJS bundles (dist/berth.cjs, dist/berth-cni.cjs) compiled with the V8
// code cache made for it at build time (scripts/bundle.mjs): a CLI or CNI call is a fresh Node
// process, and parsing and compiling ~1 MB of JavaScript was a large part of each call. Node 20
// offers a code cache to scripts (vm.Script), not to ES modules, hence CommonJS. V8 rejects a
// cache made by another node or with other V8 flags, and then compiles as usual.
'use strict';
const { existsSync, readFileSync, renameSync, statSync, writeFileSync } = require('node:fs');
const { createRequire } = require('node:module');
const { dirname } = require('node:path');
const { Script } = require('node:vm');

/** The bundle compiled with its cache when the cache is usable (script.cachedDataRejected says whether V8 took it). */
function compileBundle(bundle, cacheFile) {
  // V8 checks the cache against the source's length only: a bundle changed after its cache was
  // made (newer than the cache) is compiled without it
  const cacheTime = existsSync(cacheFile) ? statSync(cacheFile).mtimeMs : -1;
  const cachedData = cacheTime >= statSync(bundle).mtimeMs ? readFileSync(cacheFile) : undefined;
  return new Script(`(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'utf8')}\n})`, { filename: bundle, ...(cachedData ? { cachedData } : {}) });
}

/** Run bundle (a path) with cacheFile; false when the bundle is missing (the caller falls back). */
function runCachedBundle(bundle, cacheFile) {
  if (!existsSync(bundle)) return false;
  const script = compileBundle(bundle, cacheFile);
  // the build makes the cache with one run: what that run compiled is in it
  if (process.env.BERTH_WRITE_CODE_CACHE === '1') {
    process.on('exit', () => {
      writeFileSync(`${cacheFile}.tmp`, script.createCachedData(), { mode: 0o644 });
      renameSync(`${cacheFile}.tmp`, cacheFile);
    });
  }
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(bundle), module, bundle, dirname(bundle));
  return true;
}

module.exports = { compileBundle, runCachedBundle };
