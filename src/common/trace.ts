// BERTH_TRACE=1 prints the time since process start at named points, to find where time goes.
// BERTH_TRACE=cpu adds the process's CPU time (user+system) so far: on a loaded machine the wall
// clock mostly measures waiting for a core. BERTH_TRACE=wall stamps epoch milliseconds instead, to
// line the process's steps up with other processes' (berth-init's, a bench's).
import { startupSnapshot } from 'node:v8';

let enabled = false;
let withCpu = false;
let wall = false;
/** True under BERTH_TRACE: callers skip building labels (e.g. wall-clock stamps) otherwise. */
export let tracing = false;

function readEnv(): void {
  enabled = tracing = Boolean(process.env.BERTH_TRACE);
  withCpu = process.env.BERTH_TRACE === 'cpu';
  wall = process.env.BERTH_TRACE === 'wall';
}
readEnv();
// a V8 startup snapshot (scripts/bundle.mjs) runs with the caller's environment, not the build's
if (startupSnapshot.isBuildingSnapshot()) startupSnapshot.addDeserializeCallback(readEnv);

export function trace(label: string): void {
  if (!enabled) return;
  const cpu = withCpu ? ` (cpu ${((u) => (u.user + u.system) / 1000)(process.cpuUsage()).toFixed(1)} ms)` : '';
  const at = wall ? `${(performance.timeOrigin + performance.now()).toFixed(1)} epoch` : performance.now().toFixed(1);
  process.stderr.write(`[trace ${at} ms] ${label}${cpu}\n`);
}
