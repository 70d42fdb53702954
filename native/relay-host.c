// The host relay: ONE long-lived relay process per host for the published ports of every CNI
// sandbox the daemon plugs in (berth-init --relay-host SOCKET), instead of a process started per
// endpoint. The daemon adds and removes bindings over a unix socket (0600, peers checked by
// SO_PEERCRED): a request/response channel, answered in order, so a refused bind names the port,
// DEL knows the port is free when it returns, and CHECK and `system check` can ask what is
// bound (a directory plus a signal would need a second channel for all three). One line a
// request, one answer each:
//
//   add OWNER N          then N publish lines ("tcp|udp LISTEN_ADDR PORT TARGET_ADDR PORT"):
//                        all bound, "ok"; or none (of these), "err WHY" naming the port
//   del OWNER            unbind OWNER's ports: "ok COUNT" (0 when it had none)
//   list                 "OWNER PUBLISH_LINE" for every bound port, then "."
//   quit-if-empty        "ok" and exit when nothing is bound, else "err busy"
//
// OWNER is a CNI endpoint's id. The relay keeps no state of its own: it survives a daemon
// restart, and the daemon's start-up check (`system check --repair`) compares it with the store
// and adds what is missing, removes what no endpoint owns. A lock file beside the socket keeps it
// one per host (a second start fails, saying one runs).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "port-relay.h"
#include "relay-host.h"

#define MAX_IN (1 << 20) // a request line, or the unanswered rest of a large add
#define OWNER_MAX 128

struct client {
  struct relay_hook hook; // first member: the loop hands back the hook's address
  int fd;
  char *in, *out;
  size_t inlen, outlen, outcap;
  // an add whose publish lines are still coming
  long want;
  char owner[OWNER_MAX + 1];
  const void *mark; // the newest listener before this add: what an undo keeps
  bool failed;
  char why[400];
};

static struct relay_hook listen_hook;
static int listen_fd = -1;

static bool valid_owner(const char *s) {
  size_t n = strlen(s);
  if (!n || n > OWNER_MAX) return false;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.')) return false;
  return true;
}

static void put(struct client *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  if (c->outlen + (size_t)n + 1 > c->outcap) {
    size_t cap = (c->outlen + (size_t)n + 1) * 2;
    char *grown = realloc(c->out, cap);
    if (!grown) return; // the client sees a short answer and gives up
    c->out = grown;
    c->outcap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(c->out + c->outlen, (size_t)n + 1, fmt, ap);
  va_end(ap);
  c->outlen += (size_t)n;
}

static void client_close(struct client *c) {
  // an add cut short: none of its ports stay bound
  if (c->want > 0 && !c->failed) relay_unbind(c->owner, c->mark);
  close(c->fd);
  free(c->in);
  free(c->out);
  free(c);
  relay_round_stale();
}

// Send what can go now; the rest waits for EPOLLOUT. false: the client is gone.
static bool flush(struct client *c) {
  size_t off = 0;
  while (off < c->outlen) {
    ssize_t n = send(c->fd, c->out + off, c->outlen - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) break;
    if (n < 0) return false;
    off += (size_t)n;
  }
  memmove(c->out, c->out + off, c->outlen - off);
  c->outlen -= off;
  relay_hook_mod(c->fd, &c->hook, EPOLLIN | (c->outlen ? EPOLLOUT : 0));
  return true;
}

static void list_one(void *arg, const char *owner, const char *spec) { put(arg, "%s %s\n", owner, spec); }

struct probe {
  const char *owner;
  bool found;
};

static void probe_one(void *arg, const char *owner, const char *spec) {
  (void)spec;
  struct probe *q = arg;
  if (!strcmp(q->owner, owner)) q->found = true;
}

static bool owns_any(const char *owner) {
  struct probe q = {owner, false};
  relay_each(probe_one, &q);
  return q.found;
}

static void command(struct client *c, char *line) {
  if (c->want > 0) { // one publish line of an add
    if (!c->failed && !relay_bind(c->owner, line, c->why, sizeof c->why)) {
      c->failed = true;
      relay_unbind(c->owner, c->mark);
    }
    if (--c->want == 0) c->failed ? put(c, "err %s\n", c->why) : put(c, "ok\n");
    return;
  }
  char owner[OWNER_MAX + 2], extra;
  long n;
  if (sscanf(line, "add %129s %ld %c", owner, &n, &extra) == 2 && !strncmp(line, "add ", 4)) {
    if (!valid_owner(owner) || n < 0 || n > 2 * 65536) return put(c, "err bad add: expected \"add OWNER COUNT\"\n");
    if (n == 0) return put(c, "ok\n");
    c->want = n;
    memcpy(c->owner, owner, strlen(owner) + 1); // valid_owner: at most OWNER_MAX
    c->mark = relay_newest();
    c->failed = owns_any(owner);
    if (c->failed) snprintf(c->why, sizeof c->why, "%s already has bound ports: del it first", owner);
  } else if (sscanf(line, "del %129s %c", owner, &extra) == 1 && !strncmp(line, "del ", 4)) {
    if (!valid_owner(owner)) return put(c, "err bad owner\n");
    put(c, "ok %d\n", relay_unbind(owner, NULL));
  } else if (!strcmp(line, "list")) {
    relay_each(list_one, c);
    put(c, ".\n");
  } else if (!strcmp(line, "quit-if-empty")) {
    if (relay_newest()) return put(c, "err busy\n");
    put(c, "ok\n");
    flush(c);
    unlink(relay_host_socket);
    _exit(0);
  } else {
    put(c, "err unknown request \"%.40s\"\n", line);
  }
}

static void on_client(struct relay_hook *h, uint32_t events) {
  struct client *c = (struct client *)h;
  if (events & EPOLLOUT && !flush(c)) return client_close(c);
  if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
  for (;;) {
    if (c->inlen == MAX_IN) return client_close(c); // a line longer than any request
    ssize_t n = recv(c->fd, c->in + c->inlen, MAX_IN - c->inlen, 0);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return client_close(c);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    c->inlen += (size_t)n;
    char *start = c->in, *nl;
    while ((nl = memchr(start, '\n', c->inlen - (size_t)(start - c->in)))) {
      *nl = '\0';
      command(c, start);
      start = nl + 1;
    }
    c->inlen -= (size_t)(start - c->in);
    memmove(c->in, start, c->inlen);
  }
  if (c->outlen && !flush(c)) client_close(c);
}

// Only root and this relay's own user may steer it (the socket is 0600 as well).
static bool peer_allowed(int fd) {
  struct ucred cred;
  socklen_t len = sizeof cred;
  return !getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) && (cred.uid == 0 || cred.uid == geteuid());
}

static void on_accept(struct relay_hook *h, uint32_t events) {
  (void)h;
  (void)events;
  for (;;) {
    int fd = accept4(listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;
    struct client *c = peer_allowed(fd) ? calloc(1, sizeof *c) : NULL;
    if (c) c->in = malloc(MAX_IN);
    if (!c || !c->in) {
      if (c) free(c);
      close(fd);
      continue;
    }
    c->fd = fd;
    c->hook.on_event = on_client;
    relay_hook_add(fd, &c->hook, EPOLLIN);
  }
}

const char *relay_host_socket;

bool relay_host_listen(const char *path, char *why, size_t whylen) {
  struct sockaddr_un sa = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof sa.sun_path) return snprintf(why, whylen, "--relay-host \"%s\": path too long", path), false;
  char lock[sizeof sa.sun_path + 8];
  snprintf(lock, sizeof lock, "%s.lock", path);
  int lfd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lfd < 0) return snprintf(why, whylen, "--relay-host lock \"%s\": %s", lock, strerror(errno)), false;
  // held for the relay's whole life (never closed): one relay per socket
  if (flock(lfd, LOCK_EX | LOCK_NB))
    return snprintf(why, whylen, "a host relay already runs on \"%s\"", path), close(lfd), false;
  memcpy(sa.sun_path, path, strlen(path) + 1);
  unlink(path); // left by a relay that died: the lock says none runs
  listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  mode_t old = umask(0177); // born 0600: no moment where others may connect
  int err = listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof sa) || listen(listen_fd, 64) ? errno : 0;
  umask(old);
  if (err) return snprintf(why, whylen, "--relay-host \"%s\": %s", path, strerror(err)), false;
  relay_host_socket = path;
  // every bound port is a descriptor, and every relayed connection two
  struct rlimit rl;
  if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
  listen_hook.on_event = on_accept;
  relay_hook_add(listen_fd, &listen_hook, EPOLLIN);
  return true;
}
