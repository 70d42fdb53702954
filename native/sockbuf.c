/*
 * berth-sockbuf PID BYTES: set SO_RCVBUFFORCE and SO_SNDBUFFORCE to BYTES on every UDP socket
 * (IPv4 and IPv6) of process PID, and print how many sockets it set.
 *
 * Why: wireguard-go before 2023 (Debian 12's 0.0.20220316) leaves its UDP sockets at the
 * default 208 KiB receive buffer, which overflows at a few hundred Mbit/s (RcvbufErrors, TCP
 * retransmits inside the tunnel). Newer wireguard-go sets 7 MiB itself with SO_RCVBUFFORCE.
 * The buffer belongs to the socket, not to the descriptor: a copy obtained with pidfd_getfd
 * (Linux 5.6, needs ptrace rights over PID: root) sets it for the process's own descriptor.
 * No global sysctl (net.core.rmem_max) is changed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

static long parse_number(const char *s, long min, long max) {
  char *end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || end == s || *end != '\0' || v < min || v > max) return -1;
  return v;
}

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: berth-sockbuf PID BYTES\n");
    return 2;
  }
  long pid = parse_number(argv[1], 1, 0x3fffffff);
  long bytes = parse_number(argv[2], 1, 1L << 30);
  if (pid < 0 || bytes < 0) {
    fprintf(stderr, "berth-sockbuf: invalid %s \"%s\": expected a whole number from 1 to %ld\n", pid < 0 ? "PID" : "BYTES",
            pid < 0 ? argv[1] : argv[2], pid < 0 ? 0x3fffffffL : 1L << 30);
    return 2;
  }
  int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
  if (pidfd < 0) {
    fprintf(stderr, "berth-sockbuf: pidfd_open(%ld): %s\n", pid, strerror(errno));
    return 1;
  }
  char path[64];
  snprintf(path, sizeof path, "/proc/%ld/fd", pid);
  DIR *dir = opendir(path);
  if (!dir) {
    fprintf(stderr, "berth-sockbuf: %s: %s\n", path, strerror(errno));
    return 1;
  }
  int set = 0, failed = 0;
  int value = (int)bytes;
  struct dirent *e;
  while ((e = readdir(dir)) != NULL) {
    long target = parse_number(e->d_name, 0, 0x7fffffff);
    if (target < 0) continue; /* "." and ".." */
    char dest[64];
    ssize_t n = readlinkat(dirfd(dir), e->d_name, dest, sizeof dest - 1);
    if (n < 0) continue; /* closed meanwhile */
    dest[n] = '\0';
    if (strncmp(dest, "socket:", 7) != 0) continue;
    int fd = (int)syscall(SYS_pidfd_getfd, pidfd, (int)target, 0);
    if (fd < 0) {
      if (errno == EBADF) continue; /* closed meanwhile */
      fprintf(stderr, "berth-sockbuf: pidfd_getfd(%ld, %s): %s\n", pid, e->d_name, strerror(errno));
      failed++;
      continue;
    }
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    int udp = getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) == 0 && type == SOCK_DGRAM;
    len = sizeof domain;
    udp = udp && getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) == 0 && (domain == AF_INET || domain == AF_INET6);
    if (udp) {
      if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &value, sizeof value) != 0 ||
          setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &value, sizeof value) != 0) {
        fprintf(stderr, "berth-sockbuf: setsockopt on fd %s of %ld: %s\n", e->d_name, pid, strerror(errno));
        failed++;
      } else {
        set++;
      }
    }
    close(fd);
  }
  closedir(dir);
  close(pidfd);
  printf("%d\n", set);
  return failed ? 1 : 0;
}
