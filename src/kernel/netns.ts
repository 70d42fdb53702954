// Network namespaces: persisted as bind mounts of nsfs files under a directory
// ($BERTH_RUN/netns), opened by path or PID, and entered briefly to create sockets there.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { ConflictError, UserError } from '../common/errors.js';
import { CLONE_NEWNET, LibcError, MNT_DETACH, MS_BIND, mount, setns, umount2, umount2Async, unshare } from './libc.js';

const NSFS_MAGIC = 0x6e736673;
const NETNS_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/** Where a namespace is: a path to an nsfs file (bind mount or /proc/PID/ns/net) or an open fd. */
export type NetnsTarget = string | number;

let homeFd: number | undefined;

/** The namespace this process started in: berth calls it "the host". */
function homeNetnsFd(): number {
  homeFd ??= fs.openSync('/proc/thread-self/ns/net', 'r');
  return homeFd;
}

export function validateNetnsName(name: string): string {
  if (!NETNS_NAME.test(name)) {
    throw new UserError(
      `invalid network namespace name "${name}": use 1-64 characters from [A-Za-z0-9_.-], starting with a letter or digit`,
    );
  }
  return name;
}

/** True if path is an nsfs file (a namespace handle, of any type), false if it is anything else or missing. */
export function isNamespaceFile(path: string): boolean {
  return isNetnsPath(path);
}

/** True if path is an nsfs file (a namespace handle), false if it is anything else or missing. */
export function isNetnsPath(path: string): boolean {
  try {
    return fs.statfsSync(path).type === NSFS_MAGIC;
  } catch {
    return false;
  }
}

function assertNetnsPath(path: string): void {
  if (!fs.existsSync(path)) {
    throw new UserError(`network namespace "${path}" does not exist: give the path of a namespace file such as $BERTH_RUN/netns/<id>, /run/netns/<name> or /proc/<pid>/ns/net`);
  }
  if (!isNetnsPath(path)) {
    throw new UserError(`"${path}" is not a network namespace: expected a namespace file (nsfs bind mount or /proc/<pid>/ns/net)`);
  }
}

/** Create a new network namespace persisted at dir/name; returns its path. */
export function createNetns(dir: string, name: string): string {
  validateNetnsName(name);
  fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, name);
  try {
    fs.closeSync(fs.openSync(path, 'wx', 0o444));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new ConflictError(`network namespace "${path}" already exists: choose another name`);
    }
    throw err;
  }
  const home = homeNetnsFd();
  try {
    unshare(CLONE_NEWNET);
    try {
      mount('/proc/thread-self/ns/net', path, null, MS_BIND);
    } finally {
      setns(home, CLONE_NEWNET);
    }
  } catch (err) {
    fs.rmSync(path, { force: true });
    throw err;
  }
  return path;
}

/** Remove a persisted namespace. Deleting one that is already gone is success. */
export function deleteNetns(path: string): void {
  try {
    umount2(path, MNT_DETACH);
  } catch (err) {
    // EINVAL: not a mount point (already unmounted); ENOENT: gone.
    if (!(err instanceof LibcError && (err.code === 'EINVAL' || err.code === 'ENOENT'))) throw err;
  }
  fs.rmSync(path, { force: true });
}

/**
 * deleteNetns off the event loop: the unmount on a worker thread, the file's removal on libuv's
 * pool. Each waits for the kernel (~10 ms); removing many containers at once, those waits on the
 * main thread were most of `rm -f` of 600 (issue 16), side by side they overlap.
 */
export async function deleteNetnsAsync(path: string): Promise<void> {
  if ((await umount2Async(path, MNT_DETACH)) !== 0) {
    deleteNetns(path); // not unmounted: the synchronous call says why (or that it is already gone)
    return;
  }
  await fs.promises.rm(path, { force: true });
}

/** Names of the persisted namespaces in dir. */
export function listNetns(dir: string): string[] {
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  return names.filter((n) => isNetnsPath(join(dir, n))).sort();
}

/** An open namespace handle; close it when done. */
export interface NetnsHandle {
  readonly fd: number;
  readonly path: string;
  close(): void;
}

export function openNetns(path: string): NetnsHandle {
  assertNetnsPath(path);
  const fd = fs.openSync(path, 'r');
  let open = true;
  return {
    fd,
    path,
    close() {
      if (open) fs.closeSync(fd);
      open = false;
    },
  };
}

export function netnsPathOfPid(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) throw new UserError(`invalid pid "${pid}": expected a positive integer`);
  return `/proc/${pid}/ns/net`;
}

export function openNetnsOfPid(pid: number): NetnsHandle {
  return openNetns(netnsPathOfPid(pid));
}

/** Inode identity of a namespace, to tell whether two handles are the same namespace. */
export function netnsId(target: NetnsTarget): string {
  const st = typeof target === 'number' ? fs.fstatSync(target) : fs.statSync(target);
  return `${st.dev}:${st.ino}`;
}

/** The identity of the host namespace (the one berth started in). */
export function hostNetnsId(): string {
  return netnsId(homeNetnsFd());
}

/**
 * Run fn with the calling (main) thread inside the target namespace, then switch back.
 * Sockets created by fn live in the target namespace for their whole life. fn must be
 * synchronous: nothing else may run on this thread while it is switched.
 */
export function withNetns<T>(target: NetnsTarget | null, fn: () => T): T {
  if (target === null) return fn();
  let fd: number;
  let opened = false;
  if (typeof target === 'number') {
    fd = target;
  } else {
    assertNetnsPath(target);
    fd = fs.openSync(target, 'r');
    opened = true;
  }
  const home = homeNetnsFd();
  try {
    setns(fd, CLONE_NEWNET);
    try {
      const result = fn();
      if (result instanceof Promise) throw new Error('withNetns: fn must be synchronous');
      return result;
    } finally {
      setns(home, CLONE_NEWNET);
    }
  } finally {
    if (opened) fs.closeSync(fd);
  }
}
