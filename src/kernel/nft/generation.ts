// The nftables ruleset generation of one network namespace: a counter the kernel bumps on every
// committed nft transaction (NFT_MSG_GETGEN over nfnetlink). Reading it costs one small netlink
// round trip whatever the ruleset holds, so a watcher can poll it and look at the ruleset only
// when it changed (listing berth's table costs time in proportion to its elements).
import koffi from 'koffi';
import { LibcError } from '../libc.js';
import { withNetns, type NetnsTarget } from '../netns.js';

const AF_NETLINK = 16;
const SOCK_RAW = 3;
const SOCK_CLOEXEC = 0o2000000;
const NETLINK_NETFILTER = 12;
const MSG_DONTWAIT = 0x40;

const NLM_F_REQUEST = 0x1;
const NLMSG_ERROR = 0x2;
const NLMSG_HDRLEN = 16;
const NFNL_SUBSYS_NFTABLES = 10;
const NFT_MSG_NEWGEN = 15;
const NFT_MSG_GETGEN = 16;
const NFTA_GEN_ID = 1;

const libc = koffi.load('libc.so.6');
const socketFn = libc.func('int socket(int domain, int type, int protocol)');
const sendFn = libc.func('long send(int fd, const void *buf, size_t len, int flags)');
const recvFn = libc.func('long recv(int fd, _Out_ void *buf, size_t len, int flags)');
const closeFn = libc.func('int close(int fd)');

/** The GETGEN request: nlmsghdr + nfgenmsg (family AF_UNSPEC, version 0, res_id 0). */
export function getGenRequest(seq: number): Buffer {
  const b = Buffer.alloc(NLMSG_HDRLEN + 4);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETGEN, 4);
  b.writeUInt16LE(NLM_F_REQUEST, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  return b;
}

/** The generation id in a NEWGEN answer; throws on a netlink error or a malformed answer. */
export function parseGenReply(b: Buffer): number {
  if (b.length < NLMSG_HDRLEN) throw new Error(`nft generation: short netlink answer (${b.length} bytes)`);
  const type = b.readUInt16LE(4);
  if (type === NLMSG_ERROR) throw new LibcError('NFT_MSG_GETGEN', -b.readInt32LE(NLMSG_HDRLEN));
  if (type !== ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWGEN)) throw new Error(`nft generation: unexpected netlink message type ${type}`);
  const end = Math.min(b.readUInt32LE(0), b.length);
  // attributes follow the 4-byte nfgenmsg; NFTA_GEN_ID is a big-endian u32
  for (let off = NLMSG_HDRLEN + 4; off + 4 <= end; ) {
    const len = b.readUInt16LE(off);
    if (len < 4) break;
    if ((b.readUInt16LE(off + 2) & 0x3fff) === NFTA_GEN_ID && len >= 8) return b.readUInt32BE(off + 4);
    off += (len + 3) & ~3;
  }
  throw new Error('nft generation: the answer has no NFTA_GEN_ID');
}

/** A netfilter netlink socket in one namespace, kept open to read the generation cheaply. */
export class NftGeneration {
  private seq = 0;
  private readonly buf = Buffer.alloc(256);
  private constructor(private fd: number) {}

  /** Open the socket inside netns (null: the namespace berth runs in). */
  static open(netns: NetnsTarget | null = null): NftGeneration {
    const fd = withNetns(netns, () => socketFn(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER) as number);
    if (fd < 0) throw new LibcError('socket(AF_NETLINK, NETLINK_NETFILTER)', koffi.errno());
    return new NftGeneration(fd);
  }

  /** The current ruleset generation. The kernel answers within send(), so recv never waits. */
  read(): number {
    if (this.fd < 0) throw new Error('nft generation: socket closed');
    const req = getGenRequest(++this.seq);
    if ((sendFn(this.fd, req, req.length, 0) as number) < 0) throw new LibcError('send NFT_MSG_GETGEN', koffi.errno());
    // an answer to an earlier request that timed out may still be queued: skip to ours
    for (;;) {
      const n = Number(recvFn(this.fd, this.buf, this.buf.length, MSG_DONTWAIT));
      if (n < 0) throw new LibcError('recv NFT_MSG_GETGEN', koffi.errno());
      if (n >= NLMSG_HDRLEN && this.buf.readUInt32LE(8) !== this.seq) continue;
      return parseGenReply(this.buf.subarray(0, n));
    }
  }

  close(): void {
    if (this.fd >= 0) closeFn(this.fd);
    this.fd = -1;
  }
}
