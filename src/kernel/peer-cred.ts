// Who is at the other end of a unix socket, in the kernel's words (SO_PEERCRED: the pid, uid and
// gid of the process that connected), which Node does not expose. A body's own claim of its pid
// is only a claim; this is what the daemon uses to see paths as the caller sees them.
import koffi from 'koffi';

const libc = koffi.load('libc.so.6');
const SOL_SOCKET = 1;
const SO_PEERCRED = 17;
const getsockoptFn = libc.func('int getsockopt(int fd, int level, int optname, _Out_ void *optval, _Inout_ uint32_t *optlen)');

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

/** The peer of a connected unix socket, or undefined (not a unix socket: TCP, a closed descriptor). */
export function peerCredentials(fd: number): PeerCredentials | undefined {
  const ucred = Buffer.alloc(12);
  const len = [ucred.length];
  if ((getsockoptFn(fd, SOL_SOCKET, SO_PEERCRED, ucred, len) as number) !== 0 || len[0] !== 12) return undefined;
  const pid = ucred.readInt32LE(0);
  return pid > 0 ? { pid, uid: ucred.readUInt32LE(4), gid: ucred.readUInt32LE(8) } : undefined;
}
