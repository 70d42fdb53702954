// BERTH_TRACE=1 prints the time since process start at named points, to find where time goes.
// BERTH_TRACE=cpu adds the process's CPU time (user+system) so far: on a loaded machine the wall
// clock mostly measures waiting for a core.
const enabled = Boolean(process.env.BERTH_TRACE);
const withCpu = process.env.BERTH_TRACE === 'cpu';

/** True under BERTH_TRACE: callers skip building labels (e.g. wall-clock stamps) otherwise. */
export const tracing = enabled;

export function trace(label: string): void {
  if (!enabled) return;
  const cpu = withCpu ? ` (cpu ${((u) => (u.user + u.system) / 1000)(process.cpuUsage()).toFixed(1)} ms)` : '';
  process.stderr.write(`[trace ${performance.now().toFixed(1)} ms] ${label}${cpu}\n`);
}
