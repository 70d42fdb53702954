// berth: the thin client (DESIGN.md, "Front ends"; src/cli/gateway.ts is the other side).
//
// Node needs ~100 ms to start before berth runs a line of its own code. When `berth daemon`
// answers on $BERTH_RUN/berth.sock, this program sends it the command line and prints the
// answer, so a command costs a round trip to a warm engine instead of a Node start. What only
// the caller can do stays here: a container's shim is started by this process, with its stdio,
// terminal and signals (the daemon prepared everything else and is told how the shim ended);
// `berth exec` becomes the nsenter command the daemon names. When no daemon answers, or
// BERTH_NO_DAEMON is set, or the daemon says so (`berth daemon` itself), this program execs the
// in-process CLI (node <package>/bin/berth), so it is always a complete `berth`.
//
// Built a second time with -DBERTH_CNI as dist/berth-cni, the CNI plugin: CNI_* variables and
// the configuration on stdin go to the daemon, whose answer is the plugin's output; without a
// daemon it execs the in-process plugin (node <package>/bin/berth-cni) with the same stdin. The
// conf may name the daemon's socket ("berthSocket", or "berthRun" holding berth.sock) for
// runtimes that scrub the environment. Without a daemon (or with BERTH_NO_DAEMON set) it tries the
// warm CNI engine's socket ($BERTH_RUN/cni-engine.sock, src/cni/warm-engine.ts) first; when none
// answers, the in-process plugin runs the call and leaves an engine for the next ones
// (BERTH_CNI_ENGINE=off or the conf's "engine": "off" skip both).
//
// Nothing here builds a shell command line: everything is exec'd from argv.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef BERTH_NODE
#define BERTH_NODE "node" // build.sh passes the absolute path of the node that built berth
#endif
#ifndef BERTH_PACKAGE
#define BERTH_PACKAGE "" // build.sh passes the package root (the plugin may be copied elsewhere)
#endif
#ifdef BERTH_CNI
#define LOCAL_SCRIPT "bin/berth-cni"
#else
#define LOCAL_SCRIPT "bin/berth"
#endif

extern char **environ;

struct buf { char *p; size_t n, cap; };

static _Noreturn void die(int status, const char *fmt, const char *arg) {
  fprintf(stderr, "berth: ");
  fprintf(stderr, fmt, arg);
  fprintf(stderr, "\n");
  exit(status);
}

static void buf_add(struct buf *b, const void *data, size_t n) {
  if (b->n + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) die(3, "%s", "out of memory");
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->n, data, n);
  b->n += n;
  b->p[b->n] = '\0';
}

static void buf_str(struct buf *b, const char *s) { buf_add(b, s, strlen(s)); }

// A JSON string; bytes >= 0x80 pass through (argv is UTF-8 in practice).
static void buf_json(struct buf *b, const char *s) {
  buf_str(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    char esc[8];
    if (c == '"' || c == '\\') { esc[0] = '\\'; esc[1] = (char)c; buf_add(b, esc, 2); }
    else if (c < 0x20) { snprintf(esc, sizeof esc, "\\u%04x", c); buf_str(b, esc); }
    else buf_add(b, s, 1);
  }
  buf_str(b, "\"");
}

// The package root: where build.sh said, else this binary is <root>/dist/berth (symlinks resolved).
static void package_root(char *out, size_t size) {
  if (BERTH_PACKAGE[0]) {
    snprintf(out, size, "%s", BERTH_PACKAGE);
    return;
  }
  ssize_t n = readlink("/proc/self/exe", out, size - 1);
  if (n <= 0) die(3, "%s", "cannot read /proc/self/exe");
  out[n] = '\0';
  for (int up = 0; up < 2; up++) {
    char *slash = strrchr(out, '/');
    if (!slash || slash == out) die(3, "unexpected location of the berth client: %s", out);
    *slash = '\0';
  }
}

// The V8 startup snapshot of the in-process CLI (or plugin), made by scripts/bundle.mjs with these
// node flags (a snapshot runs only with the flags it was made with; keep both lists equal): the
// heap after the bundle's code was loaded and evaluated, so a call neither compiles nor runs that
// code. 16 MiB semi-spaces spare a short command the young-generation collections it would
// otherwise run.
static const char *const snapshot_flags[] = {"--min-semi-space-size=16"};
#define SNAPSHOT_FLAG_COUNT (sizeof snapshot_flags / sizeof *snapshot_flags)
#ifdef BERTH_CNI
#define BUNDLE "berth-cni"
#else
#define BUNDLE "berth"
#endif

// Whether dist/BUNDLE.blob may be used: it is there, it was made by the node this client execs
// (dist/snapshot.node holds that node's device, inode, size and mtime as the build saw them: a
// snapshot made by another node makes node exit with status 14, so after an upgrade of node berth
// runs without it), and the command is not `berth daemon`, which runs for long (the flags above
// suit short calls).
static bool use_snapshot(const char *root, int argc, char **argv) {
#ifndef BERTH_CNI
  if (argc > 1 && !strcmp(argv[1], "daemon")) return false;
#else
  (void)argc;
  (void)argv;
#endif
  char path[PATH_MAX + 32], want[128] = "", have[128];
  struct stat node;
  snprintf(path, sizeof path, "%s/dist/" BUNDLE ".blob", root);
  if (access(path, R_OK) != 0 || stat(BERTH_NODE, &node) != 0) return false;
  snprintf(path, sizeof path, "%s/dist/snapshot.node", root);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = read(fd, want, sizeof want - 1);
  close(fd);
  if (n <= 0) return false;
  want[n] = '\0';
  snprintf(have, sizeof have, "%llu %llu %lld %lld.%09ld\n", (unsigned long long)node.st_dev, (unsigned long long)node.st_ino,
           (long long)node.st_size, (long long)node.st_mtim.tv_sec, node.st_mtim.tv_nsec);
  return !strcmp(want, have);
}

// Replace this process with the in-process CLI (or plugin): node <root>/bin/berth[-cni] ARGS...,
// or, when its snapshot may be used: node FLAGS --snapshot-blob <root>/dist/BUNDLE.blob
// <root>/dist/BUNDLE.cjs ARGS...
static _Noreturn void run_local(int argc, char **argv) {
  char root[PATH_MAX], script[PATH_MAX + 32];
  package_root(root, sizeof root);
  char **args = calloc((size_t)argc + 8, sizeof *args);
  if (!args) die(3, "%s", "out of memory");
  if (use_snapshot(root, argc, argv)) {
    char blob[PATH_MAX + 32];
    int k = 0;
    args[k++] = "node";
    for (size_t i = 0; i < SNAPSHOT_FLAG_COUNT; i++) args[k++] = (char *)snapshot_flags[i];
    snprintf(blob, sizeof blob, "%s/dist/" BUNDLE ".blob", root);
    snprintf(script, sizeof script, "%s/dist/" BUNDLE ".cjs", root);
    args[k++] = "--snapshot-blob";
    args[k++] = blob;
    args[k++] = script;
    for (int i = 1; i < argc; i++) args[k++] = argv[i];
    args[k] = NULL;
    execv(BERTH_NODE, args); // only the node that made the snapshot can run it: else the plain CLI below
  }
  snprintf(script, sizeof script, "%s/" LOCAL_SCRIPT, root);
  args[0] = "node";
  args[1] = script;
  for (int i = 1; i < argc; i++) args[i + 1] = argv[i];
  args[argc + 1] = NULL;
  execv(BERTH_NODE, args);
  execvp("node", args);
  die(127, "cannot run node for the in-process CLI: %s", strerror(errno));
}

// The daemon's socket when the CNI conf names it ("berthSocket", or "berthRun"/berth.sock): runtimes
// that scrub the environment (conmon) still reach the daemon. Empty: $BERTH_RUN/berth.sock.
static char socket_path[sizeof ((struct sockaddr_un *)0)->sun_path];

static int connect_daemon(void) {
  const char *run = getenv("BERTH_RUN");
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  int n = socket_path[0] ? snprintf(addr.sun_path, sizeof addr.sun_path, "%s", socket_path)
                         : snprintf(addr.sun_path, sizeof addr.sun_path, "%s/berth.sock", run && *run ? run : "/run/berth");
  if (n < 0 || (size_t)n >= sizeof addr.sun_path) return -1;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; // the reader is gone (EPIPE): nothing sensible left to do with output
    p += w;
    n -= (size_t)w;
  }
}

// Decode a chunked body in place.
static size_t unchunk(char *p, size_t n) {
  size_t in = 0, out = 0;
  while (in < n) {
    char *end;
    unsigned long len = strtoul(p + in, &end, 16);
    char *nl = strstr(end, "\r\n");
    if (!nl || len == 0) break;
    in = (size_t)(nl - p) + 2;
    if (in + len > n) len = n - in;
    memmove(p + out, p + in, len);
    out += len;
    in += len + 2;
  }
  return out;
}

// POST body to path; the answer's body in *resp. Returns the HTTP status, -1 when no daemon
// answers on the socket, or -2 when it went away before answering (the request may have
// happened: never redo it in-process).
static int post_on(int fd, const char *path, const struct buf *body, struct buf *resp) {
  if (fd < 0) return -1;
  char head[256];
  int n = snprintf(head, sizeof head,
                   "POST %s HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n"
                   "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                   path, body->n);
  write_all(fd, head, (size_t)n);
  write_all(fd, body->p, body->n);
  struct buf raw = {0};
  char chunk[65536];
  // read until the body is complete (Content-Length) or the daemon closes the connection
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    buf_add(&raw, chunk, (size_t)r);
    char *hdr_end = strstr(raw.p, "\r\n\r\n");
    char *cl = hdr_end ? strcasestr(raw.p, "\r\ncontent-length:") : NULL;
    if (cl && cl < hdr_end && raw.n >= (size_t)(hdr_end + 4 - raw.p) + strtoul(cl + 17, NULL, 10)) break;
  }
  close(fd);
  if (raw.n == 0) return -2;
  if (raw.n < 12 || strncmp(raw.p, "HTTP/1.", 7)) die(3, "%s", "the daemon's answer is not HTTP");
  int status = atoi(raw.p + 9);
  char *sep = strstr(raw.p, "\r\n\r\n");
  if (!sep) die(3, "%s", "the daemon's answer has no body");
  *sep = '\0';
  bool chunked = strcasestr(raw.p, "\r\ntransfer-encoding: chunked") != NULL;
  size_t off = (size_t)(sep - raw.p) + 4;
  buf_add(resp, raw.p + off, raw.n - off);
  if (chunked) resp->n = unchunk(resp->p, resp->n);
  free(raw.p);
  return status;
}

static int post(const char *path, const struct buf *body, struct buf *resp) { return post_on(connect_daemon(), path, body, resp); }

// NUL-separated fields into a NULL-terminated vector (pointers into p, which is kept).
static char **split0(char *p, size_t n, int *count) {
  int c = 1;
  for (size_t i = 0; i < n; i++) c += p[i] == '\0';
  char **v = calloc((size_t)c + 1, sizeof *v);
  if (!v) die(3, "%s", "out of memory");
  int k = 0;
  v[k++] = p;
  for (size_t i = 0; i + 1 < n; i++)
    if (p[i] == '\0') v[k++] = p + i + 1;
  *count = k;
  return v;
}

static volatile pid_t shim_pid;
static void forward(int sig) {
  if (shim_pid > 0) kill(shim_pid, sig);
}

// Start the shim the daemon prepared (stdio: ours, or /dev/null for stdin/stdout when detached,
// as the in-process CLI does) and wait for it. Returns its status as a shell would.
static int run_shim(char **argv, bool detach) {
  static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
  if (!detach) {
    // a signal to berth is meant for the container: forward it, do not die of it
    struct sigaction sa = {.sa_handler = forward};
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaction(forwarded[i], &sa, NULL);
  }
  pid_t pid = fork();
  if (pid < 0) die(3, "cannot fork: %s", strerror(errno));
  if (pid == 0) {
    for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) signal(forwarded[i], SIG_DFL);
    if (detach) {
      int null = open("/dev/null", O_RDWR);
      if (null >= 0) { dup2(null, 0); dup2(null, 1); if (null > 2) close(null); }
    }
    execv(argv[0], argv);
    fprintf(stderr, "berth: cannot start %s: %s\n", argv[0], strerror(errno));
    _exit(125);
  }
  shim_pid = pid;
  int status;
  while (waitpid(pid, &status, 0) < 0)
    if (errno != EINTR) die(3, "waitpid: %s", strerror(errno));
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int handle(struct buf *frames, int argc, char **argv);

// The value of option name in a NULL-terminated argv, or NULL.
static const char *option(char **argv, const char *name) {
  for (; *argv && argv[1]; argv++)
    if (!strcmp(*argv, name)) return argv[1];
  return NULL;
}

// A detached container this client started and no daemon recorded: kill its shim (line 2 of the
// pidfile; the container dies with it, PR_SET_PDEATHSIG), if that process is still the shim
// (its command line names this pidfile). Left alone, it would run unrecorded: issue 11, item 14.
static void kill_unrecorded(const char *pidfile) {
  char text[128] = "", path[64], cmdline[8192];
  int fd = pidfile ? open(pidfile, O_RDONLY | O_CLOEXEC) : -1;
  if (fd < 0) return;
  ssize_t n = read(fd, text, sizeof text - 1);
  close(fd);
  char *nl = n > 0 ? strchr(text, '\n') : NULL;
  int shim = nl ? atoi(nl + 1) : 0;
  if (shim <= 1) return;
  snprintf(path, sizeof path, "/proc/%d/cmdline", shim);
  fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return;
  n = read(fd, cmdline, sizeof cmdline - 1);
  close(fd);
  if (n <= 0) return;
  cmdline[n] = '\0';
  for (ssize_t i = 0; i < n; i++)
    if (!cmdline[i]) cmdline[i] = ' ';
  if (strstr(cmdline, pidfile)) kill(shim, SIGKILL);
}

// After a run hand-over: tell the daemon how the shim ended; its answer is more frames. When the
// daemon died meanwhile (or a new one does not know the run), this process finishes the run: a
// foreground container's end is recorded by the in-process CLI (its status is the answer), a
// detached one is stopped (nobody recorded it), and the next berth command releases the rest.
static int report(const char *token, const char *id, bool detach, char **shim_argv, int shim_status, int argc, char **argv) {
  struct buf body = {0}, resp = {0};
  char num[32];
  buf_str(&body, "{\"token\":");
  buf_json(&body, token);
  snprintf(num, sizeof num, ",\"status\":%d}", shim_status);
  buf_str(&body, num);
  int http = post("/berth/v1/cli/continue", &body, &resp);
  if (http == 200) return handle(&resp, argc, argv);
  if (!detach) {
    char status[16];
    snprintf(status, sizeof status, "%d", shim_status);
    char *finish[] = {argv[0], "internal", "finish", (char *)id, status, NULL};
    run_local(5, finish);
  }
  if (shim_status == 0) kill_unrecorded(option(shim_argv, "--pidfile"));
  if (http < 0) die(3, "the daemon went away before it recorded container %s; stopped it", id);
  fprintf(stderr, "berth: the daemon refused the report: %s\n", resp.p ? resp.p : "");
  die(3, "container %s stopped: no daemon recorded it", id);
}

// Act on the daemon's frames in order; returns the exit status.
static int handle(struct buf *frames, int argc, char **argv) {
  size_t i = 0;
  int status = 0;
  while (i < frames->n) {
    char tag = frames->p[i];
    char *end;
    unsigned long len = strtoul(frames->p + i + 2, &end, 10);
    if (*end != '\n' || (size_t)(end + 1 - frames->p) + len > frames->n) die(3, "%s", "malformed answer from the daemon");
    char *data = end + 1;
    i = (size_t)(data - frames->p) + len;
    switch (tag) {
    case '1': write_all(1, data, len); break;
    case '2': write_all(2, data, len); break;
    case 'x': status = atoi(data); break;
    case 'l': run_local(argc, argv);
    case 'e': {
      int n;
      char **v = split0(data, len, &n);
      execvp(v[0], v);
      die(127, "cannot run %s", v[0]);
    }
    case 'r': { // token, detach, container id, shim argv…
      int n;
      char **v = split0(data, len, &n);
      if (n < 4) die(3, "%s", "malformed run hand-over from the daemon");
      bool detach = v[1][0] == '1';
      int shim_status = run_shim(v + 3, detach);
      return report(v[0], v[2], detach, v + 3, shim_status, argc, argv);
    }
    default: die(3, "%s", "unknown frame from the daemon");
    }
  }
  return status;
}

#ifdef BERTH_CNI
// stdin was read already: give the in-process plugin the same bytes on a fresh stdin. start: no
// warm engine answered, so the plugin starts one after its call (src/cni/warm-engine.ts).
static _Noreturn void run_local_with_stdin(int argc, char **argv, const struct buf *in, bool start) {
  int fd = memfd_create("berth-cni-stdin", 0);
  if (fd < 0 || write(fd, in->p ? in->p : "", in->n) != (ssize_t)in->n || lseek(fd, 0, SEEK_SET) < 0 || dup2(fd, 0) < 0)
    die(3, "cannot hand the configuration to the in-process plugin: %s", strerror(errno));
  if (!start) run_local(argc, argv);
  char **args = calloc((size_t)argc + 2, sizeof *args);
  if (!args) die(3, "%s", "out of memory");
  for (int i = 0; i < argc; i++) args[i] = argv[i];
  args[argc] = "--start-engine";
  run_local(argc + 1, args);
}

static bool json_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// The value of a top-level string member of the JSON object in json (one without escapes: a
// path), copied into out. False when absent, not a plain string or too long. The plugin
// validates the whole conf itself: this only picks where to send it.
static bool conf_string(const char *json, const char *key, char *out, size_t size) {
  int depth = 0;
  bool expect_key = false;
  for (const char *p = json; *p; p++) {
    if (*p == '"') {
      const char *s = ++p;
      while (*p && *p != '"') p += (*p == '\\' && p[1]) ? 2 : 1;
      if (!*p) return false;
      bool is_key = depth == 1 && expect_key;
      expect_key = false;
      if (!is_key || (size_t)(p - s) != strlen(key) || strncmp(s, key, strlen(key))) continue;
      const char *q = p + 1;
      while (json_space(*q)) q++;
      if (*q++ != ':') return false;
      while (json_space(*q)) q++;
      if (*q != '"') return false;
      const char *v = ++q;
      while (*q && *q != '"' && *q != '\\') q++;
      if (*q != '"' || (size_t)(q - v) >= size) return false;
      memcpy(out, v, (size_t)(q - v));
      out[q - v] = '\0';
      return true;
    }
    if (*p == '{' || *p == '[') expect_key = ++depth == 1 && *p == '{';
    else if (*p == '}' || *p == ']') depth--;
    else if (*p == ',' && depth == 1) expect_key = true;
  }
  return false;
}

// The conf's cniVersion for an error this client answers itself (the plugin's own answers carry theirs).
static const char *error_version(const char *conf) {
  static char v[16];
  return conf_string(conf, "cniVersion", v, sizeof v) ? v : "1.1.0";
}

// CNI's error result on stdout (SPEC.md "Error"), exit status 1.
static _Noreturn void cni_error(const char *conf, int code, const char *msg, const char *details) {
  struct buf out = {0};
  char num[32];
  buf_str(&out, "{\"cniVersion\":");
  buf_json(&out, error_version(conf));
  snprintf(num, sizeof num, ",\"code\":%d,\"msg\":", code);
  buf_str(&out, num);
  buf_json(&out, msg);
  buf_str(&out, ",\"details\":");
  buf_json(&out, details);
  buf_str(&out, "}\n");
  write_all(1, out.p, out.n);
  exit(1);
}

// The body of a call: {"env":{CNI_*},"stdin":...} (the daemon's route; the engine also gets "berth").
static void call_body(struct buf *body, const struct buf *in) {
  buf_str(body, "{\"env\":{");
  bool first = true;
  for (char **e = environ; *e; e++) {
    if (strncmp(*e, "CNI_", 4)) continue;
    char *eq = strchr(*e, '=');
    if (!eq) continue;
    *eq = '\0';
    if (!first) buf_str(body, ",");
    buf_json(body, *e);
    buf_str(body, ":");
    buf_json(body, eq + 1);
    *eq = '=';
    first = false;
  }
  buf_str(body, "},\"stdin\":");
  buf_json(body, in->p ? in->p : "");
}

static void send_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return; // the engine is gone: the answer (none, or no "x") says what to do
    p += w;
    n -= (size_t)w;
  }
}

// Whether frames (after the engine's "+") are complete and end the call: an "x" frame, or "l".
static bool frames_complete(const char *p, size_t n, bool *local) {
  size_t i = 0;
  bool status = false;
  *local = false;
  while (i < n) {
    char *end;
    if (i + 2 > n) return false;
    unsigned long len = strtoul(p + i + 2, &end, 10);
    if (*end != '\n' || (size_t)(end + 1 - p) + len > n) return false;
    if (p[i] == 'x') status = true;
    if (p[i] == 'l') *local = true;
    i = (size_t)(end + 1 - p) + len;
  }
  return status || *local;
}

enum engine_outcome { ENGINE_NONE, ENGINE_NONE_HERE, ENGINE_LOCAL };

// The warm CNI engine (src/cni/warm-engine.ts) in dir: its answer is this call's (and this process
// exits), or: ENGINE_NONE (none answers: run in-process and leave one), ENGINE_NONE_HERE (dir
// cannot hold one: run in-process only) or ENGINE_LOCAL (the engine says: run in-process). The
// socket is used only if it is root's, mode 0600, in a directory only root may write to.
static enum engine_outcome call_engine(const char *dir, const struct buf *in, const char *conf) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  struct stat st;
  int n = snprintf(addr.sun_path, sizeof addr.sun_path, "%s/cni-engine.sock", dir);
  // room for the engine's temporary name (".<pid>") too, else it could not listen
  if (n < 0 || (size_t)n + 12 >= sizeof addr.sun_path) return ENGINE_NONE_HERE;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022)) return ENGINE_NONE_HERE;
  if (lstat(addr.sun_path, &st) != 0 || !S_ISSOCK(st.st_mode) || st.st_uid != 0 || (st.st_mode & 0777) != 0600) return ENGINE_NONE;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return ENGINE_NONE;
  if (connect(fd, (struct sockaddr *)&addr, sizeof addr) < 0) {
    close(fd);
    return ENGINE_NONE;
  }
  struct buf body = {0}, raw = {0};
  call_body(&body, in);
  buf_str(&body, ",\"berth\":{");
  const char *vars[] = {"BERTH_ROOT", "BERTH_RUN"};
  for (size_t i = 0; i < 2; i++) {
    const char *v = getenv(vars[i]);
    if (i) buf_str(&body, ",");
    buf_json(&body, vars[i]);
    buf_str(&body, ":");
    buf_json(&body, v ? v : "");
  }
  buf_str(&body, "}}");
  send_all(fd, body.p, body.n);
  shutdown(fd, SHUT_WR);
  char chunk[65536];
  for (;;) {
    ssize_t r = read(fd, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    buf_add(&raw, chunk, (size_t)r);
  }
  close(fd);
  // no "+": the engine was leaving (idle, or replaced by a newer one) and did nothing
  if (raw.n == 0) return ENGINE_NONE;
  bool local;
  if (raw.p[0] != '+' || !frames_complete(raw.p + 1, raw.n - 1, &local))
    cni_error(conf, 11, "the warm berth-cni engine went away during the call", "its effect is unknown: try again later (the next call runs without it)");
  if (local) return ENGINE_LOCAL;
  struct buf frames = {0};
  buf_add(&frames, raw.p + 1, raw.n - 1);
  exit(handle(&frames, 0, NULL));
}

int main(int argc, char **argv) {
  struct buf in = {0}, body = {0}, resp = {0};
  char chunk[65536];
  for (;;) {
    ssize_t r = read(0, chunk, sizeof chunk);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    buf_add(&in, chunk, (size_t)r);
  }
  const char *conf = in.p ? in.p : ""; // buf_add keeps it NUL-terminated
  // the warm engine's switch in the environment: on (default) or off; the conf has its own ("engine")
  const char *engine_env = getenv("BERTH_CNI_ENGINE");
  if (engine_env && *engine_env && strcmp(engine_env, "on") && strcmp(engine_env, "off"))
    cni_error(conf, 4, "invalid BERTH_CNI_ENGINE: expected \"on\" or \"off\"", engine_env);
  char run[sizeof socket_path - 11]; // room for "/berth.sock"
  bool conf_run = conf_string(conf, "berthRun", run, sizeof run);
  if (!conf_string(conf, "berthSocket", socket_path, sizeof socket_path) && conf_run) {
    memcpy(socket_path, run, strlen(run));
    memcpy(socket_path + strlen(run), "/berth.sock", 12);
  }
  const char *no_daemon = getenv("BERTH_NO_DAEMON");
  // the connection that tells whether a daemon answers carries the call too (one accept less for it)
  int conn = no_daemon && *no_daemon ? -1 : connect_daemon();
  if (conn < 0) {
    // no daemon: the warm engine, else in-process (which leaves an engine for the next calls)
    char engine[16];
    bool off = (engine_env && !strcmp(engine_env, "off")) || (conf_string(conf, "engine", engine, sizeof engine) && !strcmp(engine, "off")) || geteuid() != 0;
    if (off) run_local_with_stdin(argc, argv, &in, false);
    const char *env_run = getenv("BERTH_RUN");
    enum engine_outcome o = call_engine(conf_run ? run : env_run && *env_run ? env_run : "/run/berth", &in, conf);
    run_local_with_stdin(argc, argv, &in, o == ENGINE_NONE);
  }
  call_body(&body, &in);
  // the daemon opens CNI_NETNS through /proc/<pid>/root: this process's mount namespace
  char pid[32];
  snprintf(pid, sizeof pid, ",\"pid\":%d}", (int)getpid());
  buf_str(&body, pid);
  int http = post_on(conn, "/berth/v1/cni", &body, &resp);
  if (http == -1 || http == 404) run_local_with_stdin(argc, argv, &in, false);
  if (http == -2) die(3, "%s", "the daemon went away during the call");
  if (http != 200) die(3, "the daemon refused the call: %s", resp.p ? resp.p : "");
  return handle(&resp, argc, argv);
}
#else
int main(int argc, char **argv) {
  const char *no_daemon = getenv("BERTH_NO_DAEMON");
  if (no_daemon && *no_daemon) run_local(argc, argv);
  struct buf body = {0}, resp = {0};
  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) strcpy(cwd, "/");
  const char *path = getenv("PATH");
  char num[32];
  buf_str(&body, "{\"argv\":[");
  for (int i = 1; i < argc; i++) {
    if (i > 1) buf_str(&body, ",");
    buf_json(&body, argv[i]);
  }
  buf_str(&body, "],\"cwd\":");
  buf_json(&body, cwd);
  buf_str(&body, ",\"path\":");
  buf_json(&body, path ? path : "");
  snprintf(num, sizeof num, ",\"pid\":%d}", (int)getpid());
  buf_str(&body, num);
  int http = post("/berth/v1/cli", &body, &resp);
  // no daemon, or one without the gateway: the in-process CLI does the same work
  if (http == -1 || http == 404) run_local(argc, argv);
  if (http == -2) die(3, "%s", "the daemon went away during the command; `berth ps -a` shows what it did");
  if (http != 200) die(3, "the daemon refused the command: %s", resp.p ? resp.p : "");
  return handle(&resp, argc, argv);
}
#endif
