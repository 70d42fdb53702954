// The nfnetlink reader of a chain's rule comments (src/kernel/nft/chain-comments.ts): requests
// as the kernel expects them, answers parsed as the kernel sends them (a dump of NEWRULE messages
// carrying libnftnl's user data, then DONE; ENOENT for a missing chain).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { getChainRequest, getRulesRequest, parseAnswers, ruleComment } from '../../src/kernel/nft/chain-comments.js';
import { nla, nlaString, parseNla, nlaToString } from '../../src/kernel/nla.js';

const T = { family: 'inet', name: 'berth' } as const;

function nlmsg(type: number, seq: number, body: Buffer): Buffer {
  const b = Buffer.alloc(16 + body.length);
  b.writeUInt32LE(b.length, 0);
  b.writeUInt16LE(type, 4);
  b.writeUInt32LE(seq, 8);
  body.copy(b, 16);
  return b;
}

function rule(seq: number, chain: string, comment?: string): Buffer {
  const udata = comment === undefined ? [] : [nla(7, Buffer.concat([Buffer.from([0, comment.length + 1]), Buffer.from(`${comment}\0`)]))];
  return nlmsg((10 << 8) | 6, seq, Buffer.concat([Buffer.from([1, 0, 0, 0]), nlaString(1, 'berth'), nlaString(2, chain), ...udata]));
}

void describe('nft chain comments over nfnetlink', () => {
  void test('requests name the table, the chain and the family; the rule request is a dump', () => {
    const g = getChainRequest(T, 'forward', 7);
    assert.equal(g.readUInt32LE(0), g.length);
    assert.equal(g.readUInt16LE(4), (10 << 8) | 4, 'NFT_MSG_GETCHAIN');
    assert.equal(g.readUInt32LE(8), 7);
    assert.equal(g.readUInt8(16), 1, 'NFPROTO_INET');
    const attrs = parseNla(g.subarray(20));
    assert.equal(nlaToString(attrs.get(1) as Buffer), 'berth');
    assert.equal(nlaToString(attrs.get(3) as Buffer), 'forward');
    const r = getRulesRequest({ family: 'bridge', name: 'berth' }, 'prerouting', 8);
    assert.equal(r.readUInt16LE(4), (10 << 8) | 7, 'NFT_MSG_GETRULE');
    assert.equal(r.readUInt16LE(6) & 0x300, 0x300, 'NLM_F_DUMP');
    assert.equal(r.readUInt8(16), 7, 'NFPROTO_BRIDGE');
    assert.throws(() => getRulesRequest({ family: 'decnet' as 'inet', name: 'x' }, 'c', 1), /unknown table family/);
  });

  void test('a dump of rules: comments in order, a rule without one, then DONE; errors carry their errno', () => {
    const done = nlmsg(3, 5, Buffer.alloc(4));
    const got = parseAnswers(Buffer.concat([rule(5, 'forward', 'berth:ct'), rule(5, 'forward'), rule(5, 'forward', 'berth v3'), done]));
    assert.deepEqual(got.map((a) => a.answer), [
      { kind: 'rule', comment: 'berth:ct', table: 'berth', chain: 'forward' },
      { kind: 'rule', comment: undefined, table: 'berth', chain: 'forward' },
      { kind: 'rule', comment: 'berth v3', table: 'berth', chain: 'forward' },
      { kind: 'done' },
    ]);
    const err = Buffer.alloc(4);
    err.writeInt32LE(-2);
    assert.deepEqual(parseAnswers(nlmsg(2, 9, err)), [{ seq: 9, answer: { kind: 'error', errno: 2 } }]);
    assert.throws(() => parseAnswers(Buffer.from([200, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), /malformed netlink answer/);
  });

  void test('the comment is found among other user data; truncated data yields none', () => {
    const other = Buffer.from([5, 2, 0xaa, 0xbb]);
    assert.equal(ruleComment(Buffer.concat([other, Buffer.from([0, 4]), Buffer.from('abc\0')])), 'abc');
    assert.equal(ruleComment(Buffer.from([0, 10, 0x61])), undefined);
    assert.equal(ruleComment(other), undefined);
  });
});
