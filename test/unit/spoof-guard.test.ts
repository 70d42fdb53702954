// Anti-spoofing pieces that need no privileges: the link-local address a port's MAC gives, the
// nft rendering of raw payload, typeof sets and 128-bit values (native syntax only), and the
// network option that opts out.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import { linkLocalOf } from '../../src/drivers/bridge/spoof-guard.js';
import { bridgeOptions, canonicalOptions } from '../../src/engine/network-options.js';
import * as m from '../../src/kernel/nft/model.js';
import { needsTextSyntax, renderNftJson, renderNftText } from '../../src/kernel/nft/render.js';

const T = m.table('bridge', 'berth');

void describe('anti-spoofing', () => {
  void it('derives the modified EUI-64 link-local address from a MAC, as the kernel does', () => {
    assert.equal(linkLocalOf('02:42:0a:00:00:02'), 'fe80::42:aff:fe00:2');
    assert.equal(linkLocalOf('00:16:3e:12:34:56'), 'fe80::216:3eff:fe12:3456');
  });

  void it('renders a typeof set keyed on raw payload, and 128-bit elements as 0x…, in native syntax only', () => {
    const key = [m.meta('iifname'), m.raw('th', 64, 128)];
    const set: m.SetObj = { kind: 'set', table: T, name: 'port_nd', type: ['ifname', 'ipv6_addr'], typeOf: key };
    const el = m.elements(T, 'port_nd', [m.tuple('veth1234567', 0xfd000000000000000000000000000002n)]);
    const rule = m.rule(T, 'prerouting', [m.match(m.icmpv6.type, 'nd-neighbor-advert'), m.match(m.concat(...key), m.setRef('port_nd'), '!='), m.drop]);
    const ops = [m.add(set), m.add(el), m.add(rule)];
    assert.equal(needsTextSyntax(ops), true);
    assert.equal(needsTextSyntax([m.add(el), m.add(rule)]), false);
    assert.equal(
      renderNftText(ops),
      'add set bridge berth port_nd { typeof meta iifname . @th,64,128; }\n' +
        'add element bridge berth port_nd { "veth1234567" . 0xfd000000000000000000000000000002 }\n' +
        'add rule bridge berth prerouting icmpv6 type "nd-neighbor-advert" meta iifname . @th,64,128 != @port_nd drop\n',
    );
    assert.throws(() => renderNftJson([m.add(set)]), /typeof/);
    assert.deepEqual(renderNftJson([m.add(rule)]).nftables[1], {
      add: {
        rule: {
          family: 'bridge', table: 'berth', chain: 'prerouting',
          expr: [
            { match: { op: '==', left: { payload: { protocol: 'icmpv6', field: 'type' } }, right: 'nd-neighbor-advert' } },
            { match: { op: '!=', left: { concat: [{ meta: { key: 'iifname' } }, { payload: { base: 'th', offset: 64, len: 128 } }] }, right: '@port_nd' } },
            { drop: null },
          ],
        },
      },
    });
  });

  void it('is on by default; -o allow_spoofing=true|false opts out or in, anything else is refused', () => {
    assert.equal(bridgeOptions({}, false).allowSpoofing, false);
    assert.equal(bridgeOptions(canonicalOptions({ allow_spoofing: 'true' }), false).allowSpoofing, true);
    assert.equal(bridgeOptions(canonicalOptions({ allow_spoofing: 'false' }), false).allowSpoofing, false);
    assert.throws(() => bridgeOptions(canonicalOptions({ allow_spoofing: 'yes' }), false), (e: Error) => e instanceof UserError && /allow_spoofing.*true or false/.test(e.message));
  });
});
