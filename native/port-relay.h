// The host-side half of a published port (native/port-relay.c): listening sockets in the host's
// network namespace that relay the host's own connections (127.0.0.1, ::1) to the container.
#ifndef BERTH_PORT_RELAY_H
#define BERTH_PORT_RELAY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// Read the publish file and bind every port in it (close-on-exec sockets). On failure nothing
// stays bound and why says what failed (which port, which error).
bool relay_open(const char *path, char *why, size_t whylen);
// Number of ports relay_open bound.
int relay_count(void);
// Fork the relay process (it dies with the caller: PR_SET_PDEATHSIG) and close the caller's
// copies of the sockets. Returns its PID, or -1 with errno set.
pid_t relay_fork(void);
// Give this process the open-files limit it had before relay_open raised it (the container).
void relay_restore_limit(void);
// The host relay (native/relay-host.c): listeners bound and unbound while the loop runs, each
// owned by a name (a CNI endpoint's id) and remembered with its publish line.
// Bind one publish line's port for owner; on failure nothing is bound and why names the port.
bool relay_bind(const char *owner, const char *line, char *why, size_t whylen);
// The newest listener bound so far (a mark for relay_unbind), or NULL.
const void *relay_newest(void);
// Unbind owner's listeners bound after the mark `after` (NULL: all of them); returns how many.
int relay_unbind(const char *owner, const void *after);
// Call fn for every bound listener: its owner and publish line.
void relay_each(void (*fn)(void *arg, const char *owner, const char *spec), void *arg);

// Another descriptor in the loop (the control socket): the loop calls on_event with epoll's events.
#define RELAY_K_HOOK 3
struct relay_hook {
  int kind; // set by relay_hook_add: first member, as the relay's own epoll records
  void (*on_event)(struct relay_hook *h, uint32_t events);
};
void relay_hook_add(int fd, struct relay_hook *h, uint32_t events);
void relay_hook_mod(int fd, struct relay_hook *h, uint32_t events);
// A hook freed memory the current round's other events may name (a closed client): skip them.
void relay_round_stale(void);

// Run the relay in this process until it is killed.
_Noreturn void relay_loop(void);

#endif
