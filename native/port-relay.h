// The host-side half of a published port (native/port-relay.c): listening sockets in the host's
// network namespace that relay the host's own connections (127.0.0.1, ::1) to the container.
#ifndef BERTH_PORT_RELAY_H
#define BERTH_PORT_RELAY_H
#include <stdbool.h>
#include <stddef.h>
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
// Run the relay in this process until it is killed.
_Noreturn void relay_loop(void);

#endif
