// The berth-cni binary (bin/berth-cni, dist/berth-cni.cjs), part of the composition root: one CNI
// call, run by the engine in this process; or, started by such a call, the warm CNI engine that
// serves the native client's later calls (src/cni/warm-engine.ts).
import { readFileSync } from 'node:fs';
import { startupSnapshot } from 'node:v8';
import { berthPaths } from './common/config.js';
import { Engine } from './engine/context.js';
import { runCni, type StateLocation } from './cni/plugin.js';
import { SERVE_FLAG, START_FLAG, engineEnvOff, serveWarmEngine, startWarmEngine } from './cni/warm-engine.js';

function serve(socketPath: string, idle: string): void {
  const idleSeconds = Number(idle);
  if (!socketPath.startsWith('/') || !Number.isInteger(idleSeconds) || idleSeconds < 1) process.exit(2);
  const locationOf = (env: NodeJS.ProcessEnv) => {
    const p = berthPaths(env);
    return JSON.stringify([p.root, p.run]);
  };
  serveWarmEngine({ socketPath, idleSeconds, engineFor: (env) => new Engine(env), locationOf }).then(
    () => process.exit(0),
    () => process.exit(1),
  );
}

function start(): void {
  const args = process.argv.slice(2);
  if (args[0] === SERVE_FLAG) return serve(args[1] ?? '', args[2] ?? '');
  let stdin = '';
  try {
    stdin = readFileSync(0, 'utf8');
  } catch {
    // no stdin: an empty config
  }
  // the conf may say where berth's state is: runtimes such as conmon scrub the environment
  const envFor = (loc: StateLocation) => ({ ...process.env, ...(loc.berthRoot ? { BERTH_ROOT: loc.berthRoot } : {}), ...(loc.berthRun ? { BERTH_RUN: loc.berthRun } : {}) });
  let run: string | undefined;
  const engineFor = (loc: StateLocation) => {
    const env = envFor(loc);
    run = berthPaths(env).run;
    return new Engine(env);
  };
  void runCni(engineFor, process.env, stdin).then(({ stdout, status, engine }) => {
    process.stdout.write(stdout);
    process.exitCode = status;
    // the native client found no warm engine: leave one for the next calls, unless switched off
    // (a call that never reached berth's state, e.g. a bad conf, leaves none)
    if (args.includes(START_FLAG) && run && engine && !engine.off && !engineEnvOff(process.env)) startWarmEngine(run, engine.idleSeconds);
  });
}

// no top-level await: the bundle is CommonJS, loaded with V8's code cache (bin/berth-cni) or from
// the startup snapshot (dist/berth-cni.blob, run by the native client), whose build runs no call
if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.setDeserializeMainFunction(start);
else start();
