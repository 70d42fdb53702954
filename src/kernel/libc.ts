// The few libc calls Node does not expose: namespaces and mounts. Called through koffi on the
// main thread; namespace switches are per-thread, so a switch must never span an await.
import koffi from 'koffi';
import { constants as osConstants } from 'node:os';
import { SystemError } from '../common/errors.js';

const libc = koffi.load('libc.so.6');

export const CLONE_NEWNS = 0x00020000;
export const CLONE_NEWUTS = 0x04000000;
export const CLONE_NEWPID = 0x20000000;
export const CLONE_NEWNET = 0x40000000;

export const MS_BIND = 0x1000;
export const MS_REC = 0x4000;
export const MS_PRIVATE = 1 << 18;
export const MS_SHARED = 1 << 20;
export const MNT_DETACH = 2;

const setnsFn = libc.func('int setns(int fd, int nstype)');
const unshareFn = libc.func('int unshare(int flags)');
const mountFn = libc.func(
  'int mount(const char *source, const char *target, const char *fstype, unsigned long flags, const char *data)',
);
const umount2Fn = libc.func('int umount2(const char *target, int flags)');

const errnoNames = new Map<number, string>(
  Object.entries(osConstants.errno).map(([name, value]) => [value, name]),
);

/** Name of an errno value, e.g. 17 -> "EEXIST". */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

/** A failed libc call, carrying the errno so callers can tell EEXIST from EPERM. */
export class LibcError extends SystemError {
  constructor(
    readonly call: string,
    readonly errno: number,
  ) {
    super(`${call} failed: ${errnoName(errno)}`);
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

function check(call: string, rc: number): void {
  if (rc !== 0) throw new LibcError(call, koffi.errno());
}

export function setns(fd: number, nstype: number): void {
  check('setns', setnsFn(fd, nstype) as number);
}

export function unshare(flags: number): void {
  check('unshare', unshareFn(flags) as number);
}

export function mount(source: string | null, target: string, fstype: string | null, flags: number, data: string | null = null): void {
  check(`mount ${target}`, mountFn(source, target, fstype, flags, data) as number);
}

export function umount2(target: string, flags: number): void {
  check(`umount ${target}`, umount2Fn(target, flags) as number);
}

/**
 * umount2 on one of koffi's worker threads (they share the process's mounts): an unmount waits
 * for the kernel (an RCU grace period), and many side by side share their waits. Resolves to the
 * return code only: errno is the worker thread's, so on -1 ask umount2 again for the reason.
 */
export function umount2Async(target: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) => {
    umount2Fn.async(target, flags, (err: unknown, rc: unknown) => (err ? reject(err instanceof Error ? err : new Error(`umount : the worker thread's call failed`)) : resolve(rc as number)));
  });
}

const sigmaskFn = libc.func('int pthread_sigmask(int how, const void *set, void *oldset)');
const SIG_BLOCK = 0;
const SIG_SETMASK = 2;
/** glibc's sigset_t: 1024 bits */
const SIGSET_BYTES = 128;
const ALL_SIGNALS = Buffer.alloc(SIGSET_BYTES, 0xff);

/**
 * Run fn with every signal blocked on the calling thread (the process's signals go to its other
 * threads meanwhile, or wait). Why: a library call that waits in select() fails with EINTR when a
 * signal lands on its thread, whatever SA_RESTART says; the daemon's children send it SIGCHLD.
 */
export function withSignalsBlocked<T>(fn: () => T): T {
  const old = Buffer.alloc(SIGSET_BYTES);
  const rc = sigmaskFn(SIG_BLOCK, ALL_SIGNALS, old) as number;
  if (rc !== 0) throw new LibcError('pthread_sigmask', rc);
  try {
    return fn();
  } finally {
    sigmaskFn(SIG_SETMASK, old, null);
  }
}
