// Unit: the pure checks behind issue 11's input items: quoting user values in messages, unicast
// MACs, special-purpose subnets, --api listeners and their guards, the bearer token check, and
// which commands a non-root user may run.
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import { escapeControls, quote } from '../../src/common/errors.js';
import { checkUnicastMac } from '../../src/common/mac.js';
import { checkSubnetUsable } from '../../src/engine/host-subnets.js';
import { bearerCheck, isLoopback, parseListener, planListeners } from '../../src/daemon/api-listeners.js';
import { needsRoot } from '../../src/cli/program.js';
import { throwsUser } from './assert-errors.js';

void describe('quote and escapeControls', () => {
  void test('plain values are quoted as before; control bytes, C1, bidi overrides and separators are escaped', () => {
    assert.equal(quote('eth0'), '"eth0"');
    assert.equal(quote(15), '"15"');
    assert.equal(quote('a\u001b[2Jb'), '"a\\u001b[2Jb"');
    assert.equal(quote('x\ny'), '"x\\ny"');
    assert.equal(quote('\u009b31m'), '"\\u009b31m"');
    assert.equal(quote('\u202eevil'), '"\\u202eevil"');
    assert.equal(quote('\u007f'), '"\\u007f"');
    assert.equal(escapeControls('line one\nline two\ttab \u001b[0m \u0085'), 'line one\nline two\ttab \\u001b[0m \\u0085');
  });
});

void describe('checkUnicastMac', () => {
  void test('unicast MACs, any case, come back in lower case', () => {
    assert.equal(checkUnicastMac('02:42:AC:11:00:02'), '02:42:ac:11:00:02');
    assert.equal(checkUnicastMac('00:16:3e:00:00:01'), '00:16:3e:00:00:01');
  });
  void test('broadcast, multicast, all zeros and malformed ones are refused, named', () => {
    throwsUser(() => checkUnicastMac('ff:ff:ff:ff:ff:ff'), '"ff:ff:ff:ff:ff:ff"', 'broadcast');
    throwsUser(() => checkUnicastMac('01:00:5e:00:00:01'), 'multicast');
    throwsUser(() => checkUnicastMac('33:33:00:00:00:01'), 'multicast');
    throwsUser(() => checkUnicastMac('03:00:00:00:00:01'), 'multicast');
    throwsUser(() => checkUnicastMac('00:00:00:00:00:00'), 'all zeros');
    throwsUser(() => checkUnicastMac('02:42:zz:00:00:01'), '02:42:zz:00:00:01', 'six hex pairs');
    throwsUser(() => checkUnicastMac('02:42:\u001b:00'), '\\u001b');
  });
});

void describe('checkSubnetUsable', () => {
  void test('private blocks and /31 pass', () => {
    for (const subnet of ['10.0.0.0/8', '172.20.0.0/16', '192.168.1.0/24', '10.9.9.0/31', '100.64.0.0/10', 'fd00:1::/64', '2001:db8::/126']) checkSubnetUsable({ subnet });
  });
  void test('special-purpose blocks, anything overlapping them, and blocks without a container address fail', () => {
    const cases: [string, string][] = [
      ['127.0.0.0/8', 'loopback'], ['127.1.2.0/24', 'loopback'], ['0.0.0.0/8', 'this network'], ['0.0.0.0/0', '"0.0.0.0/0"'],
      ['224.0.0.0/4', 'multicast'], ['239.1.0.0/16', 'multicast'], ['240.0.0.0/4', 'reserved'], ['255.255.255.255/32', 'reserved'],
      ['::/0', '"::/0"'], ['::/96', 'unspecified'], ['::1/128', 'loopback'], ['::ffff:0:0/96', 'IPv4-mapped'], ['::ffff:10.0.0.0/104', 'IPv4-mapped'],
      ['fe80::/10', 'link-local'], ['fe80::/64', 'link-local'], ['ff02::/16', 'multicast'], ['8000::/1', 'link-local'],
      ['10.1.1.1/32', 'no address left'], ['fd00::1/128', 'no address left'], ['fd00::/127', 'no address left'],
    ];
    for (const [subnet, says] of cases) throwsUser(() => checkSubnetUsable({ subnet }), subnet, says);
  });
});

void describe('--api listeners and their guards', () => {
  void test('parse: unix paths, IPv4, [IPv6] and localhost; anything else is named', () => {
    assert.deepEqual(parseListener('unix:///run/berth/berth.sock'), { kind: 'unix', path: '/run/berth/berth.sock' });
    assert.deepEqual(parseListener('tcp://127.0.0.1:2375'), { kind: 'tcp', host: '127.0.0.1', port: 2375 });
    assert.deepEqual(parseListener('tcp://[::1]:2376'), { kind: 'tcp', host: '::1', port: 2376 });
    assert.deepEqual(parseListener('tcp://0.0.0.0:2376'), { kind: 'tcp', host: '0.0.0.0', port: 2376 });
    for (const bad of ['tcp://127.0.0.1:0', 'tcp://127.0.0.1:70000', 'tcp://example.com:2375', 'tcp://300.1.1.1:1', 'http://127.0.0.1:1', 'unix://relative', 'tcp://1.2.3.4:5\u001b']) {
      throwsUser(() => parseListener(bad), 'invalid --api');
    }
    assert.ok(isLoopback('127.0.0.1') && isLoopback('127.9.9.9') && isLoopback('::1') && isLoopback('localhost'));
    assert.ok(!isLoopback('0.0.0.0') && !isLoopback('::') && !isLoopback('10.0.0.1'));
  });
  void test('plan: unix by mode, loopback TCP by token, any TCP by TLS; refusals', () => {
    const tls = { verify: true, ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' };
    assert.deepEqual(planListeners(['unix:///s', 'tcp://127.0.0.1:1'], {}).map((p) => p.guard.kind), ['socket-mode', 'token']);
    assert.deepEqual(planListeners(['tcp://0.0.0.0:1', 'tcp://127.0.0.1:2'], tls).map((p) => p.guard.kind), ['tls', 'tls']);
    throwsUser(() => planListeners(['tcp://0.0.0.0:1'], {}), 'not a loopback address', '--tlsverify');
    throwsUser(() => planListeners(['tcp://[::]:1'], {}), 'not a loopback address');
    throwsUser(() => planListeners(['tcp://127.0.0.1:1'], { verify: true, ca: 'ca.pem' }), '--tlsverify needs');
    throwsUser(() => planListeners(['tcp://127.0.0.1:1'], { cert: 'c.pem', key: 'k.pem' }), 'go with --tlsverify');
  });
  void test('bearer check: only the exact token, as "Bearer <token>"', () => {
    const check = bearerCheck('s3cret-token-s3cret-token-s3cret-token');
    const req = (authorization?: string) => ({ headers: authorization === undefined ? {} : { authorization } }) as IncomingMessage;
    assert.equal(check(req('Bearer s3cret-token-s3cret-token-s3cret-token')), undefined);
    assert.equal(check(req('bearer s3cret-token-s3cret-token-s3cret-token')), undefined);
    for (const bad of [undefined, '', 'Bearer', 'Bearer x', 'Basic s3cret-token-s3cret-token-s3cret-token', 'Bearer s3cret-token-s3cret-token-s3cret-tokenX', 'Bearer s3cret-token-s3cret-token-s3cret-toke']) {
      assert.equal(typeof check(req(bad)), 'string', `refused: ${String(bad)}`);
    }
  });
});

void describe('needsRoot', () => {
  void test('as root nothing needs saying; otherwise all but help and version', (t) => {
    if (process.geteuid?.() === 0) {
      assert.equal(needsRoot(['network', 'ls']), false);
      return t.skip('the rest is for a non-root user');
    }
    assert.equal(needsRoot(['network', 'ls']), true);
    assert.equal(needsRoot(['version']), false);
    assert.equal(needsRoot(['network', '--help']), false);
  });
});
