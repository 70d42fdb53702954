// Who may see the topology page (src/ui/access.ts): the --ui address, the token file, the token
// a request shows (query, cookie, bearer), and the Host names a loopback page answers to.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { hostHeaderAccepted, newUiToken, parseUiAddress, tokenAccepted, tokenOf } from '../../src/ui/access.js';
import { throwsUser } from './assert-errors.js';

const req = (headers: Record<string, string>): IncomingMessage => ({ headers }) as unknown as IncomingMessage;

describe('topology page access', () => {
  it('--ui IP:PORT: loopback or not; anything else refused, naming what is accepted', () => {
    assert.deepEqual(parseUiAddress('127.0.0.1:8088'), { host: '127.0.0.1', port: 8088, loopback: true });
    assert.deepEqual(parseUiAddress('[::1]:0'), { host: '::1', port: 0, loopback: true });
    assert.deepEqual(parseUiAddress('localhost:80'), { host: 'localhost', port: 80, loopback: true });
    assert.deepEqual(parseUiAddress('10.0.0.5:8088'), { host: '10.0.0.5', port: 8088, loopback: false });
    assert.deepEqual(parseUiAddress('[fd00::5]:8088'), { host: 'fd00::5', port: 8088, loopback: false });
    for (const bad of ['8088', '127.0.0.1', 'example.com:80', '127.0.0.1:65536', '::1:80', '127.0.0.1:80x', '']) {
      throwsUser(() => parseUiAddress(bad), 'invalid --ui', 'expected IP:PORT');
    }
  });
  it('a new token each start, in a 0600 file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'berth-ui-token-'));
    try {
      const a = newUiToken(dir);
      const b = newUiToken(dir);
      assert.match(a, /^[A-Za-z0-9_-]{43}$/);
      assert.notEqual(a, b);
      assert.equal((await readFile(join(dir, 'ui-token'), 'utf8')).trim(), b);
      assert.equal((await stat(join(dir, 'ui-token'))).mode & 0o777, 0o600);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
  it('the token shown: ?token=, the cookie or a bearer header; compared whole', () => {
    const url = (q = '') => new URL(`http://x/${q}`);
    assert.equal(tokenOf(req({}), url('?token=abc')), 'abc');
    assert.equal(tokenOf(req({ cookie: 'a=b; berth_ui=abc' }), url()), 'abc');
    assert.equal(tokenOf(req({ authorization: 'Bearer abc' }), url()), 'abc');
    assert.equal(tokenOf(req({}), url()), undefined);
    assert.equal(tokenAccepted('abc', 'abc'), true);
    assert.equal(tokenAccepted('ab', 'abc'), false);
    assert.equal(tokenAccepted('abd', 'abc'), false);
    assert.equal(tokenAccepted(undefined, 'abc'), false);
  });
  it('a loopback page answers only to its own Host names (DNS rebinding)', () => {
    const lo = parseUiAddress('127.0.0.1:8088');
    assert.equal(hostHeaderAccepted(req({ host: '127.0.0.1:8088' }), lo, 8088), true);
    assert.equal(hostHeaderAccepted(req({ host: 'localhost:8088' }), lo, 8088), true);
    assert.equal(hostHeaderAccepted(req({ host: 'evil.example:8088' }), lo, 8088), false);
    assert.equal(hostHeaderAccepted(req({}), lo, 8088), false);
    assert.equal(hostHeaderAccepted(req({ host: 'anything' }), parseUiAddress('10.0.0.5:8088'), 8088), true, 'off loopback the token guards');
  });
});
