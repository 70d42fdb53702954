// Finding and removing what crashed runs left behind: bt… namespaces, the processes inside
// them (or carrying a dead lab's marker), berth's bind mounts under their temp dirs, the dirs.
//
// A lab whose owner process is still running is never touched: that is another test run (or
// this one). A bt… namespace with no owner record was not made by this harness (or lost its
// temp dir); it is left alone unless includeUnowned is set, which the suite runner may do on a
// machine where nothing else uses the prefix.
import { deleteNetns, removeLabDir, unmountUnder } from './lab.js';
import {
  LAB_ENV_MARKER,
  NETNS_DIR,
  type OwnerState,
  labDir,
  labDirTags,
  ownerState,
  suiteNetnsNames,
  tagOfNetns,
} from './names.js';
import { type ProcInfo, isUnder, killProcesses, listProcesses, nsfsIds, readMountinfo, selectProcesses } from './procfs.js';

export interface SweepOptions {
  /** Also remove bt… namespaces without an owner record. Default false. */
  includeUnowned?: boolean;
  /** Only consider these run tags (and, with includeUnowned, names starting bt<tag>-). */
  tags?: readonly string[];
  /** Report what would be removed, remove nothing. */
  dryRun?: boolean;
  /** Progress lines. */
  log?: (line: string) => void;
}

export interface SweepReport {
  removedNetns: string[];
  removedDirs: string[];
  killed: { pid: number; comm: string }[];
  skipped: { what: string; reason: string }[];
  errors: string[];
}

/** What is left of labs: grouped by owner state. Names without a tag are grouped under "". */
export interface LabLeftovers {
  byTag: Map<string, { state: OwnerState; netns: string[]; dir?: string }>;
}

export async function findLabs(): Promise<LabLeftovers> {
  const byTag: LabLeftovers['byTag'] = new Map();
  const entry = (tag: string) => {
    let e = byTag.get(tag);
    if (!e) {
      e = { state: 'unowned', netns: [] };
      byTag.set(tag, e);
    }
    return e;
  };
  for (const name of await suiteNetnsNames()) entry(tagOfNetns(name) ?? '').netns.push(name);
  for (const tag of await labDirTags()) entry(tag).dir = labDir(tag);
  for (const [tag, e] of byTag) e.state = tag === '' ? 'unowned' : await ownerState(tag);
  return { byTag };
}

/** Processes inside the given namespaces / temp dirs' nsfs mounts, or carrying one of the tags. */
export async function processesOf(netns: readonly string[], dirs: readonly string[], tags: readonly string[]): Promise<ProcInfo[]> {
  const ns = new Set(netns.map((n) => `${NETNS_DIR}/${n}`));
  const ids = nsfsIds(await readMountinfo(), (m) => ns.has(m.mountPoint) || dirs.some((d) => isUnder(m.mountPoint, d)));
  return selectProcesses(await listProcesses(LAB_ENV_MARKER), { nsIds: ids, tags: new Set(tags) });
}

/** Tags carried by running processes whose lab is not alive (lab closed or crashed). */
async function orphanMarkerTags(): Promise<string[]> {
  const tags = new Set<string>();
  for (const p of await listProcesses(LAB_ENV_MARKER)) if (p.marker && /^[0-9a-f]{4}$/.test(p.marker)) tags.add(p.marker);
  const out: string[] = [];
  for (const t of tags) if ((await ownerState(t)) !== 'alive') out.push(t);
  return out;
}

export async function sweepLabs(opts: SweepOptions = {}): Promise<SweepReport> {
  const log = opts.log ?? (() => undefined);
  const report: SweepReport = { removedNetns: [], removedDirs: [], killed: [], skipped: [], errors: [] };
  const only = opts.tags ? new Set(opts.tags) : undefined;
  const { byTag } = await findLabs();
  const netns: string[] = [];
  const dirs: string[] = [];
  const tags: string[] = [];
  for (const [tag, e] of byTag) {
    if (only && tag !== '' && !only.has(tag)) continue;
    // Names outside the bt<tag>-<name> pattern have no tag: with a tag filter, keep those that
    // still start with bt<tag>-.
    const scoped = tag === '' ? e.netns.filter((n) => !only || [...only].some((t) => n.startsWith(`bt${t}-`))) : e.netns;
    if (scoped.length === 0 && !e.dir) continue;
    if (e.state === 'alive') {
      report.skipped.push({ what: [...scoped, ...(e.dir ? [e.dir] : [])].join(', '), reason: `lab ${tag} is owned by a running process` });
      continue;
    }
    if (e.state === 'unowned' && !opts.includeUnowned && scoped.length > 0) {
      report.skipped.push({ what: scoped.join(', '), reason: 'no owner record (not made by the lab harness); includeUnowned removes it' });
    } else {
      netns.push(...scoped);
    }
    // A temp dir whose owner is gone (or that never got an owner record) is debris either way.
    if (e.dir) dirs.push(e.dir);
    if (tag !== '') tags.push(tag);
  }
  for (const t of await orphanMarkerTags()) if ((!only || only.has(t)) && !tags.includes(t)) tags.push(t);
  if (netns.length === 0 && dirs.length === 0 && tags.length === 0) return report;
  if (netns.length || dirs.length) log(`sweep: ${opts.dryRun ? 'would remove' : 'removing'} netns [${netns.join(', ')}] dirs [${dirs.join(', ')}]`);

  const victims = await processesOf(netns, dirs, tags);
  for (const p of victims) report.killed.push({ pid: p.pid, comm: p.comm });
  if (opts.dryRun) {
    report.removedNetns.push(...netns);
    report.removedDirs.push(...dirs);
    return report;
  }
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (e) {
      report.errors.push(`${what}: ${(e as Error).message}`);
    }
  };
  if (victims.length) {
    log(`sweep: killing ${victims.map((p) => `${p.pid} (${p.comm})`).join(', ')}`);
    await attempt('kill', async () => {
      const left = await killProcesses(victims);
      if (left.length) throw new Error(`survived SIGKILL: ${left.map((p) => p.pid).join(', ')}`);
    });
    // Anything that was started meanwhile by the dying processes.
    await attempt('kill', async () => {
      await killProcesses(await processesOf(netns, dirs, tags));
    });
  }
  for (const dir of dirs) {
    await attempt(`unmount under ${dir}`, async () => {
      const left = await unmountUnder(dir);
      if (left.length) throw new Error(`still mounted: ${left.map((m) => m.mountPoint).join(', ')}`);
    });
  }
  for (const name of netns) {
    await attempt(`delete netns ${name}`, async () => {
      await deleteNetns(name);
      report.removedNetns.push(name);
    });
  }
  for (const dir of dirs) {
    await attempt(`remove ${dir}`, async () => {
      await removeLabDir(dir);
      report.removedDirs.push(dir);
    });
  }
  for (const e of report.errors) log(`sweep: ${e}`);
  return report;
}

export interface LeftoverCheck {
  /** Things this suite (or a crashed run) left behind: each one is a failure. */
  problems: string[];
  /** Things seen but not counted: live labs of other runs, namespaces that were there before. */
  notes: string[];
}

/**
 * What labs left behind: namespaces and temp dirs of labs whose owner has exited, processes
 * inside them or carrying their marker, and (when `preexisting` is given, e.g. the netns list of
 * the snapshot taken before the suite) new bt… namespaces without an owner record.
 */
export async function checkLeftovers(preexisting?: readonly string[]): Promise<LeftoverCheck> {
  const problems: string[] = [];
  const notes: string[] = [];
  const before = preexisting ? new Set(preexisting) : undefined;
  const { byTag } = await findLabs();
  const deadNetns: string[] = [];
  const deadDirs: string[] = [];
  const deadTags: string[] = [];
  for (const [tag, e] of byTag) {
    const where = [...e.netns, ...(e.dir ? [e.dir] : [])].join(', ');
    if (e.state === 'alive') {
      notes.push(`lab ${tag} belongs to a running process (another run?): ${where}`);
      continue;
    }
    if (e.state === 'dead') {
      problems.push(`lab ${tag} outlived its owner: ${where}`);
      deadNetns.push(...e.netns);
      if (e.dir) deadDirs.push(e.dir);
      deadTags.push(tag);
      continue;
    }
    // unowned
    const fresh = e.netns.filter((n) => !before?.has(n));
    const old = e.netns.filter((n) => before?.has(n));
    if (old.length) notes.push(`netns there before the suite, not checked: ${old.join(', ')}`);
    if (e.dir) {
      problems.push(`lab temp dir without owner record: ${e.dir}`);
      deadDirs.push(e.dir);
      if (tag !== '') deadTags.push(tag);
    }
    if (fresh.length && before) {
      problems.push(`netns with the suite prefix and no owner record appeared during the suite: ${fresh.join(', ')}`);
      deadNetns.push(...fresh);
    } else if (fresh.length) {
      notes.push(`netns with the suite prefix and no owner record (no snapshot to tell if it is new): ${fresh.join(', ')}`);
    }
  }
  deadTags.push(...(await orphanMarkerTags()));
  const procs = await processesOf(deadNetns, deadDirs, deadTags);
  for (const p of procs) {
    problems.push(`process ${p.pid} (${p.comm}${p.marker ? `, ${LAB_ENV_MARKER}=${p.marker}` : ''}) left inside a lab namespace or from a finished lab`);
  }
  return { problems, notes };
}
