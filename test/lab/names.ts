// Names and places of lab objects, and who owns a run.
//
//   netns      /run/netns/bt<tag>-<name>      (tag: 4 hex digits, one per Lab)
//   temp dir   $TMPDIR/berth-lab-<tag>/       owner.json, <host>/root, <host>/run
//
// owner.json records the PID and start time of the process that created the lab, so a sweep can
// tell a crashed run (owner gone) from a live one (owner running, maybe another test run on the
// same machine) and never pulls namespaces from under a live run.
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, readdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readStatSync } from './procfs.js';

/** Every netns of the suite starts with this. */
export const SUITE_PREFIX = 'bt';
export const NETNS_DIR = '/run/netns';
/** A lab netns: bt<tag>-<name>. */
export const LAB_NETNS_RE = /^bt([0-9a-f]{4})-([a-z0-9][a-z0-9-]*)$/;
export const LAB_DIR_PREFIX = 'berth-lab-';
const LAB_DIR_RE = /^berth-lab-([0-9a-f]{4})$/;
/** Environment variable set (to the run tag) for everything the harness runs inside a lab. */
export const LAB_ENV_MARKER = 'BERTH_LAB_TAG';
/** Names of hosts, externals and switches. */
export const NODE_NAME_RE = /^[a-z][a-z0-9-]{0,19}$/;
/** The per-lab underlay namespace holding the switches. */
export const UNDERLAY_NAME = 'lab';

/** The repository root: the nearest ancestor of this file with berth's package.json. */
function findRepoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: unknown }).name === 'berth') return dir;
      } catch {
        /* not ours: keep looking */
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find berth's package.json above ${fileURLToPath(import.meta.url)}`);
    dir = up;
  }
}

export const REPO_ROOT = findRepoRoot();
export const BERTH_BIN = join(REPO_ROOT, 'bin', 'berth');
/** The native thin client: through the daemon when its socket answers, else the in-process CLI. */
export const BERTH_CLIENT = join(REPO_ROOT, 'dist', 'berth');
/**
 * BERTH_E2E_VIA=daemon runs the end-to-end suite the second way: berth commands through the
 * thin client to a daemon on each host (started by the suite's lab helpers), instead of in-process.
 */
export const VIA_DAEMON = process.env.BERTH_E2E_VIA === 'daemon';
/**
 * BERTH_E2E_VIA=client runs berth commands through the thin client with no daemon: the client
 * execs node with the CLI's V8 startup snapshot (dist/berth.blob), as a user without a daemon
 * runs `berth`.
 */
export const VIA_CLIENT = process.env.BERTH_E2E_VIA === 'client';

export function labTmpRoot(): string {
  return tmpdir();
}

export function labDir(tag: string): string {
  return join(labTmpRoot(), `${LAB_DIR_PREFIX}${tag}`);
}

export function labNetnsName(tag: string, name: string): string {
  return `${SUITE_PREFIX}${tag}-${name}`;
}

/** The tag of a lab netns name, undefined for names not made by the harness. */
export function tagOfNetns(name: string): string | undefined {
  return LAB_NETNS_RE.exec(name)?.[1];
}

/** Netns names under /run/netns starting with the suite prefix. */
export async function suiteNetnsNames(): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(NETNS_DIR);
  } catch {
    return [];
  }
  return names.filter((n) => n.startsWith(SUITE_PREFIX)).sort();
}

export function suiteNetnsNamesSync(): string[] {
  try {
    return readdirSync(NETNS_DIR).filter((n) => n.startsWith(SUITE_PREFIX)).sort();
  } catch {
    return [];
  }
}

/** Tags that have a temp dir. */
export async function labDirTags(): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(labTmpRoot());
  } catch {
    return [];
  }
  return names.flatMap((n) => LAB_DIR_RE.exec(n)?.[1] ?? []).sort();
}

export interface OwnerRecord {
  pid: number;
  /** Field 22 of /proc/PID/stat: tells the owner from a later process reusing its PID. */
  startTime: string;
  createdAt: string;
  argv: string[];
  label?: string;
  /** BERTH_TEST_ROOT_SNAPSHOT of the run that made the lab, when set. */
  suite?: string;
}

export type OwnerState = 'alive' | 'dead' | 'unowned';

/** Reserve a fresh tag: creates its temp dir (exclusively) and writes owner.json. */
export async function reserveTag(label?: string): Promise<{ tag: string; dir: string }> {
  const self = readStatSync(process.pid);
  if (!self) throw new Error('cannot read /proc/self/stat');
  const existing = new Set((await suiteNetnsNames()).map((n) => tagOfNetns(n)));
  const seed = (process.pid ^ Date.now()) & 0xffff;
  for (let i = 0; i < 64; i++) {
    const n = i === 0 ? seed : randomBytes(2).readUInt16BE(0);
    const tag = n.toString(16).padStart(4, '0');
    if (existing.has(tag)) continue;
    const dir = labDir(tag);
    try {
      await mkdir(dir, { mode: 0o755 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw e;
    }
    const owner: OwnerRecord = {
      pid: process.pid,
      startTime: self.startTime,
      createdAt: new Date().toISOString(),
      argv: process.argv,
      ...(label ? { label } : {}),
      ...(process.env.BERTH_TEST_ROOT_SNAPSHOT ? { suite: process.env.BERTH_TEST_ROOT_SNAPSHOT } : {}),
    };
    await writeFile(join(dir, 'owner.json'), `${JSON.stringify(owner, null, 2)}\n`);
    return { tag, dir };
  }
  throw new Error(`cannot find a free lab tag in ${labTmpRoot()}`);
}

export async function readOwner(tag: string): Promise<OwnerRecord | undefined> {
  try {
    return JSON.parse(await readFile(join(labDir(tag), 'owner.json'), 'utf8')) as OwnerRecord;
  } catch {
    return undefined;
  }
}

function ownerAlive(owner: OwnerRecord): boolean {
  const st = readStatSync(owner.pid);
  return st !== undefined && st.startTime === owner.startTime && st.state !== 'Z';
}

/** A dir without owner.json younger than this is a lab being created, not a leftover. */
const CREATING_GRACE_MS = 60_000;

/**
 * alive: its owner process is running. dead: it has an owner record and the owner is gone.
 * unowned: no owner record (not made by this harness, or its temp dir was removed).
 */
export async function ownerState(tag: string): Promise<OwnerState> {
  const owner = await readOwner(tag);
  if (owner) return ownerAlive(owner) ? 'alive' : 'dead';
  try {
    const st = await stat(labDir(tag));
    if (Date.now() - st.mtimeMs < CREATING_GRACE_MS) return 'alive';
  } catch {
    /* no dir */
  }
  return 'unowned';
}

export function ownerStateSync(tag: string): OwnerState {
  try {
    const owner = JSON.parse(readFileSync(join(labDir(tag), 'owner.json'), 'utf8')) as OwnerRecord;
    return ownerAlive(owner) ? 'alive' : 'dead';
  } catch {
    try {
      if (Date.now() - statSync(labDir(tag)).mtimeMs < CREATING_GRACE_MS) return 'alive';
    } catch {
      /* no dir */
    }
    return 'unowned';
  }
}
