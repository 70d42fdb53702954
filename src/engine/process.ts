// Processes berth tracks: identified by PID *and* start time, so a reused PID is never mistaken
// for a live container.
import { readFileSync } from 'node:fs';

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined if gone. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may contain spaces and parentheses: split after the last ')'
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Parent PID (field 4 of /proc/PID/stat), or undefined if gone. */
export function parentPid(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function isSameProcessAlive(pid: number | undefined, startTime: string | undefined): boolean {
  if (!pid || !startTime) return false;
  return processStartTime(pid) === startTime;
}

/** Processes known alive without a /proc read (the daemon's pidfd watch); see isAliveHinted. */
let livenessHint: ((pid: number, startTime: string) => boolean) | undefined;

export function setLivenessHint(hint: ((pid: number, startTime: string) => boolean) | undefined): void {
  livenessHint = hint;
}

/**
 * isSameProcessAlive for status reads only (liveStatus, reconcile's check): a process the
 * daemon holds an open pidfd for (verified against its start time when opened, its exit not
 * reported yet) is alive without reading /proc — at 1000 containers those reads cost 30-130 ms
 * per sweep, several sweeps per command. It may lag a process's end by one event-loop turn (the
 * watch then reconciles it), so never base a signal on it: use isSameProcessAlive.
 */
export function isAliveHinted(pid: number | undefined, startTime: string | undefined): boolean {
  if (!pid || !startTime) return false;
  return livenessHint?.(pid, startTime) === true || processStartTime(pid) === startTime;
}

/** Send a signal; false if the process is gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
