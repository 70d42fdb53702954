// A raw NETLINK_NETFILTER socket in a network namespace, for the few nftables requests berth sends
// itself (the ruleset generation, a chain's rule comments) where libnftables would list too much.
import koffi from 'koffi';
import { LibcError } from '../libc.js';
import { withNetns, type NetnsTarget } from '../netns.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;
const MSG_DONTWAIT = 0x40;

export const NLM_F_REQUEST = 0x1;
export const NLMSG_ERROR = 0x2;
export const NLMSG_HDRLEN = 16;
export const NFNL_SUBSYS_NFTABLES = 10;

const libc = koffi.load('libc.so.6');
const socketFn = libc.func('int socket(int domain, int type, int protocol)');
const sendFn = libc.func('long send(int fd, const void *buf, size_t len, int flags)');
const recvFn = libc.func('long recv(int fd, _Out_ void *buf, size_t len, int flags)');
const closeFn = libc.func('int close(int fd)');

/** A NETLINK_NETFILTER socket opened in netns (the socket keeps its namespace). */
export function openNfnetlink(netns: NetnsTarget | null): number {
  const fd = withNetns(netns, () => socketFn(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER) as number);
  if (fd < 0) throw new LibcError('socket(AF_NETLINK, NETLINK_NETFILTER)', koffi.errno());
  return fd;
}

export function sendRequest(fd: number, req: Buffer, what: string): void {
  if ((sendFn(fd, req, req.length, 0) as number) < 0) throw new LibcError(`send ${what}`, koffi.errno());
}

/** One datagram without waiting; the byte count, or -1 with errno (the caller decides what a wait means). */
export function receiveNow(fd: number, buf: Buffer): { n: number; errno: number } {
  const n = Number(recvFn(fd, buf, buf.length, MSG_DONTWAIT));
  return { n, errno: n < 0 ? koffi.errno() : 0 };
}

export function closeNfnetlink(fd: number): void {
  closeFn(fd);
}
