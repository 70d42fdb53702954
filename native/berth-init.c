// berth-init: the shim of one berth container (DESIGN.md, "Containers").
//
// Node cannot fork, so berth starts every container through this program. It stays in the
// host's namespaces as a light supervisor (forwards signals, records the exit, then runs
// --on-exit), and forks the container's PID 1, which enters the container's namespaces
// (network, UTS, mount, PID), optionally pivots into a rootfs, mounts its own /proc and execs
// the command. Nothing here builds a shell command line: everything is exec'd from argv.
//
// Contract with the caller:
// - Usage errors and setup failures exit 125, a command that cannot be run 127 (not found) or
//   126 (Docker's and the shell's conventions), with "berth-init: <why>" on stderr. Then nothing
//   ran and nothing was written: no pidfile, no exit file, no --on-exit.
// - The pidfile appears once the command was exec'd; from then on the exit file is written when
//   it ends, and --on-exit runs.
// - --detach returns (0) only when the pidfile is there, or fails with the status above.
// - Signals are forwarded to the command, which is PID 1 of its namespace: the kernel drops
//   those it has no handler for (SIGKILL aside), so a stop must escalate to SIGKILL, as Docker's.
// - The container dies with its shim (PR_SET_PDEATHSIG SIGKILL): a container's lifetime is never
//   longer than the watcher that records its end (DESIGN.md, "Containers"). The pidfile's third
//   line is the container's start time (/proc/PID/stat field 22), so berth tells a reused PID.
// - --publish-file FILE: the shim binds those ports in the host's namespace before the command
//   starts (a port already taken fails the start) and relays the host's own connections to the
//   container from a child process that ends before the exit file is written
//   (native/port-relay.c). --proxy-only runs just that relay (CNI sandboxes, in-process plugin);
//   --relay-host SOCKET runs the host's one relay for the daemon's CNI sandboxes (relay-host.c).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "port-relay.h"
#include "relay-host.h"

#define OLDROOT ".berth-oldroot" // where pivot_root parks the host's root, inside --rootfs

struct bind { const char *spec, *src, *dst; };
static struct {
  const char *netns, *hostname, *rootfs, *workdir, *pidfile, *exitfile, *log, *publishfile, *relayhost, *mountbase, *preparemounts;
  bool no_netns_unshare, detach, proxy_only;
  struct bind *binds;
  int nbinds;
  char **onexit; // NULL-terminated argv (the "--end" slot of our argv becomes the NULL)
  char **cmd;
} opt;

// A failure report, sent through a pipe by a process that cannot print for itself: the
// container's PID 1 before exec (the shim prints it), or a detached shim (its stderr is the log,
// so the waiting caller prints it). code 0 means "ready".
struct report { int code; char msg[500]; };
static int report_fd = -1;
static bool report_only; // true in the container before exec: the shim prints the message

static _Noreturn void fail(int code, const char *fmt, ...) {
  struct report r = {.code = code};
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r.msg, sizeof r.msg, fmt, ap);
  va_end(ap);
  if (!report_only) dprintf(STDERR_FILENO, "berth-init: %s\n", r.msg);
  if (report_fd >= 0 && write(report_fd, &r, sizeof r) < 0) { /* the reader is gone: nothing to tell */ }
  _exit(code);
}
#define usage(...) fail(125, __VA_ARGS__)
#define E strerror(errno)

// BERTH_TRACE (as berth's own trace): wall-clock stamps of the start's steps on stderr (the
// log, once detached), epoch milliseconds so that they line up with the caller's and the
// daemon's clocks. The first stamp, taken at exec, waits for the first line.
static bool tracing;
static struct timespec started_at;
static void trace_line(const struct timespec *ts, const char *label) {
  dprintf(STDERR_FILENO, "[berth-init %d %lld.%03ld] %s\n", (int)getpid(), (long long)ts->tv_sec, ts->tv_nsec / 1000000, label);
}
static void trace(const char *label) {
  if (!tracing) return;
  if (started_at.tv_sec) {
    trace_line(&started_at, "exec'd");
    started_at.tv_sec = 0;
  }
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  trace_line(&ts, label);
}

// The value of the option at argv[*i]: present, non-empty and not another option.
static const char *value(int argc, char **argv, int *i, const char **slot) {
  const char *name = argv[*i];
  if (slot && *slot) usage("%s given twice", name);
  if (*i + 1 >= argc) usage("%s needs a value", name);
  const char *v = argv[++*i];
  if (!*v) usage("%s: empty value", name);
  if (!strncmp(v, "--", 2)) usage("%s needs a value, got the option \"%s\"", name, v);
  if (slot) *slot = v;
  return v;
}

static void parse(int argc, char **argv) {
  opt.binds = calloc((size_t)argc, sizeof *opt.binds);
  if (!opt.binds) fail(125, "out of memory");
  int i = 1;
  for (; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--")) break;
    else if (!strcmp(a, "--netns")) value(argc, argv, &i, &opt.netns);
    else if (!strcmp(a, "--hostname")) value(argc, argv, &i, &opt.hostname);
    else if (!strcmp(a, "--rootfs")) value(argc, argv, &i, &opt.rootfs);
    else if (!strcmp(a, "--workdir")) value(argc, argv, &i, &opt.workdir);
    else if (!strcmp(a, "--pidfile")) value(argc, argv, &i, &opt.pidfile);
    else if (!strcmp(a, "--exit-file")) value(argc, argv, &i, &opt.exitfile);
    else if (!strcmp(a, "--log")) value(argc, argv, &i, &opt.log);
    else if (!strcmp(a, "--publish-file")) value(argc, argv, &i, &opt.publishfile);
    else if (!strcmp(a, "--proxy-only")) opt.proxy_only = true;
    else if (!strcmp(a, "--relay-host")) value(argc, argv, &i, &opt.relayhost);
    else if (!strcmp(a, "--no-netns-unshare")) opt.no_netns_unshare = true;
    else if (!strcmp(a, "--mount-base")) value(argc, argv, &i, &opt.mountbase);
    else if (!strcmp(a, "--prepare-mounts")) value(argc, argv, &i, &opt.preparemounts);
    else if (!strcmp(a, "--detach")) opt.detach = true;
    else if (!strcmp(a, "--bind")) {
      const char *v = value(argc, argv, &i, NULL), *colon = strchr(v, ':');
      if (!colon || colon == v || !colon[1] || v[0] != '/' || colon[1] != '/')
        usage("--bind \"%s\": expected SRC:DST with two absolute paths", v);
      char *src = strndup(v, (size_t)(colon - v));
      if (!src) fail(125, "out of memory");
      opt.binds[opt.nbinds++] = (struct bind){v, src, colon + 1};
    } else if (!strcmp(a, "--on-exit")) {
      if (opt.onexit) usage("--on-exit given twice");
      int end = i + 1;
      while (end < argc && strcmp(argv[end], "--end")) end++;
      if (end == argc) usage("--on-exit: missing \"--end\" after the program and its arguments");
      if (end == i + 1) usage("--on-exit needs a program before \"--end\"");
      if (argv[i + 1][0] != '/') usage("--on-exit \"%s\": the program must be an absolute path", argv[i + 1]);
      argv[end] = NULL;
      opt.onexit = &argv[i + 1];
      i = end;
    } else if (a[0] == '-') usage("unknown option \"%s\"", a);
    else usage("unexpected argument \"%s\" (the command goes after \"--\")", a);
  }
  if (opt.preparemounts) {
    if (i < argc || argc != 3) usage("--prepare-mounts takes only the run directory");
    if (opt.preparemounts[0] != '/') usage("--prepare-mounts \"%s\": must be an absolute path", opt.preparemounts);
    return;
  }
  if (opt.relayhost) {
    // the host's relay, steered over its socket: no ports of its own, no command
    if (i < argc) usage("--relay-host takes no command");
    if (opt.proxy_only || opt.publishfile || opt.netns || opt.rootfs || opt.exitfile || opt.onexit || opt.nbinds || opt.hostname || opt.workdir || opt.no_netns_unshare || opt.mountbase)
      usage("--relay-host takes only --pidfile, --detach and --log");
    if (opt.detach && !opt.log) usage("--detach needs --log FILE");
    return;
  }
  if (opt.proxy_only) {
    // only the port relay (CNI sandboxes, whose process is not ours): no command
    if (i < argc) usage("--proxy-only takes no command");
    if (!opt.publishfile) usage("--proxy-only needs --publish-file FILE");
    if (opt.netns || opt.rootfs || opt.exitfile || opt.onexit || opt.nbinds || opt.hostname || opt.workdir || opt.no_netns_unshare || opt.mountbase)
      usage("--proxy-only takes only --publish-file, --pidfile, --detach and --log");
    if (opt.detach && !opt.log) usage("--detach needs --log FILE");
    return;
  }
  if (i >= argc) usage("missing \"--\" and the command");
  if (i + 1 >= argc) usage("missing the command after \"--\"");
  opt.cmd = &argv[i + 1];
  if (opt.netns && opt.no_netns_unshare) usage("--netns and --no-netns-unshare exclude each other");
  if (opt.detach && !opt.log) usage("--detach needs --log FILE");
  if (opt.log && !opt.detach) usage("--log is only used with --detach");
  if (opt.mountbase && opt.mountbase[0] != '/') usage("--mount-base \"%s\": must be an absolute path", opt.mountbase);
  if (opt.rootfs && opt.rootfs[0] != '/') usage("--rootfs \"%s\": must be an absolute path", opt.rootfs);
  if (opt.workdir && opt.workdir[0] != '/') usage("--workdir \"%s\": must be an absolute path", opt.workdir);
  if (opt.hostname) {
    size_t n = strlen(opt.hostname);
    bool ok = n <= 64 && opt.hostname[0] != '-' && opt.hostname[0] != '.';
    for (const char *p = opt.hostname; ok && *p; p++)
      ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-' || *p == '.';
    if (!ok) usage("--hostname \"%s\": expected 1-64 letters, digits, '-' or '.', not starting with '-' or '.'", opt.hostname);
  }
}

static void ensure_dir(const char *path, mode_t mode) {
  if (mkdir(path, mode) && errno != EEXIST) fail(125, "mkdir \"%s\": %s", path, E);
}

// Under a rootfs, give a bind mount its mount point, as Docker does: parents, then the
// file or directory. This runs after pivot_root, so symlinks resolve inside the container.
static void make_target(const char *dst, bool dir) {
  struct stat st;
  if (!stat(dst, &st)) return;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", dst);
  for (char *p = path + 1; (p = strchr(p, '/')); p++) {
    *p = '\0';
    ensure_dir(path, 0755);
    *p = '/';
  }
  if (dir) ensure_dir(dst, 0755);
  else {
    int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) fail(125, "create \"%s\" in --rootfs: %s", dst, E);
    close(fd);
  }
}

// ---- the containers' mount namespace -------------------------------------------------------------
//
// unshare(CLONE_NEWNS) from the host's namespace copies every mount there, and the host holds one
// per container (its netns bind mount under $BERTH_RUN/netns): starting the 1000th container
// copied 1000 of them, and each container kept the others' netns files, so a removed
// container's namespace lived on in every container started after it. Instead (issue 16):
// - $BERTH_RUN/netns and $BERTH_RUN/mntns are mounts of their own, unbindable: a recursive
//   clone of the host's tree (open_tree) leaves them and everything under them out;
// - $BERTH_RUN/mntns/base holds a mount namespace with nothing but an empty tmpfs root, made once;
// - a container clones the host's tree as it is now (its filesystem view as before, minus those
//   two directories' contents), enters the base, unshares a copy of it (one mount), and makes the
//   clone its root. The cost follows the host's own mounts, not the number of containers.
#define BASE_ROOT "/root" // in the base namespace: where a container attaches the host's tree

// True if path is the root of a mount (statx), false if it is a plain directory.
static bool mount_root(const char *path) {
  struct statx stx;
  if (statx(AT_FDCWD, path, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx)) fail(125, "statx \"%s\": %s", path, E);
  if (!(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT)) fail(125, "statx \"%s\": the kernel does not tell mount roots", path);
  return stx.stx_attributes & STATX_ATTR_MOUNT_ROOT;
}

// dir (created if missing) as a mount of its own, unbindable: left out of recursive clones.
static void unbindable_dir(const char *dir, mode_t mode) {
  ensure_dir(dir, mode);
  if (!mount_root(dir) && mount(dir, dir, NULL, MS_BIND, NULL)) fail(125, "bind \"%s\" on itself: %s", dir, E);
  if (mount(NULL, dir, NULL, MS_UNBINDABLE, NULL)) fail(125, "make \"%s\" unbindable: %s", dir, E);
}

// An open namespace file of the given type, or -1 (errno set) if path is none.
static int open_ns(const char *path, int type) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  if (ioctl(fd, NS_GET_NSTYPE) != type) {
    close(fd);
    return errno = EINVAL, -1;
  }
  return fd;
}

// The base namespace's process: a copy of the host's namespace reduced to an empty tmpfs root.
static _Noreturn void base_namespace(const char *mntdir, int ready, int done) {
  if (unshare(CLONE_NEWNS)) fail(125, "unshare a mount namespace: %s", E);
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) fail(125, "make \"/\" a private mount: %s", E);
  if (mount("berth-base", mntdir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,nr_inodes=8,mode=0755"))
    fail(125, "mount a tmpfs on \"%s\": %s", mntdir, E);
  if (chdir(mntdir)) fail(125, "chdir \"%s\": %s", mntdir, E);
  ensure_dir("." BASE_ROOT, 0755);
  // the tmpfs becomes the root, the host's tree on top of it is detached: nothing else is left
  if (syscall(SYS_pivot_root, ".", ".")) fail(125, "pivot_root into the base: %s", E);
  if (umount2(".", MNT_DETACH)) fail(125, "detach the host's tree from the base: %s", E);
  if (mount(NULL, "/", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
    fail(125, "make the base's root read-only: %s", E);
  char c = 0;
  if (write(ready, &c, 1) != 1) _exit(125);
  while (read(done, &c, 1) < 0 && errno == EINTR) {}
  _exit(0);
}

// --prepare-mounts RUN: the two unbindable directories and the base namespace, once per RUN
// (idempotent, under a lock: berth processes may start containers side by side).
static _Noreturn void prepare_mounts(const char *run) {
  char netns[PATH_MAX], mntdir[PATH_MAX], base[PATH_MAX], lock[PATH_MAX];
  if (snprintf(lock, sizeof lock, "%s/mntns.lock", run) >= (int)sizeof lock) usage("--prepare-mounts: path too long");
  snprintf(netns, sizeof netns, "%s/netns", run);
  snprintf(mntdir, sizeof mntdir, "%s/mntns", run);
  snprintf(base, sizeof base, "%s/mntns/base", run);
  ensure_dir(run, 0755);
  int lk = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lk < 0) fail(125, "open \"%s\": %s", lock, E);
  while (flock(lk, LOCK_EX) && errno == EINTR) {}
  unbindable_dir(netns, 0755);
  unbindable_dir(mntdir, 0700);
  int fd = open_ns(base, CLONE_NEWNS);
  if (fd >= 0) _exit(0);
  int fl = open(base, O_WRONLY | O_CREAT | O_CLOEXEC, 0400);
  if (fl < 0) fail(125, "create \"%s\": %s", base, E);
  close(fl);
  // EINVAL: the kernel took the new namespace for one not newer than ours (mnt_ns_loop: a bind of
  // it could make a loop). Seen now and then when the caller's own namespace is recent (a test's
  // `unshare -m`), never twice in a row: each attempt makes a new namespace.
  for (int attempt = 1;; attempt++) {
    int ready[2], done[2];
    if (pipe2(ready, O_CLOEXEC) || pipe2(done, O_CLOEXEC)) fail(125, "pipe: %s", E);
    pid_t pid = fork();
    if (pid < 0) fail(125, "fork: %s", E);
    if (pid == 0) {
      close(ready[0]);
      close(done[1]); // else the read below never sees the end
      base_namespace(mntdir, ready[1], done[0]);
    }
    close(ready[1]);
    close(done[0]);
    char c, ns[64];
    if (read(ready[0], &c, 1) != 1) fail(125, "the base mount namespace could not be made");
    close(ready[0]);
    snprintf(ns, sizeof ns, "/proc/%d/ns/mnt", (int)pid);
    int err = mount(ns, base, NULL, MS_BIND, NULL) ? errno : 0;
    close(done[1]);
    waitpid(pid, NULL, 0);
    if (!err) _exit(0);
    if (err != EINVAL || attempt == 16) fail(125, "bind the base mount namespace on \"%s\": %s", base, strerror(err));
  }
}

// In the container, before anything else touches mounts: a new mount namespace holding the host's
// tree as it is now (cloned from here), made from the base, so that the copy is of one mount.
static void enter_mount_base(int basefd) {
  // the caller's working directory, found again in the new root; one that cannot be named
  // (deleted, or a path too long) leaves the container in "/" rather than failing its start
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) snprintf(cwd, sizeof cwd, "/");
  int host = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
  if (host < 0) fail(125, "open \"/proc/self/ns/mnt\": %s", E);
  int tree = open_tree(AT_FDCWD, "/", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
  if (tree < 0) fail(125, "clone the host's mount tree: %s", E);
  trace("container: host tree cloned");
  if (setns(basefd, CLONE_NEWNS)) fail(125, "setns --mount-base \"%s\": %s", opt.mountbase, E);
  close(basefd);
  if (unshare(CLONE_NEWUTS | CLONE_NEWNS)) fail(125, "unshare UTS and mount namespaces: %s", E);
  if (move_mount(tree, "", AT_FDCWD, BASE_ROOT, MOVE_MOUNT_F_EMPTY_PATH)) {
    // ELOOP: the host's tree holds a bind mount of an older mount namespace (unshare --mount=FILE),
    // which the kernel keeps out of newer ones. Then a copy of the host's namespace, as before.
    if (errno != ELOOP) fail(125, "attach the host's tree: %s", E);
    if (setns(host, CLONE_NEWNS) || unshare(CLONE_NEWNS)) fail(125, "unshare a mount namespace: %s", E);
    close(host);
    close(tree);
    if (chdir(cwd)) fail(125, "chdir \"%s\" in the container: %s", cwd, E);
    return;
  }
  close(host);
  close(tree);
  if (chdir(BASE_ROOT)) fail(125, "chdir \"%s\": %s", BASE_ROOT, E);
  // the host's tree becomes the root; the base's root under it is detached
  if (syscall(SYS_pivot_root, ".", ".")) fail(125, "pivot_root into the host's tree: %s", E);
  if (umount2(".", MNT_DETACH)) fail(125, "detach the base's root: %s", E);
  if (chdir("/") || chdir(cwd)) fail(125, "chdir \"%s\" in the container: %s", cwd, E);
}

// The container's PID 1, before exec. Failures go to the shim through report_fd.
static _Noreturn void container(int netfd, int basefd, int shimfd, const sigset_t *mask) {
  // Die with the shim. The shim may already be gone (killed between fork and prctl): its pidfd
  // says so (getppid() is 0 here, the shim is outside this PID namespace).
  if (prctl(PR_SET_PDEATHSIG, SIGKILL)) fail(125, "prctl PR_SET_PDEATHSIG: %s", E);
  struct pollfd gone = {.fd = shimfd, .events = POLLIN};
  if (poll(&gone, 1, 0) != 0) _exit(137);
  close(shimfd);
  trace("container: forked");
  if (netfd >= 0 && setns(netfd, CLONE_NEWNET)) fail(125, "setns --netns \"%s\": %s", opt.netns, E);
  trace("container: in its netns");
  if (basefd >= 0) enter_mount_base(basefd);
  else if (unshare(CLONE_NEWUTS | CLONE_NEWNS)) fail(125, "unshare UTS and mount namespaces: %s", E);
  trace("container: unshared UTS and mount");
  // Private, recursively: no mount made here propagates back to the host.
  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL)) fail(125, "make \"/\" a private mount: %s", E);
  trace("container: / private");
  if (opt.hostname && sethostname(opt.hostname, strlen(opt.hostname)))
    fail(125, "--hostname \"%s\": %s", opt.hostname, E);
  const char *host = ""; // where the host's files are seen from here
  if (opt.rootfs) {
    // pivot_root, not chroot: the host's tree is unmounted below, so nothing can climb out.
    if (mount(opt.rootfs, opt.rootfs, NULL, MS_BIND | MS_REC, NULL))
      fail(125, "--rootfs \"%s\": bind mount on itself: %s", opt.rootfs, E);
    if (chdir(opt.rootfs)) fail(125, "--rootfs \"%s\": %s", opt.rootfs, E);
    ensure_dir(OLDROOT, 0700);
    if (syscall(SYS_pivot_root, ".", OLDROOT)) fail(125, "--rootfs \"%s\": pivot_root: %s", opt.rootfs, E);
    if (chdir("/")) fail(125, "chdir \"/\" in --rootfs: %s", E);
    host = "/" OLDROOT;
    ensure_dir("/dev", 0755);
    if (mount("/" OLDROOT "/dev", "/dev", NULL, MS_BIND | MS_REC, NULL)) fail(125, "bind /dev into --rootfs: %s", E);
  }
  for (int i = 0; i < opt.nbinds; i++) {
    const struct bind *b = &opt.binds[i];
    char src[PATH_MAX];
    struct stat st;
    snprintf(src, sizeof src, "%s%s", host, b->src);
    if (stat(src, &st)) fail(125, "--bind \"%s\": source \"%s\": %s", b->spec, b->src, E);
    if (opt.rootfs) make_target(b->dst, S_ISDIR(st.st_mode));
    if (mount(src, b->dst, NULL, MS_BIND | MS_REC, NULL)) fail(125, "--bind \"%s\": mount on \"%s\": %s", b->spec, b->dst, E);
  }
  trace("container: bind mounts");
  if (opt.rootfs) ensure_dir("/proc", 0555);
  // A proc of this PID namespace: ps inside sees only the container's processes.
  if (mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL)) fail(125, "mount proc on \"/proc\": %s", E);
  if (opt.rootfs) {
    if (umount2("/" OLDROOT, MNT_DETACH)) fail(125, "unmount the host's root: %s", E);
    if (rmdir("/" OLDROOT)) fail(125, "rmdir \"/%s\": %s", OLDROOT, E);
  }
  trace("container: proc mounted");
  if (opt.workdir && chdir(opt.workdir)) fail(125, "--workdir \"%s\": %s", opt.workdir, E);
  relay_restore_limit(); // the shim's raised open-files limit (one per published port) is not the command's
  sigprocmask(SIG_SETMASK, mask, NULL);
  execvp(opt.cmd[0], opt.cmd);
  fail(errno == ENOENT ? 127 : 126, "cannot run \"%s\": %s", opt.cmd[0], E);
}

// Write a whole file, atomically for readers: a temp file beside it, then rename.
static int write_atomic(const char *path, const char *data) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, (int)getpid()) >= (int)sizeof tmp) return errno = ENAMETOOLONG, -1;
  int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600); // pid and exit files: root's only
  if (fd < 0) return -1;
  size_t len = strlen(data);
  ssize_t n = write(fd, data, len);
  int err = n == (ssize_t)len ? 0 : n < 0 ? errno : EIO;
  if (!err && fsync(fd)) err = errno;
  if (close(fd) && !err) err = errno;
  if (!err && rename(tmp, path)) err = errno;
  if (err) unlink(tmp);
  return err ? (errno = err, -1) : 0;
}

// Field 22 of /proc/PID/stat (start time in clock ticks since boot), as berth reads it.
static int start_time(pid_t pid, char *out, size_t size) {
  char path[64], stat[1024];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return -1;
  ssize_t n = read(fd, stat, sizeof stat - 1);
  close(fd);
  if (n <= 0) return errno = EIO, -1;
  stat[n] = '\0';
  // the command name (field 2) may hold spaces and parentheses: count fields after the last ')'
  char *p = strrchr(stat, ')');
  for (int field = 2; p && field < 22; field++) p = strchr(p + 1, ' ');
  if (!p) return errno = EIO, -1;
  size_t len = strcspn(p + 1, " ");
  if (!len || len >= size) return errno = EIO, -1;
  memcpy(out, p + 1, len);
  out[len] = '\0';
  return 0;
}

// --detach: fork the shim off and wait here until it reports the container started (or why
// not), so the caller gets a meaningful status and then exits, leaving the shim behind.
static void detach(void) {
  int logfd = open(opt.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (logfd < 0) fail(125, "--log \"%s\": %s", opt.log, E);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (devnull < 0) fail(125, "open \"/dev/null\": %s", E);
  int p[2];
  if (pipe2(p, O_CLOEXEC)) fail(125, "pipe: %s", E);
  pid_t pid = fork();
  if (pid < 0) fail(125, "fork: %s", E);
  if (pid > 0) {
    close(p[1]);
    struct report r;
    ssize_t n;
    while ((n = read(p[0], &r, sizeof r)) < 0 && errno == EINTR) {}
    if (n != (ssize_t)sizeof r) fail(125, "the shim ended before the container started (see --log \"%s\")", opt.log);
    r.msg[sizeof r.msg - 1] = '\0';
    if (r.code) dprintf(STDERR_FILENO, "berth-init: %s\n", r.msg);
    _exit(r.code);
  }
  close(p[0]);
  report_fd = p[1];
  if (setsid() < 0) fail(125, "setsid: %s", E);
  if (dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) fail(125, "redirect to --log \"%s\": %s", opt.log, E);
  // Keep none of the caller's descriptors: a pipe it reads to EOF would stay open for as long
  // as the container runs.
  if ((report_fd > 3 && close_range(3, (unsigned)report_fd - 1, 0)) || close_range((unsigned)report_fd + 1, ~0U, 0))
    fail(125, "close_range: %s", E);
}

// Bind the published ports in the host's namespace before anything starts: a port a host
// process holds fails the start (exit 125), as docker-proxy's bind does.
static void open_relay(void) {
  char why[400];
  if (opt.publishfile && !relay_open(opt.publishfile, why, sizeof why)) fail(125, "%s", why);
  if (opt.relayhost && !relay_host_listen(opt.relayhost, why, sizeof why)) fail(125, "%s", why);
}

// --proxy-only, --relay-host: the relay alone, as its own process (the pidfile names it on both lines).
static _Noreturn void proxy_only(void) {
  open_relay();
  if (opt.pidfile) {
    char buf[64];
    snprintf(buf, sizeof buf, "%d\n%d\n", (int)getpid(), (int)getpid());
    if (write_atomic(opt.pidfile, buf)) fail(125, "--pidfile \"%s\": %s", opt.pidfile, E);
  }
  if (report_fd >= 0) {
    struct report ready = {0};
    if (write(report_fd, &ready, sizeof ready) < 0) { /* the caller is gone: carry on */ }
    close(report_fd);
    report_fd = -1;
  }
  relay_loop();
}

int main(int argc, char **argv) {
  tracing = getenv("BERTH_TRACE") != NULL;
  if (tracing) clock_gettime(CLOCK_REALTIME, &started_at);
  parse(argc, argv);
  if (opt.detach) detach();
  trace("shim: detached");
  if (opt.preparemounts) prepare_mounts(opt.preparemounts);
  if (opt.proxy_only || opt.relayhost) proxy_only();
  open_relay();
  trace("shim: ports bound");
  int netfd = -1;
  if (opt.netns) {
    netfd = open(opt.netns, O_RDONLY | O_CLOEXEC);
    if (netfd < 0) fail(125, "--netns \"%s\": %s", opt.netns, E);
    if (ioctl(netfd, NS_GET_NSTYPE) != CLONE_NEWNET) fail(125, "--netns \"%s\": not a network namespace", opt.netns);
  }
  int basefd = -1;
  if (opt.mountbase && (basefd = open_ns(opt.mountbase, CLONE_NEWNS)) < 0)
    fail(125, "--mount-base \"%s\": not a mount namespace (%s)", opt.mountbase, E);

  // Signals are taken synchronously with sigwaitinfo: blocked from here on (the container
  // gets the caller's mask back before exec), so none is lost between fork and the wait.
  static const int fwd[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH};
  sigset_t set, mask;
  sigemptyset(&set);
  for (size_t i = 0; i < sizeof fwd / sizeof fwd[0]; i++) sigaddset(&set, fwd[i]);
  sigaddset(&set, SIGCHLD);
  signal(SIGCHLD, SIG_DFL); // an inherited SIG_IGN would make the kernel reap the child for us
  sigprocmask(SIG_BLOCK, &set, &mask);

  // The shim stays in the host's namespaces, so that --on-exit runs there. Only its children
  // go to a new PID namespace; pid_for_children is set back right after the fork, so that
  // --on-exit can start processes of its own.
  int pidns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
  if (pidns < 0) fail(125, "open \"/proc/self/ns/pid\": %s", E);
  if (unshare(CLONE_NEWPID)) fail(125, "unshare PID namespace: %s", E);
  int shimfd = (int)syscall(SYS_pidfd_open, getpid(), 0); // close-on-exec
  if (shimfd < 0) fail(125, "pidfd_open: %s", E);
  int sp[2];
  if (pipe2(sp, O_CLOEXEC)) fail(125, "pipe: %s", E);
  trace("shim: PID namespace unshared");
  pid_t child = fork();
  if (child < 0) fail(125, "fork: %s", E);
  if (child == 0) {
    close(sp[0]);
    report_fd = sp[1];
    report_only = true;
    container(netfd, basefd, shimfd, &mask);
  }
  if (setns(pidns, CLONE_NEWPID)) dprintf(STDERR_FILENO, "berth-init: setns back to the host PID namespace: %s\n", E);
  close(pidns);
  close(shimfd);
  close(sp[1]);
  if (netfd >= 0) close(netfd);
  if (basefd >= 0) close(basefd);

  // EOF: the exec happened (the pipe is close-on-exec). A report: setup or exec failed.
  struct report r;
  ssize_t n;
  while ((n = read(sp[0], &r, sizeof r)) < 0 && errno == EINTR) {}
  close(sp[0]);
  trace("shim: command exec'd");
  if (n != 0) {
    waitpid(child, NULL, 0);
    if (n != (ssize_t)sizeof r) fail(125, "the container ended during setup");
    r.msg[sizeof r.msg - 1] = '\0';
    fail(r.code, "%s", r.msg);
  }
  // The relay runs beside the container, in the host's namespaces; it dies with this shim.
  pid_t relay = -1;
  if (relay_count() > 0 && (relay = relay_fork()) < 0) {
    int err = errno;
    kill(child, SIGKILL);
    waitpid(child, NULL, 0);
    fail(125, "fork the port relay: %s", strerror(err));
  }
  char buf[640];
  if (opt.pidfile) {
    // line 1: the container's PID 1; line 2: this shim (a detached shim is not the caller's child);
    // line 3: the container's start time, which tells it from a later process with its PID
    char start[32];
    if (start_time(child, start, sizeof start)) {
      kill(child, SIGKILL);
      waitpid(child, NULL, 0);
      fail(125, "read the start time of the container's process %d: %s", (int)child, E);
    }
    snprintf(buf, sizeof buf, "%d\n%d\n%s\n", (int)child, (int)getpid(), start);
    if (write_atomic(opt.pidfile, buf)) {
      int err = errno;
      kill(child, SIGKILL);
      waitpid(child, NULL, 0);
      fail(125, "--pidfile \"%s\": %s", opt.pidfile, strerror(err));
    }
  }
  trace("shim: pidfile written");
  if (report_fd >= 0) { // detached: tell the waiting caller the container runs
    struct report ready = {0};
    if (write(report_fd, &ready, sizeof ready) < 0) { /* the caller is gone: carry on */ }
    close(report_fd);
    report_fd = -1;
  }

  // Forward signals; reap only our child. sigwaitinfo blocks: no polling.
  int status = 0;
  for (;;) {
    int sig = sigwaitinfo(&set, NULL);
    if (sig < 0) {
      if (errno == EINTR) continue;
      fail(125, "sigwaitinfo: %s", E);
    }
    if (sig != SIGCHLD) kill(child, sig); // ESRCH: it just ended, SIGCHLD follows
    else if (waitpid(child, &status, WNOHANG) == child) break;
  }
  // the ports are free again before anyone hears the container ended
  if (relay > 0) {
    kill(relay, SIGKILL);
    waitpid(relay, NULL, 0);
  }
  int code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  if (opt.exitfile) {
    char sig[32] = "null", when[32];
    if (WIFSIGNALED(status)) {
      const char *abbrev = sigabbrev_np(WTERMSIG(status));
      if (abbrev) snprintf(sig, sizeof sig, "\"SIG%s\"", abbrev);
      else snprintf(sig, sizeof sig, "\"SIG%d\"", WTERMSIG(status));
    }
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", gmtime_r(&ts.tv_sec, &tm));
    snprintf(buf, sizeof buf, "{\"exitCode\":%d,\"signal\":%s,\"pid\":%d,\"finishedAt\":\"%s.%03ldZ\"}\n", code, sig,
             (int)child, when, ts.tv_nsec / 1000000);
    if (write_atomic(opt.exitfile, buf)) dprintf(STDERR_FILENO, "berth-init: --exit-file \"%s\": %s\n", opt.exitfile, E);
  }
  if (opt.onexit) {
    sigprocmask(SIG_SETMASK, &mask, NULL);
    execv(opt.onexit[0], opt.onexit);
    fail(125, "--on-exit \"%s\": %s", opt.onexit[0], E);
  }
  return code;
}
