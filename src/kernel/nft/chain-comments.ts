// The rule comments of one nft chain, read over nfnetlink (NFT_MSG_GETCHAIN, then a
// NFT_MSG_GETRULE dump filtered by table and chain). nft's own `list chain` fills its cache with
// every set and map of the table first: with berth's table holding one map element per published
// port that cost grew with the containers (8 ms at 10 elements, ~100 ms at 3000), and it ran on
// every command and every ruleset change (issue 16). This costs the chain's rules, nothing more.
import { LibcError } from '../libc.js';
import { nlaString, parseNla, nlaToString } from '../nla.js';
import type { NetnsTarget } from '../netns.js';
import { NFNL_SUBSYS_NFTABLES, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_REQUEST, closeNfnetlink, openNfnetlink, receiveNow, sendRequest } from './nfnetlink.js';
import type { TableRef } from './model.js';

const EAGAIN = 11;
const ENOENT = 2;

const NLM_F_ACK = 0x4;
const NLM_F_DUMP = 0x300;
const NLMSG_DONE = 0x3;
const NFGENMSG_LEN = 4;
const NFT_MSG_NEWRULE = 6;
const NFT_MSG_GETRULE = 7;
const NFT_MSG_NEWCHAIN = 3;
const NFT_MSG_GETCHAIN = 4;
const NFTA_CHAIN_TABLE = 1;
const NFTA_CHAIN_NAME = 3;
const NFTA_RULE_TABLE = 1;
const NFTA_RULE_CHAIN = 2;
const NFTA_RULE_USERDATA = 7;
/** libnftnl's NFTNL_UDATA_RULE_COMMENT: the comment, a NUL-terminated string, in the rule's user data */
const UDATA_RULE_COMMENT = 0;

const FAMILIES: Record<string, number> = { ip: 2, ip6: 10, inet: 1, arp: 3, bridge: 7, netdev: 5 };


function message(type: number, flags: number, family: number, seq: number, attrs: Buffer[]): Buffer {
  const body = Buffer.concat(attrs);
  const b = Buffer.alloc(NLMSG_HDRLEN + NFGENMSG_LEN + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE((NFNL_SUBSYS_NFTABLES << 8) | type, 4);
  b.writeUInt16LE(flags, 6);
  b.writeUInt32LE(seq >>> 0, 8);
  b.writeUInt8(family, NLMSG_HDRLEN); // nfgenmsg: family, version 0, res_id 0
  body.copy(b, NLMSG_HDRLEN + NFGENMSG_LEN);
  return b;
}

function familyOf(ref: TableRef): number {
  const f = FAMILIES[ref.family];
  if (f === undefined) throw new Error(`nft: unknown table family ${ref.family}`);
  return f;
}

/** GETCHAIN of one chain (answered with the chain or ENOENT). */
export function getChainRequest(ref: TableRef, chain: string, seq: number): Buffer {
  return message(NFT_MSG_GETCHAIN, NLM_F_REQUEST | NLM_F_ACK, familyOf(ref), seq, [nlaString(NFTA_CHAIN_TABLE, ref.name), nlaString(NFTA_CHAIN_NAME, chain)]);
}

/** A GETRULE dump of one chain's rules. */
export function getRulesRequest(ref: TableRef, chain: string, seq: number): Buffer {
  return message(NFT_MSG_GETRULE, NLM_F_REQUEST | NLM_F_DUMP, familyOf(ref), seq, [nlaString(NFTA_RULE_TABLE, ref.name), nlaString(NFTA_RULE_CHAIN, chain)]);
}

/** The comment in a rule's user data (TLVs of u8 type, u8 length, value), if any. */
export function ruleComment(udata: Buffer): string | undefined {
  for (let off = 0; off + 2 <= udata.length; ) {
    const type = udata.readUInt8(off);
    const len = udata.readUInt8(off + 1);
    if (off + 2 + len > udata.length) break;
    if (type === UDATA_RULE_COMMENT) return nlaToString(udata.subarray(off + 2, off + 2 + len));
    off += 2 + len;
  }
  return undefined;
}

export type Answer = { kind: 'rule'; comment: string | undefined; table: string; chain: string } | { kind: 'chain' } | { kind: 'done' } | { kind: 'error'; errno: number };

/** The netlink messages in one datagram. */
export function parseAnswers(b: Buffer): { seq: number; answer: Answer }[] {
  const out: { seq: number; answer: Answer }[] = [];
  for (let off = 0; off + NLMSG_HDRLEN <= b.length; ) {
    const len = b.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > b.length) throw new Error(`nft: malformed netlink answer (length ${len} at ${off} of ${b.length})`);
    const type = b.readUInt16LE(off + 4);
    const seq = b.readUInt32LE(off + 8);
    if (type === NLMSG_ERROR) {
      out.push({ seq, answer: { kind: 'error', errno: -b.readInt32LE(off + NLMSG_HDRLEN) } });
    } else if (type === NLMSG_DONE) {
      out.push({ seq, answer: { kind: 'done' } });
    } else if (type === ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN)) {
      out.push({ seq, answer: { kind: 'chain' } });
    } else if (type === ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE)) {
      const attrs = parseNla(b.subarray(off + NLMSG_HDRLEN + NFGENMSG_LEN, off + len));
      const udata = attrs.get(NFTA_RULE_USERDATA);
      out.push({
        seq,
        answer: {
          kind: 'rule',
          comment: udata ? ruleComment(udata) : undefined,
          table: nlaToString(attrs.get(NFTA_RULE_TABLE) ?? Buffer.alloc(0)),
          chain: nlaToString(attrs.get(NFTA_RULE_CHAIN) ?? Buffer.alloc(0)),
        },
      });
    }
    off += (len + 3) & ~3;
  }
  return out;
}

let seqCounter = 0;

/**
 * The comments of the rules of one chain, in order, or undefined if its table or chain is missing.
 * Throws a LibcError when the kernel cannot answer (the caller may fall back to nft's listing).
 */
export function readChainComments(ref: TableRef, chain: string, netns: NetnsTarget | null): (string | undefined)[] | undefined {
  const fd = openNfnetlink(netns);
  const buf = Buffer.alloc(64 * 1024);
  const ask = (req: Buffer, what: string): void => sendRequest(fd, req, what);
  // The kernel answers within send() and fills each next part of a dump within the recv() that
  // empties the previous one, so recv never has to wait: MSG_DONTWAIT turns a surprise into an error.
  const answers = function* (seq: number, what: string): Generator<Answer> {
    for (;;) {
      const { n, errno } = receiveNow(fd, buf);
      if (n < 0) throw new LibcError(`recv ${what}`, errno || EAGAIN);
      for (const a of parseAnswers(buf.subarray(0, n))) if (a.seq === seq) yield a.answer;
    }
  };
  try {
    const chainSeq = (seqCounter = (seqCounter + 1) >>> 0);
    ask(getChainRequest(ref, chain, chainSeq), 'NFT_MSG_GETCHAIN');
    for (const a of answers(chainSeq, 'NFT_MSG_GETCHAIN')) {
      if (a.kind === 'error' && a.errno === ENOENT) return undefined;
      if (a.kind === 'error' && a.errno !== 0) throw new LibcError('NFT_MSG_GETCHAIN', a.errno);
      if (a.kind === 'error') break; // the ack after the chain
    }
    const rulesSeq = (seqCounter = (seqCounter + 1) >>> 0);
    ask(getRulesRequest(ref, chain, rulesSeq), 'NFT_MSG_GETRULE');
    const comments: (string | undefined)[] = [];
    for (const a of answers(rulesSeq, 'NFT_MSG_GETRULE')) {
      if (a.kind === 'done') return comments;
      if (a.kind === 'error' && a.errno === ENOENT) return undefined;
      if (a.kind === 'error') throw new LibcError('NFT_MSG_GETRULE', a.errno);
      // the kernel filters by table and chain; checked again all the same
      if (a.kind === 'rule' && a.table === ref.name && a.chain === chain) comments.push(a.comment);
    }
    return comments;
  } finally {
    closeNfnetlink(fd);
  }
}
