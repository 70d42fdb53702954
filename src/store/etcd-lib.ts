// etcd3 (and cockatiel, its retry library), loaded on first use. A static import would load the
// etcd client and grpc (~11 MB, tens of ms) in every berth process, the bundled CLI included
// (esbuild hoists static imports of external packages), though only a daemon that joins a
// cluster ever uses them.
import { createRequire } from 'node:module';

type Etcd3Lib = typeof import('etcd3');
type CockatielLib = typeof import('cockatiel');

// at first use, not at import: a V8 startup snapshot (scripts/bundle.mjs) runs from where the package is then
const load = (id: string): unknown => createRequire(import.meta.url)(id);
let etcd3: Etcd3Lib | undefined;
let cockatiel: CockatielLib | undefined;

export function etcd3Lib(): Etcd3Lib {
  etcd3 ??= load('etcd3') as Etcd3Lib;
  return etcd3;
}

export function cockatielLib(): CockatielLib {
  cockatiel ??= load('cockatiel') as CockatielLib;
  return cockatiel;
}
