// The nftables ruleset generation of one network namespace: a counter the kernel bumps on every
// committed nft transaction (NFT_MSG_GETGEN over nfnetlink). Reading it costs one small netlink
// round trip whatever the ruleset holds, so a watcher can poll it and look at the ruleset only
// when it changed (listing berth's table costs time in proportion to its elements).
import { LibcError } from '../libc.js';
import type { NetnsTarget } from '../netns.js';
import { NFNL_SUBSYS_NFTABLES, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_REQUEST, closeNfnetlink, openNfnetlink, receiveNow, sendRequest } from './nfnetlink.js';


const NFT_MSG_NEWGEN = 15;
const NFT_MSG_GETGEN = 16;
const NFTA_GEN_ID = 1;


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
    return new NftGeneration(openNfnetlink(netns));
  }

  /** The current ruleset generation. The kernel answers within send(), so recv never waits. */
  read(): number {
    if (this.fd < 0) throw new Error('nft generation: socket closed');
    const req = getGenRequest(++this.seq);
    sendRequest(this.fd, req, 'NFT_MSG_GETGEN');
    // an answer to an earlier request that timed out may still be queued: skip to ours
    for (;;) {
      const { n, errno } = receiveNow(this.fd, this.buf);
      if (n < 0) throw new LibcError('recv NFT_MSG_GETGEN', errno);
      if (n >= NLMSG_HDRLEN && this.buf.readUInt32LE(8) !== this.seq) continue;
      return parseGenReply(this.buf.subarray(0, n));
    }
  }

  close(): void {
    if (this.fd >= 0) closeNfnetlink(this.fd);
    this.fd = -1;
  }
}
