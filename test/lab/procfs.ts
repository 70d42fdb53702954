// Reading /proc: processes (identity, namespaces, the lab marker in their environment) and
// mounts. Killing is by PID only, and only after checking the PID still names the same process
// (its start time), so a reused PID is never hit.
//
// The *Sync variants exist for the process 'exit' handler, where nothing asynchronous runs.
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';

export interface ProcStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  /** Field 22 (starttime, clock ticks since boot), kept as text. */
  startTime: string;
}

export function parseStat(pid: number, text: string): ProcStat | undefined {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(' ');
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const state = rest[0];
  const ppid = Number(rest[1]);
  const startTime = rest[19];
  if (state === undefined || startTime === undefined || !Number.isInteger(ppid)) return undefined;
  return { pid, comm: text.slice(open + 1, close), state, ppid, startTime };
}

export function readStatSync(pid: number): ProcStat | undefined {
  try {
    return parseStat(pid, readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export async function readStat(pid: number): Promise<ProcStat | undefined> {
  try {
    return parseStat(pid, await readFile(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** Namespace kinds compared when looking for processes inside lab namespaces. */
export const NS_KINDS = ['net', 'mnt', 'pid', 'uts', 'ipc'] as const;

export interface ProcInfo extends ProcStat {
  /** Namespace ids as the kernel prints them, e.g. "net:[4026532176]". */
  ns: string[];
  /** Value of the lab marker variable in the process environment, if any. */
  marker?: string;
}

function markerOf(environ: string, variable: string): string | undefined {
  const prefix = `${variable}=`;
  for (const kv of environ.split('\0')) if (kv.startsWith(prefix)) return kv.slice(prefix.length);
  return undefined;
}

function pidsIn(entries: string[]): number[] {
  return entries.filter((e) => /^[0-9]+$/.test(e)).map(Number);
}

/** PIDs never to touch: this process and its ancestors. */
export function protectedPids(): Set<number> {
  const out = new Set<number>([process.pid]);
  let pid = process.ppid;
  for (let i = 0; i < 64 && pid > 0 && !out.has(pid); i++) {
    out.add(pid);
    const st = readStatSync(pid);
    if (!st) break;
    pid = st.ppid;
  }
  out.add(1);
  return out;
}

export async function listProcesses(markerVariable: string): Promise<ProcInfo[]> {
  const pids = pidsIn(await readdir('/proc'));
  const infos = await Promise.all(
    pids.map(async (pid): Promise<ProcInfo | undefined> => {
      const st = await readStat(pid);
      if (!st) return undefined;
      const ns: string[] = [];
      for (const kind of NS_KINDS) {
        try {
          ns.push(await readlink(`/proc/${pid}/ns/${kind}`));
        } catch {
          /* gone, zombie or kernel thread */
        }
      }
      let marker: string | undefined;
      try {
        marker = markerOf(await readFile(`/proc/${pid}/environ`, 'latin1'), markerVariable);
      } catch {
        /* gone */
      }
      return { ...st, ns, ...(marker !== undefined ? { marker } : {}) };
    }),
  );
  return infos.filter((i): i is ProcInfo => i !== undefined);
}

export function listProcessesSync(markerVariable: string): ProcInfo[] {
  const out: ProcInfo[] = [];
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const pid of pidsIn(entries)) {
    const st = readStatSync(pid);
    if (!st) continue;
    const ns: string[] = [];
    for (const kind of NS_KINDS) {
      try {
        ns.push(readlinkSync(`/proc/${pid}/ns/${kind}`));
      } catch {
        /* gone */
      }
    }
    let marker: string | undefined;
    try {
      marker = markerOf(readFileSync(`/proc/${pid}/environ`, 'latin1'), markerVariable);
    } catch {
      /* gone */
    }
    out.push({ ...st, ns, ...(marker !== undefined ? { marker } : {}) });
  }
  return out;
}

export interface ProcessSelector {
  /** Namespace ids ("net:[N]", "mnt:[N]", …): a process in any of them is selected. */
  nsIds: ReadonlySet<string>;
  /** Lab tags: a process whose environment carries the marker with one of them is selected. */
  tags: ReadonlySet<string>;
}

/**
 * Processes selected by namespace or marker, never this process, its ancestors or PID 1. The
 * namespaces of those protected processes (the machine's own) are dropped from sel.nsIds first,
 * so a stray bind mount of a root namespace under a lab dir can never select the whole machine.
 */
export function selectProcesses(procs: readonly ProcInfo[], sel: ProcessSelector): ProcInfo[] {
  const keep = protectedPids();
  const machineNs = new Set(procs.filter((p) => keep.has(p.pid)).flatMap((p) => p.ns));
  for (const kind of NS_KINDS) {
    try {
      machineNs.add(readlinkSync(`/proc/self/ns/${kind}`));
    } catch {
      /* ignore */
    }
  }
  const ids = new Set([...sel.nsIds].filter((id) => !machineNs.has(id)));
  return procs.filter(
    (p) =>
      !keep.has(p.pid) &&
      p.state !== 'Z' &&
      (p.ns.some((id) => ids.has(id)) || (p.marker !== undefined && sel.tags.has(p.marker))),
  );
}

function sameProcess(p: ProcStat): boolean {
  const now = readStatSync(p.pid);
  return now !== undefined && now.startTime === p.startTime && now.state !== 'Z';
}

function signal(p: ProcStat, sig: NodeJS.Signals): void {
  if (!sameProcess(p)) return;
  try {
    process.kill(p.pid, sig);
  } catch {
    /* already gone */
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * End processes by PID: SIGTERM, then SIGKILL for those still there after graceMs. Returns the
 * processes that were still alive after SIGKILL and a further wait (normally none).
 */
export async function killProcesses(procs: readonly ProcStat[], graceMs = 1500): Promise<ProcStat[]> {
  if (procs.length === 0) return [];
  for (const p of procs) signal(p, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && procs.some(sameProcess)) await sleep(50);
  const stubborn = procs.filter(sameProcess);
  for (const p of stubborn) signal(p, 'SIGKILL');
  const end = Date.now() + 3000;
  while (Date.now() < end && stubborn.some(sameProcess)) await sleep(50);
  return stubborn.filter(sameProcess);
}

export function killProcessesSync(procs: readonly ProcStat[]): void {
  for (const p of procs) signal(p, 'SIGKILL');
}

// ---- mounts ---------------------------------------------------------------------------------

export interface MountEntry {
  mountPoint: string;
  /** Root of the mount within its filesystem; for nsfs this is the namespace id, "net:[N]". */
  root: string;
  fsType: string;
  source: string;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const root = left[3];
    const mountPoint = left[4];
    if (root === undefined || mountPoint === undefined) continue;
    out.push({
      root: unescapeMount(root),
      mountPoint: unescapeMount(mountPoint),
      fsType: right[0] ?? '',
      source: unescapeMount(right[1] ?? ''),
    });
  }
  return out;
}

export async function readMountinfo(): Promise<MountEntry[]> {
  return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'));
}

export function readMountinfoSync(): MountEntry[] {
  try {
    return parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8'));
  } catch {
    return [];
  }
}

/** True if path is dir or inside it. */
export function isUnder(path: string, dir: string): boolean {
  const d = dir.endsWith('/') ? dir.slice(0, -1) : dir;
  return path === d || path.startsWith(`${d}/`);
}

/** Mount points at or below dir, deepest first (the order to unmount them). */
export function mountsUnder(mounts: readonly MountEntry[], dir: string): MountEntry[] {
  return mounts.filter((m) => isUnder(m.mountPoint, dir)).sort((a, b) => b.mountPoint.length - a.mountPoint.length);
}

/** Namespace ids ("net:[N]") of the nsfs mounts selected by pick. */
export function nsfsIds(mounts: readonly MountEntry[], pick: (m: MountEntry) => boolean): Set<string> {
  return new Set(mounts.filter((m) => m.fsType === 'nsfs' && pick(m)).map((m) => m.root));
}
