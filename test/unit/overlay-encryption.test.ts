// Unit: the pieces of `-o encrypted` that need no privileges: the option's values, WireGuard key
// pairs made in-process (checked against `wg pubkey` when wireguard-tools is installed), device
// names, the tunnel subnet, Docker's bare `-o encrypted`, and the static fail-closed rule.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { TUNNEL_SUBNET, isTunnelAddress, wireguardIfname } from '../../src/drivers/overlay/overlay-encryption.js';
import { BERTH_SOCKBUF } from '../../src/common/package.js';
import { overlayOptions } from '../../src/engine/overlay.js';
import { keyValues } from '../../src/engine/network-options.js';
import { checkWireGuardKey, generateKeyPair, publicKeyOf } from '../../src/kernel/wireguard.js';
import { throwsUser } from './assert-errors.js';

void describe('overlay encryption', () => {
  void test('-o encrypted: bare (Docker), true and false; anything else is refused by name', () => {
    assert.equal(overlayOptions({ encrypted: '' }).encrypted, true);
    assert.equal(overlayOptions({ encrypted: 'true' }).encrypted, true);
    assert.equal(overlayOptions({ encrypted: 'false' }).encrypted, false);
    assert.equal(overlayOptions({}).encrypted, false);
    throwsUser(() => overlayOptions({ encrypted: 'yes' }), 'encrypted=yes', '-o encrypted=true');
  });

  void test('the CLI takes a bare -o encrypted as encrypted="" and still refuses other bare keys', () => {
    assert.deepEqual(keyValues('--opt', ['encrypted', 'mtu=1400'], { bareKeys: ['encrypted'] }), { encrypted: '', mtu: '1400' });
    throwsUser(() => keyValues('--opt', ['mtu'], { bareKeys: ['encrypted'] }), '--opt', '"mtu"', 'KEY=VALUE', 'encrypted alone');
    throwsUser(() => keyValues('--label', ['bare']), '--label', 'KEY=VALUE');
  });

  void test('key pairs: 44-character base64, the public key derived from the private one', () => {
    const a = generateKeyPair();
    const b = generateKeyPair();
    assert.notEqual(a.privateKey, b.privateKey);
    for (const k of [a.privateKey, a.publicKey]) assert.equal(checkWireGuardKey(k, 'key'), k);
    assert.equal(publicKeyOf(a.privateKey), a.publicKey);
    if (existsSync('/usr/bin/wg')) {
      assert.equal(execFileSync('/usr/bin/wg', ['pubkey'], { input: `${a.privateKey}\n` }).toString().trim(), a.publicKey, 'the same as wg pubkey');
    }
    throwsUser(() => checkWireGuardKey('not a key', 'WireGuard public key'), 'WireGuard public key', '44 characters');
  });

  void test('device names fit IFNAMSIZ, carry the firewall prefix, differ per host and are stable', () => {
    const x = wireguardIfname('h-0123456789ab');
    assert.match(x, /^wgb-[0-9a-f]{8}$/);
    assert.ok(x.length <= 15);
    assert.equal(wireguardIfname('h-0123456789ab'), x);
    assert.notEqual(wireguardIfname('h-0123456789ac'), x);
  });

  void test('tunnel addresses: inside the reserved subnet only', () => {
    assert.equal(TUNNEL_SUBNET, '198.18.0.0/16');
    assert.equal(isTunnelAddress('198.18.0.2'), true);
    assert.equal(isTunnelAddress('198.19.0.2'), false);
    assert.equal(isTunnelAddress('10.98.0.1'), false);
    assert.equal(isTunnelAddress('not an address'), false);
  });

  void test('berth-sockbuf (wireguard-go socket buffers): bad arguments named, nothing done; a process without UDP sockets: 0 set', () => {
    for (const [args, what] of [[['12', 'x'], 'BYTES "x"'], [['0', '4096'], 'PID "0"'], [['12', String(2 ** 31)], 'BYTES'], [['12'], 'usage']] as const) {
      const r = spawnSync(BERTH_SOCKBUF, args, { encoding: 'utf8' });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(what), r.stderr);
      assert.equal(r.stdout, '');
    }
    const child = spawn('sleep', ['10'], { stdio: 'ignore' });
    try {
      const r = spawnSync(BERTH_SOCKBUF, [String(child.pid), '4194304'], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(r.stdout.trim(), '0');
    } finally {
      child.kill();
    }
  });
});
