// Unit: the pieces of `-o encrypted` that need no privileges: the option's values, WireGuard key
// pairs made in-process (checked against `wg pubkey` when wireguard-tools is installed), device
// names, the tunnel subnet, Docker's bare `-o encrypted`, and the static fail-closed rule.
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, test } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import { isTunnelAddress, wireguardIfname } from '../../src/drivers/overlay/overlay-encryption.js';
import { DEFAULT_TUNNEL_SUBNET, checkTunnelSubnetFree, parseTunnelSubnet } from '../../src/drivers/overlay/tunnel-subnet.js';
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

  void test('tunnel addresses: inside the cluster tunnel subnet only', () => {
    assert.equal(DEFAULT_TUNNEL_SUBNET, '198.18.0.0/16');
    assert.equal(isTunnelAddress('198.18.0.2', DEFAULT_TUNNEL_SUBNET), true);
    assert.equal(isTunnelAddress('198.19.0.2', DEFAULT_TUNNEL_SUBNET), false);
    assert.equal(isTunnelAddress('10.98.0.1', DEFAULT_TUNNEL_SUBNET), false);
    assert.equal(isTunnelAddress('not an address', DEFAULT_TUNNEL_SUBNET), false);
    assert.equal(isTunnelAddress('100.80.3.4', '100.80.0.0/16'), true);
    assert.equal(isTunnelAddress('198.18.0.2', '100.80.0.0/16'), false);
  });

  void test('--tunnel-subnet: an IPv4 block with room for the hosts, clear of networks, the overlay pool and the advertise address', () => {
    assert.equal(parseTunnelSubnet('100.80.0.0/16'), '100.80.0.0/16');
    assert.equal(parseTunnelSubnet('192.0.2.0/24'), '192.0.2.0/24');
    const refused: [string, RegExp][] = [
      ['nope', /invalid --tunnel-subnet "nope": expected CIDR notation/],
      ['100.80.0.1/16', /invalid --tunnel-subnet "100.80.0.1\/16": host bits are set; it should be 100.80.0.0\/16/],
      ['fd00::/64', /it is not IPv4/],
      ['100.80.0.0/25', /prefix length \/25 leaves room for too few hosts/],
      ['100.0.0.0/7', /prefix length \/7 is too wide/],
      ['100.80.0.0/33', /prefix length \/33 is too long/],
    ];
    for (const [raw, why] of refused) {
      assert.throws(() => parseTunnelSubnet(raw), (e: unknown) => e instanceof UserError && why.test(e.message) && /accepted: an IPv4 block in CIDR notation with a prefix length from \/8 to \/24/.test(e.message), raw);
    }
    const clash = { networks: [{ name: 'ov1', subnets: ['100.81.4.0/24', 'fd00::/64'] }], advertiseAddress: '100.82.0.7' };
    checkTunnelSubnetFree('100.80.0.0/16', clash);
    assert.throws(() => checkTunnelSubnetFree('100.81.0.0/16', clash), /invalid --tunnel-subnet "100.81.0.0\/16": it overlaps subnet 100.81.4.0\/24 of network "ov1"/);
    assert.throws(() => checkTunnelSubnetFree('100.82.0.0/24', clash), /it holds the advertise address 100.82.0.7/);
    assert.throws(() => checkTunnelSubnetFree('10.200.0.0/16', clash), /it overlaps the overlay address pool 10.0.0.0\/8/);
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
