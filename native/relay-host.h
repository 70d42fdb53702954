// The host relay's control socket (native/relay-host.c), run in the port relay's loop.
#ifndef BERTH_RELAY_HOST_H
#define BERTH_RELAY_HOST_H
#include <stdbool.h>
#include <stddef.h>

// Take the lock beside path (one relay per socket), listen on path (0600) and serve requests
// from the relay loop. On failure why says why ("already runs" when another relay holds it).
bool relay_host_listen(const char *path, char *why, size_t whylen);
// The socket's path, once listening (removed again when the relay quits).
extern const char *relay_host_socket;

#endif
