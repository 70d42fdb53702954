// The berth-cni binary (bin/berth-cni, dist/berth-cni.cjs), part of the composition root: one CNI
// call, run by the engine in this process.
import { readFileSync } from 'node:fs';
import { startupSnapshot } from 'node:v8';
import { Engine } from './engine/context.js';
import { runCni, type StateLocation } from './cni/plugin.js';

function start(): void {
  let stdin = '';
  try {
    stdin = readFileSync(0, 'utf8');
  } catch {
    // no stdin: an empty config
  }
  // the conf may say where berth's state is: runtimes such as conmon scrub the environment
  const engineFor = (loc: StateLocation) =>
    new Engine({ ...process.env, ...(loc.berthRoot ? { BERTH_ROOT: loc.berthRoot } : {}), ...(loc.berthRun ? { BERTH_RUN: loc.berthRun } : {}) });
  void runCni(engineFor, process.env, stdin).then(({ stdout, status }) => {
    process.stdout.write(stdout);
    process.exitCode = status;
  });
}

// no top-level await: the bundle is CommonJS, loaded with V8's code cache (bin/berth-cni) or from
// the startup snapshot (dist/berth-cni.blob, run by the native client), whose build runs no call
if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(start);
else start();
