// berth's own files (package.json, bin/berth, dist/berth-init), found from wherever this code
// runs: the unbundled dist/src/… tree or the one-file bundle dist/berth.mjs.
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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

export const PACKAGE_ROOT = findPackageRoot();
export const VERSION: string = (JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
export const BERTH_BIN = join(PACKAGE_ROOT, 'bin', 'berth');
export const BERTH_INIT = join(PACKAGE_ROOT, 'dist', 'berth-init');
/** sets wireguard-go's UDP socket buffers (native/sockbuf.c) */
export const BERTH_SOCKBUF = join(PACKAGE_ROOT, 'dist', 'berth-sockbuf');
/** The native thin client (native/berth-client.c): the daemon when it answers, else the in-process CLI. */
export const BERTH_CLIENT = join(PACKAGE_ROOT, 'dist', 'berth');
