// glibc malloc settings for the long-running daemon (issue 17: RSS <= 100 MB at rest). Measured
// in the scale lab (bench/scale/memory.ts): after bursts of requests a daemon kept ~10 MB of free
// memory resident in glibc's arenas (the main [heap] and one arena per thread that allocated: the
// libuv pool, V8's workers, ~2.5 MB each), because glibc's default thresholds rise with the
// largest block freed (a netlink dump, an etcd message), so freed memory stays in the arenas.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const malloptFn = libc.func('int mallopt(int param, int value)');
const mallocTrimFn = libc.func('int malloc_trim(size_t pad)');

// <malloc.h>
const M_TRIM_THRESHOLD = -1;
const M_MMAP_THRESHOLD = -3;

/** Blocks from this size are mmapped (and unmapped when freed); free memory above it at an arena's top is returned. */
export const DAEMON_MALLOC_THRESHOLD = 128 * 1024;

/**
 * Fix both thresholds at glibc's initial 128 KiB (setting them turns off their growth), so a large
 * buffer is given back when freed instead of raising the thresholds for good. Returns whether
 * glibc took both (mallopt returns 1 on success).
 */
export function tuneMallocForDaemon(): boolean {
  return malloptFn(M_MMAP_THRESHOLD, DAEMON_MALLOC_THRESHOLD) === 1 && malloptFn(M_TRIM_THRESHOLD, DAEMON_MALLOC_THRESHOLD) === 1;
}

/**
 * Return free memory of every arena to the kernel (malloc_trim(0): the tops, and whole free pages
 * inside, by madvise). Cheap when there is little to return. Returns whether anything was released.
 */
export function releaseFreeMemory(): boolean {
  return mallocTrimFn(0) === 1;
}
