// berth's port relay: what makes a published port answer the host's own loopback.
//
// External traffic to a published port is DNATed in berth's nft table. The host's own
// connections to 127.0.0.1:PORT (or ::1) are not: rewriting a loopback destination to a
// container needs route_localnet=1 on the bridge, which turns a flushed table into an opening
// (issue 11). Instead, like Docker's docker-proxy, the port is bound in the host's namespace and
// connections are relayed: TCP with half-close, UDP with 90 s sessions. Binding also makes the
// port really taken: a host service that binds it later gets EADDRINUSE instead of silently
// losing its loopback traffic to the container.
//
// The publish file has one port a line: "PROTO LISTEN_ADDR LISTEN_PORT TARGET_ADDR TARGET_PORT"
// (proto tcp or udp, addresses numeric IPv4 or IPv6).
#define _GNU_SOURCE
#include "port-relay.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define UDP_IDLE_SECONDS 90
#define BUF_SIZE 65536

enum kind { K_LISTEN, K_TCP, K_UDP, K_HOOK = RELAY_K_HOOK };

struct listener {
  enum kind kind; // K_LISTEN: first member, so an epoll pointer tells what it points to
  int fd, proto;  // fd -1: unpublished since (SIGHUP, relay_unbind)
  struct sockaddr_storage local, target;
  socklen_t llen, tlen;
  // bound by relay_bind (the host relay): whose it is, its publish line, the next one
  char *owner, *spec;
  struct listener *next;
};

struct conn;
struct end {
  enum kind kind; // K_TCP
  struct conn *c;
  int i; // 0: the host's client, 1: the container
};
struct conn {
  struct end e[2];
  int fd[2];
  bool connecting;        // the container side's connect is in progress
  bool eof[2];            // nothing more to read from side i
  bool shut[2];           // side i's peer got our FIN (what i sent is all passed on)
  bool parked[2];         // side i hung up with data still to pass on: out of epoll until it drains
  size_t len[2], off[2];  // buffered bytes read from side i, waiting to go to the other side
  char *buf[2];
  struct conn *next_dead;
};

struct session {
  enum kind kind; // K_UDP
  struct listener *l;
  int fd; // connected to the target
  struct sockaddr_storage peer;
  socklen_t plen;
  time_t last;
  struct session *next;
};

static struct listener *listeners;
static int nlisteners;
static const char *publish_path;
static volatile sig_atomic_t reload_wanted;
static int ep = -1;
static struct session *sessions;
static struct conn *dead;
static struct listener *owned, *dead_owned; // relay_bind's listeners; unbound ones, freed after the round
static bool round_stale; // listeners or sessions were freed: this round's other events may name them

int relay_count(void) { return nlisteners; }

static void close_all(void) {
  for (int i = 0; i < nlisteners; i++)
    if (listeners[i].fd >= 0) close(listeners[i].fd);
  nlisteners = 0;
}

static bool parse_addr(const char *text, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (port < 1 || port > 65535) return false;
  struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
  struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
  if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
    a4->sin_family = AF_INET;
    a4->sin_port = htons((uint16_t)port);
    *len = sizeof *a4;
    return true;
  }
  if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
    a6->sin6_family = AF_INET6;
    a6->sin6_port = htons((uint16_t)port);
    *len = sizeof *a6;
    return true;
  }
  return false;
}

static struct rlimit caller_nofile; // the limit before want_fds raised it
static bool nofile_raised;

// Room for this many more descriptors: raise the soft limit to the hard one if needed.
static void want_fds(long n) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl)) return;
  if (!nofile_raised) caller_nofile = rl;
  rlim_t need = (rlim_t)n + 256;
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need ? need : rl.rlim_max;
    if (!setrlimit(RLIMIT_NOFILE, &rl)) nofile_raised = true;
  }
}

void relay_restore_limit(void) {
  if (nofile_raised) setrlimit(RLIMIT_NOFILE, &caller_nofile);
}

// Bind (and listen on) one publish line's port. On failure nothing is open and why says why.
static bool open_listener(struct listener *l, const char *line, char *why, size_t whylen) {
  char proto[8], laddr[64], taddr[64];
  int lport, tport;
  if (sscanf(line, "%7s %63s %d %63s %d", proto, laddr, &lport, taddr, &tport) != 5 || (strcmp(proto, "tcp") && strcmp(proto, "udp")))
    return snprintf(why, whylen, "expected \"tcp|udp LISTEN_ADDR PORT TARGET_ADDR PORT\""), false;
  *l = (struct listener){.kind = K_LISTEN, .proto = proto[0] == 't' ? SOCK_STREAM : SOCK_DGRAM};
  if (!parse_addr(laddr, lport, &l->local, &l->llen) || !parse_addr(taddr, tport, &l->target, &l->tlen))
    return snprintf(why, whylen, "bad address or port"), false;
  l->fd = socket(l->local.ss_family, l->proto | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->fd < 0) return snprintf(why, whylen, "socket for %s:%d/%s: %s", laddr, lport, proto, strerror(errno)), false;
  int one = 1;
  // TCP only: SO_REUSEADDR on UDP would let a second binder share the port.
  if (l->proto == SOCK_STREAM) setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (l->local.ss_family == AF_INET6) setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(l->fd, (struct sockaddr *)&l->local, l->llen) || (l->proto == SOCK_STREAM && listen(l->fd, 512))) {
    int err = errno;
    close(l->fd);
    l->fd = -1;
    return snprintf(why, whylen, "cannot publish %s%s%s:%d/%s: %s%s", strchr(laddr, ':') ? "[" : "", laddr, strchr(laddr, ':') ? "]" : "",
                    lport, proto, strerror(err), err == EADDRINUSE ? " (a host process holds the port)" : ""), false;
  }
  return true;
}

bool relay_open(const char *path, char *why, size_t whylen) {
  publish_path = path;
  FILE *f = fopen(path, "re");
  if (!f) return snprintf(why, whylen, "--publish-file \"%s\": %s", path, strerror(errno)), false;
  char line[256];
  int cap = 0, lineno = 0;
  while (fgets(line, sizeof line, f)) {
    lineno++;
    if (line[0] == '\n' || line[0] == '#') continue;
    if (nlisteners == cap) {
      cap = cap ? cap * 2 : 16;
      struct listener *grown = realloc(listeners, (size_t)cap * sizeof *listeners);
      if (!grown) { snprintf(why, whylen, "out of memory"); goto fail; }
      listeners = grown;
      want_fds(cap);
    }
    char bad[300];
    if (!open_listener(&listeners[nlisteners], line, bad, sizeof bad)) {
      if (strncmp(bad, "cannot publish", 14) && strncmp(bad, "socket for", 10)) snprintf(why, whylen, "--publish-file \"%s\" line %d: %s", path, lineno, bad);
      else snprintf(why, whylen, "%s", bad);
      goto fail;
    }
    nlisteners++;
  }
  fclose(f);
  return true;
fail:
  fclose(f);
  close_all();
  return false;
}

pid_t relay_fork(void) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return -1;
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(0); // the shim died before prctl
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    relay_loop();
  }
  close_all();
  return pid;
}

static void watch(int fd, void *ptr, uint32_t events, int op) {
  struct epoll_event ev = {.events = events, .data.ptr = ptr};
  if (epoll_ctl(ep, op, fd, &ev) && op == EPOLL_CTL_MOD) epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void conn_kill(struct conn *c) {
  if (c->fd[0] < 0) return;
  close(c->fd[0]);
  close(c->fd[1]);
  c->fd[0] = c->fd[1] = -1;
  c->next_dead = dead; // freed after this round of events: another event may still name it
  dead = c;
}

// What each side waits for now: readable while its buffer is empty, writable while the other
// side's data waits for it.
static void conn_rearm(struct conn *c) {
  for (int i = 0; i < 2; i++) {
    // a hung-up socket is always "ready" (EPOLLHUP cannot be masked): watch it again only when
    // its buffered data has gone to the other side
    if (c->parked[i]) {
      if (c->len[i] > 0) continue;
      c->parked[i] = false;
    }
    uint32_t ev = 0;
    // nothing is read until the container side is connected (level-triggered: it would spin)
    if (!c->connecting && !c->eof[i] && c->len[i] == 0) ev |= EPOLLIN;
    if (c->len[1 - i] > 0 || (i == 1 && c->connecting)) ev |= EPOLLOUT;
    watch(c->fd[i], &c->e[i], ev, EPOLL_CTL_MOD);
  }
}

// Move what can move in direction from -> to, without blocking.
static bool pump(struct conn *c, int from) {
  int to = 1 - from;
  for (;;) {
    if (c->len[from] == 0 && !c->eof[from]) {
      ssize_t n = recv(c->fd[from], c->buf[from], BUF_SIZE, 0);
      if (n > 0) { c->len[from] = (size_t)n; c->off[from] = 0; }
      else if (n == 0) c->eof[from] = true;
      else if (errno == EAGAIN || errno == EINTR) break;
      else return false;
    }
    if (c->len[from] > 0) {
      ssize_t n = send(c->fd[to], c->buf[from] + c->off[from], c->len[from], MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN || errno == EINTR) break;
        return false;
      }
      c->off[from] += (size_t)n;
      c->len[from] -= (size_t)n;
      continue;
    }
    break;
  }
  // half-close: pass the FIN on once everything before it is passed on
  if (c->eof[from] && c->len[from] == 0 && !c->shut[from]) {
    shutdown(c->fd[to], SHUT_WR);
    c->shut[from] = true;
  }
  return true;
}

static void conn_event(struct end *e, uint32_t events) {
  struct conn *c = e->c;
  if (c->fd[0] < 0) return;
  if (c->connecting && e->i == 1) {
    int err = 0;
    socklen_t len = sizeof err;
    if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
    if (getsockopt(c->fd[1], SOL_SOCKET, SO_ERROR, &err, &len) || err) return conn_kill(c);
    c->connecting = false;
  }
  if (events & EPOLLERR) return conn_kill(c); // reset: nothing more goes either way
  if (c->connecting) return (events & EPOLLHUP) ? conn_kill(c) : conn_rearm(c); // HUP: the client gave up
  if (!pump(c, 0) || !pump(c, 1)) return conn_kill(c);
  if (c->shut[0] && c->shut[1]) return conn_kill(c);
  // hung up: side i can take nothing more (its reads are passed on above)
  if ((events & EPOLLHUP) && c->eof[e->i]) return conn_kill(c);
  if ((events & EPOLLHUP) && c->len[e->i] > 0) {
    c->parked[e->i] = true;
    epoll_ctl(ep, EPOLL_CTL_DEL, c->fd[e->i], NULL);
  }
  conn_rearm(c);
}

static void tcp_accept(struct listener *l) {
  for (;;) {
    int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return; // EAGAIN, or out of descriptors: the client waits in the backlog
    int up = socket(l->target.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct conn *c = up < 0 ? NULL : calloc(1, sizeof *c);
    char *bufs = c ? malloc(2 * BUF_SIZE) : NULL;
    if (!bufs || (connect(up, (struct sockaddr *)&l->target, l->tlen) && errno != EINPROGRESS)) {
      close(fd);
      if (up >= 0) close(up);
      free(c);
      free(bufs);
      continue;
    }
    c->fd[0] = fd;
    c->fd[1] = up;
    c->buf[0] = bufs;
    c->buf[1] = bufs + BUF_SIZE;
    c->connecting = true;
    for (int i = 0; i < 2; i++) c->e[i] = (struct end){.kind = K_TCP, .c = c, .i = i};
    watch(fd, &c->e[0], 0, EPOLL_CTL_ADD);
    watch(up, &c->e[1], EPOLLOUT, EPOLL_CTL_ADD);
  }
}

static bool same_peer(const struct session *s, const struct sockaddr_storage *p, socklen_t len) {
  return s->plen == len && !memcmp(&s->peer, p, len);
}

static void udp_from_client(struct listener *l) {
  static char buf[BUF_SIZE];
  for (;;) {
    struct sockaddr_storage peer;
    socklen_t plen = sizeof peer;
    ssize_t n = recvfrom(l->fd, buf, sizeof buf, 0, (struct sockaddr *)&peer, &plen);
    if (n < 0) return;
    struct session *s = sessions;
    while (s && !(s->l == l && same_peer(s, &peer, plen))) s = s->next;
    if (!s) {
      int fd = socket(l->target.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) continue;
      if (connect(fd, (struct sockaddr *)&l->target, l->tlen) || !(s = calloc(1, sizeof *s))) {
        close(fd);
        continue;
      }
      *s = (struct session){.kind = K_UDP, .l = l, .fd = fd, .peer = peer, .plen = plen, .next = sessions};
      sessions = s;
      watch(fd, s, EPOLLIN, EPOLL_CTL_ADD);
    }
    s->last = time(NULL);
    send(s->fd, buf, (size_t)n, MSG_NOSIGNAL);
  }
}

static void udp_from_container(struct session *s) {
  static char buf[BUF_SIZE];
  for (;;) {
    ssize_t n = recv(s->fd, buf, sizeof buf, 0);
    if (n < 0) return;
    s->last = time(NULL);
    sendto(s->l->fd, buf, (size_t)n, MSG_NOSIGNAL, (struct sockaddr *)&s->peer, s->plen);
  }
}

static void udp_expire(void) {
  time_t now = time(NULL);
  for (struct session **p = &sessions; *p;) {
    struct session *s = *p;
    if (now - s->last < UDP_IDLE_SECONDS) { p = &s->next; continue; }
    *p = s->next;
    close(s->fd);
    free(s);
  }
}

// SIGHUP: berth rewrote the publish file without some ports (a network disconnect released
// them): stop listening on those, and end their UDP sessions. Ports are never added this way.
static void on_sighup(int sig) {
  (void)sig;
  reload_wanted = 1;
}

static bool still_published(const struct listener *l, FILE *f) {
  char line[256], proto[8], laddr[64], taddr[64];
  int lport, tport;
  rewind(f);
  while (fgets(line, sizeof line, f)) {
    struct sockaddr_storage a;
    socklen_t len;
    if (sscanf(line, "%7s %63s %d %63s %d", proto, laddr, &lport, taddr, &tport) != 5) continue;
    if ((proto[0] == 't' ? SOCK_STREAM : SOCK_DGRAM) != l->proto || !parse_addr(laddr, lport, &a, &len)) continue;
    if (len == l->llen && !memcmp(&a, &l->local, len)) return true;
  }
  return false;
}

// Close a listener and end its UDP sessions (its TCP connections go on until they end).
static void drop_listener(struct listener *l) {
  if (l->fd >= 0) close(l->fd);
  l->fd = -1;
  for (struct session **p = &sessions; *p;) {
    struct session *s = *p;
    if (s->l != l) { p = &s->next; continue; }
    *p = s->next;
    close(s->fd);
    free(s);
  }
  round_stale = true;
}

static void reload(void) {
  reload_wanted = 0;
  FILE *f = publish_path ? fopen(publish_path, "re") : NULL;
  if (!f) return; // unreadable: keep what we have rather than guess
  for (int i = 0; i < nlisteners; i++) {
    struct listener *l = &listeners[i];
    if (l->fd < 0 || still_published(l, f)) continue;
    drop_listener(l);
  }
  fclose(f);
}

static bool ensure_epoll(void) {
  if (ep < 0) ep = epoll_create1(EPOLL_CLOEXEC);
  return ep >= 0;
}

void relay_hook_add(int fd, struct relay_hook *h, uint32_t events) {
  h->kind = RELAY_K_HOOK;
  if (ensure_epoll()) watch(fd, h, events, EPOLL_CTL_MOD);
}

void relay_hook_mod(int fd, struct relay_hook *h, uint32_t events) { watch(fd, h, events, EPOLL_CTL_MOD); }

void relay_round_stale(void) { round_stale = true; }

bool relay_bind(const char *owner, const char *line, char *why, size_t whylen) {
  struct listener *l = malloc(sizeof *l);
  if (!l || !ensure_epoll()) return free(l), snprintf(why, whylen, "out of memory"), false;
  if (!open_listener(l, line, why, whylen)) return free(l), false;
  l->owner = strdup(owner);
  l->spec = strndup(line, strcspn(line, "\n"));
  if (!l->owner || !l->spec) {
    close(l->fd);
    free(l->owner);
    free(l->spec);
    free(l);
    return snprintf(why, whylen, "out of memory"), false;
  }
  l->next = owned;
  owned = l;
  watch(l->fd, l, EPOLLIN, EPOLL_CTL_ADD);
  return true;
}


int relay_unbind(const char *owner, const void *after) {
  int n = 0;
  for (struct listener **p = &owned; *p;) {
    struct listener *l = *p;
    if ((const void *)l == after) break; // bound before `after`'s time: older, kept (an undone add)
    if (strcmp(l->owner, owner)) { p = &l->next; continue; }
    *p = l->next;
    drop_listener(l);
    l->next = dead_owned;
    dead_owned = l;
    n++;
  }
  return n;
}

const void *relay_newest(void) { return owned; }

void relay_each(void (*fn)(void *arg, const char *owner, const char *spec), void *arg) {
  for (struct listener *l = owned; l; l = l->next) fn(arg, l->owner, l->spec);
}

_Noreturn void relay_loop(void) {
  signal(SIGPIPE, SIG_IGN);
  // SIGHUP is taken only inside epoll_pwait (EINTR), so none is lost between a check and the wait
  struct sigaction hup = {.sa_handler = on_sighup};
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, NULL);
  sigset_t blocked, waiting;
  sigemptyset(&blocked);
  sigaddset(&blocked, SIGHUP);
  sigprocmask(SIG_BLOCK, &blocked, &waiting);
  sigdelset(&waiting, SIGHUP);
  if (!ensure_epoll()) {
    dprintf(STDERR_FILENO, "berth-init: relay: epoll: %s\n", strerror(errno));
    _exit(125);
  }
  for (int i = 0; i < nlisteners; i++) watch(listeners[i].fd, &listeners[i], EPOLLIN, EPOLL_CTL_ADD);
  struct epoll_event evs[64];
  time_t swept = time(NULL);
  for (;;) {
    int n = epoll_pwait(ep, evs, 64, sessions ? 5000 : -1, &waiting);
    if (reload_wanted) {
      reload();
      continue; // the events may name closed listeners or freed sessions
    }
    round_stale = false;
    // level-triggered: an event skipped once the round is stale comes again on the next wait
    for (int i = 0; i < n && !round_stale; i++) {
      enum kind k = *(enum kind *)evs[i].data.ptr;
      if (k == K_LISTEN) {
        struct listener *l = evs[i].data.ptr;
        if (l->fd < 0) continue;
        if (l->proto == SOCK_STREAM) tcp_accept(l);
        else udp_from_client(l);
      } else if (k == K_TCP) conn_event(evs[i].data.ptr, evs[i].events);
      else if (k == K_HOOK) {
        struct relay_hook *h = evs[i].data.ptr;
        h->on_event(h, evs[i].events);
      } else udp_from_container(evs[i].data.ptr);
    }
    while (dead_owned) {
      struct listener *l = dead_owned;
      dead_owned = l->next;
      free(l->owner);
      free(l->spec);
      free(l);
    }
    while (dead) {
      struct conn *c = dead;
      dead = c->next_dead;
      free(c->buf[0]);
      free(c);
    }
    if (sessions && time(NULL) - swept >= 5) {
      udp_expire();
      swept = time(NULL);
    }
  }
}
