// The NFT_MSG_GETGEN request and the parsing of its answer (bytes as the kernel sends them).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getGenRequest, parseGenReply } from '../../src/kernel/nft/generation.js';

/** A NEWGEN answer: nlmsghdr, nfgenmsg, NFTA_GEN_ID (be32), NFTA_GEN_PROC_PID, NFTA_GEN_PROC_NAME. */
function newGen(id: number): Buffer {
  const b = Buffer.alloc(16 + 4 + 8 + 8 + 12);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE((10 << 8) | 15, 4);
  b.writeUInt32LE(7, 8);
  let o = 20;
  b.writeUInt16LE(8, o); b.writeUInt16LE(1, o + 2); b.writeUInt32BE(id, o + 4); o += 8;
  b.writeUInt16LE(8, o); b.writeUInt16LE(2, o + 2); b.writeUInt32BE(1234, o + 4); o += 8;
  b.writeUInt16LE(9, o); b.writeUInt16LE(3, o + 2); b.write('node\0', o + 4);
  return b;
}

void describe('nft ruleset generation', () => {
  void it('asks with NFNL_SUBSYS_NFTABLES/NFT_MSG_GETGEN, NLM_F_REQUEST and the sequence number', () => {
    const r = getGenRequest(42);
    assert.equal(r.length, 20);
    assert.equal(r.readUInt32LE(0), 20);
    assert.equal(r.readUInt16LE(4), 0x0a10);
    assert.equal(r.readUInt16LE(6), 1);
    assert.equal(r.readUInt32LE(8), 42);
    assert.deepEqual([...r.subarray(16)], [0, 0, 0, 0]);
  });

  void it('reads NFTA_GEN_ID (big endian) from a NEWGEN answer', () => {
    assert.equal(parseGenReply(newGen(0x01020304)), 0x01020304);
    assert.equal(parseGenReply(newGen(0xfffffffe)), 0xfffffffe);
  });

  void it('turns a netlink error into an error naming the errno, and refuses other answers', () => {
    const err = Buffer.alloc(36);
    err.writeUInt32LE(36, 0);
    err.writeUInt16LE(2, 4);
    err.writeInt32LE(-1, 16);
    assert.throws(() => parseGenReply(err), /NFT_MSG_GETGEN failed: EPERM/);
    const other = newGen(1);
    other.writeUInt16LE((10 << 8) | 3, 4);
    assert.throws(() => parseGenReply(other), /unexpected netlink message type/);
    assert.throws(() => parseGenReply(newGen(1).subarray(0, 20)), /no NFTA_GEN_ID/);
  });
});
