// Process exit notifications through pidfds (pidfd_open(2)): a pidfd becomes readable when its
// process ends, whoever its parent is, and it never refers to a later process with the same PID.
// Node cannot poll an arbitrary descriptor, so one poll(2) runs on a koffi worker thread for all
// watched processes; an eventfd wakes it when the set changes or the watcher closes. Idle, this
// costs nothing: no timer, no /proc reads.
import koffi from 'koffi';
import { closeSync, readSync, writeSync } from 'node:fs';
import { LibcError } from './libc.js';

const libc = koffi.load('libc.so.6');
const pidfdOpenFn = libc.func('int pidfd_open(int pid, unsigned int flags)');
const eventfdFn = libc.func('int eventfd(unsigned int initval, int flags)');
const pollFn = libc.func('int poll(void *fds, unsigned long nfds, int timeout)');
const fcntlFn = libc.func('int fcntl(int fd, int cmd, int arg)');
const closeFn = libc.func('int close(int fd)');
const F_DUPFD_CLOEXEC = 1030;

/**
 * Descriptors held for long (one pidfd per watched container) are kept at or above this: code
 * that uses select(2) — libnftables' netlink batch, in this very process — aborts on a descriptor
 * >= FD_SETSIZE (1024) ("bit out of range 0 - FD_SETSIZE on fd_set"), and the daemon died at
 * ~1000 containers when the pidfds had taken every number below it.
 */
export const HIGH_FD_FLOOR = 1024;

/** fd moved to the lowest free number >= HIGH_FD_FLOOR (close-on-exec); fd itself if the limit forbids. */
export function moveFdHigh(fd: number): number {
  if (fd >= HIGH_FD_FLOOR) return fd;
  const high = fcntlFn(fd, F_DUPFD_CLOEXEC, HIGH_FD_FLOOR) as number;
  if (high < 0) return fd; // RLIMIT_NOFILE <= 1024: keep it where it is
  closeFn(fd);
  return high;
}

const EFD_CLOEXEC = 0o2000000;
const POLLIN = 0x1;
const POLLFD_SIZE = 8; // struct pollfd { int fd; short events; short revents; }

/** A pidfd for pid (close-on-exec); throws LibcError (ESRCH: no such process). */
export function pidfdOpen(pid: number): number {
  const fd = pidfdOpenFn(pid, 0) as number;
  if (fd < 0) throw new LibcError(`pidfd_open ${pid}`, koffi.errno());
  return fd;
}

/**
 * Wait until the process behind pidfd ends (its pidfd turns readable: a zombie counts), at most
 * timeoutMs; true if it ended. The poll(2) runs on a koffi worker thread: no timer, no /proc reads.
 */
export function waitPidfd(fd: number, timeoutMs: number): Promise<boolean> {
  const one = Buffer.alloc(POLLFD_SIZE);
  one.writeInt32LE(fd, 0);
  one.writeInt16LE(POLLIN, 4);
  return new Promise((resolve, reject) => {
    pollFn.async(one, 1, Math.max(0, Math.ceil(timeoutMs)), (err: unknown, rc: number) => {
      if (err) reject(err instanceof Error ? err : new Error('poll on a pidfd failed'));
      else if (rc < 0) reject(new LibcError('poll pidfd', koffi.errno()));
      else resolve(rc > 0);
    });
  });
}

interface Watched {
  fd: number;
  onExit: () => void;
}

export class ProcessExitWatcher {
  private readonly wake: number;
  private readonly watched = new Map<number, Watched>(); // by pid
  /** pidfds unwatched while the worker polled them: closed once the poll returns */
  private retired: number[] = [];
  private polling = false;
  private closed = false;

  constructor(private readonly onError: (err: Error) => void = () => undefined) {
    const wake = eventfdFn(0, EFD_CLOEXEC) as number;
    if (wake < 0) throw new LibcError('eventfd', koffi.errno());
    this.wake = moveFdHigh(wake);
  }

  /**
   * Call onExit once when pid ends. The caller checks, after this returns, that pid is still
   * the process it means (start time): the pidfd then refers to exactly that process. False if
   * the process is already gone (onExit is not called) or pid is watched already.
   */
  watch(pid: number, onExit: () => void): boolean {
    if (this.closed || this.watched.has(pid)) return false;
    let fd: number;
    try {
      fd = moveFdHigh(pidfdOpen(pid));
    } catch {
      return false;
    }
    this.watched.set(pid, { fd, onExit });
    this.poll();
    return true;
  }

  /** Stop watching pid (its onExit is not called). */
  unwatch(pid: number): void {
    const w = this.watched.get(pid);
    if (!w) return;
    this.watched.delete(pid);
    // the worker may be polling this descriptor: close it only once the poll returned
    if (this.polling) this.retired.push(w.fd);
    else closeSync(w.fd);
    this.kick();
  }

  has(pid: number): boolean {
    return this.watched.has(pid);
  }

  get size(): number {
    return this.watched.size;
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const pid of [...this.watched.keys()]) this.unwatch(pid);
    if (!this.polling) closeSync(this.wake);
    else this.kick();
  }

  private kick(): void {
    if (!this.polling) return;
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    writeSync(this.wake, one);
  }

  /** (Re)start the worker's poll over the eventfd and every watched pidfd; a running poll is woken to pick up the new set. */
  private poll(): void {
    if (this.polling) return this.kick();
    if (this.closed || this.watched.size === 0) return;
    const entries = [...this.watched.entries()];
    const fds = Buffer.alloc(POLLFD_SIZE * (entries.length + 1));
    const put = (i: number, fd: number) => {
      fds.writeInt32LE(fd, i * POLLFD_SIZE);
      fds.writeInt16LE(POLLIN, i * POLLFD_SIZE + 4);
    };
    put(0, this.wake);
    entries.forEach(([, w], i) => put(i + 1, w.fd));
    this.polling = true;
    pollFn.async(fds, entries.length + 1, -1, (err: unknown, rc: number) => {
      this.polling = false;
      for (const fd of this.retired.splice(0)) closeSync(fd);
      if (err) this.onError(err as Error);
      if (fds.readInt16LE(6)) {
        try {
          readSync(this.wake, Buffer.alloc(8)); // reset the counter
        } catch {
          // EAGAIN: nothing to reset
        }
      }
      if (this.closed) return void closeSync(this.wake);
      const ended: Watched[] = [];
      entries.forEach(([pid, w], i) => {
        if (rc > 0 && fds.readInt16LE((i + 1) * POLLFD_SIZE + 6) && this.watched.get(pid) === w) {
          this.watched.delete(pid);
          closeSync(w.fd);
          ended.push(w);
        }
      });
      this.poll();
      for (const w of ended) {
        try {
          w.onExit();
        } catch (e) {
          this.onError(e as Error);
        }
      }
    });
  }
}
