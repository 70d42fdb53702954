// berth's own files (package.json, bin/berth, dist/berth-init), found from wherever this code
// runs: the unbundled dist/src/… tree, a bundle in dist/, or a V8 startup snapshot of one
// (dist/berth.blob, dist/berth-cni.blob: scripts/bundle.mjs), which is built in one place and may
// run from another (a copied package): there the paths are found again once it is deserialized.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startupSnapshot } from 'node:v8';

function findPackageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'berth') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find berth's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

// live bindings: locate() sets them again after a snapshot's deserialization
export let PACKAGE_ROOT = '';
export let VERSION = '';
export let BERTH_BIN = '';
export let BERTH_INIT = '';
/** sets wireguard-go's UDP socket buffers (native/sockbuf.c) */
export let BERTH_SOCKBUF = '';
/** The native thin client (native/berth-client.c): the daemon when it answers, else the in-process CLI. */
export let BERTH_CLIENT = '';

function locate(): void {
  PACKAGE_ROOT = findPackageRoot();
  VERSION = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  BERTH_BIN = join(PACKAGE_ROOT, 'bin', 'berth');
  BERTH_INIT = join(PACKAGE_ROOT, 'dist', 'berth-init');
  BERTH_SOCKBUF = join(PACKAGE_ROOT, 'dist', 'berth-sockbuf');
  BERTH_CLIENT = join(PACKAGE_ROOT, 'dist', 'berth');
}

locate();
if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.addDeserializeCallback(locate);
