// BERTH_TRACE=1 prints the time since process start at named points, to find where time goes.
const enabled = Boolean(process.env.BERTH_TRACE);

/** True under BERTH_TRACE: callers skip building labels (e.g. wall-clock stamps) otherwise. */
export const tracing = enabled;

export function trace(label: string): void {
  if (enabled) process.stderr.write(`[trace ${performance.now().toFixed(1)} ms] ${label}\n`);
}
