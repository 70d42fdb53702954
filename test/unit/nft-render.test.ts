// Rendering of nft batches. Every expected JSON here is what nftables 1.0.6 accepted from us and
// listed back unchanged in meaning (checked in a throwaway namespace); the native-syntax lines
// gave the kernel the same ruleset as the JSON.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import * as m from '../../src/kernel/nft/model.js';
import {
  declaresConcatDataMap,
  renderNftJson,
  renderNftJsonCommands,
  renderNftText,
  renderNftTextCommands,
  type Json,
} from '../../src/kernel/nft/render.js';

const T = m.table('inet', 'berth');
const at = { family: 'inet', table: 'berth' } as const;

/** The JSON commands of a batch. */
function json(...ops: m.NftOp[]): Json[] {
  return renderNftJsonCommands(ops).map((c) => c.command);
}
/** The expressions of one added rule. */
function expr(...statements: m.Statement[]): Json {
  const [cmd] = json(m.add(m.rule(T, 'c', statements)));
  return (cmd as { add: { rule: { expr: Json } } }).add.rule.expr;
}
/** The native-syntax line of one added rule, without its head. */
function text(...statements: m.Statement[]): string {
  return renderNftText([m.add(m.rule(T, 'c', statements))]).replace('add rule inet berth c ', '').trim();
}

const payload = (protocol: string, field: string) => ({ payload: { protocol, field } });
const metaJ = (key: string) => ({ meta: { key } });

void describe('nft document', () => {
  void it('starts with metainfo and keeps op order', () => {
    assert.deepEqual(renderNftJson([m.add(T), m.flush(T)]), {
      nftables: [
        { metainfo: { json_schema_version: 1 } },
        { add: { table: { family: 'inet', name: 'berth' } } },
        { flush: { table: { family: 'inet', name: 'berth' } } },
      ],
    });
  });
  void it('an empty batch has only metainfo', () => {
    assert.deepEqual(renderNftJson([]), { nftables: [{ metainfo: { json_schema_version: 1 } }] });
  });
});

void describe('tables and chains', () => {
  void it('create and delete tables of every family', () => {
    for (const family of ['inet', 'ip', 'ip6', 'bridge', 'netdev'] as const) {
      assert.deepEqual(json(m.create(m.table(family, 'berth')), m.del(m.table(family, 'berth'))), [
        { create: { table: { family, name: 'berth' } } },
        { delete: { table: { family, name: 'berth' } } },
      ]);
    }
  });
  void it('idempotent delete adds first, so a missing table is no error', () => {
    const cmds = renderNftJsonCommands([m.del(T, { ifExists: true })]);
    assert.deepEqual(
      cmds.map((c) => c.command),
      [{ add: { table: { family: 'inet', name: 'berth' } } }, { delete: { table: { family: 'inet', name: 'berth' } } }],
    );
    assert.deepEqual(
      cmds.map((c) => c.op),
      [0, 0],
    );
    assert.equal(renderNftText([m.del(T, { ifExists: true })]), 'add table inet berth\ndelete table inet berth\n');
  });
  void it('base chains carry type, hook, priority and policy; regular chains only a name', () => {
    assert.deepEqual(
      json(
        m.add(m.chain(T, 'forward', { type: 'filter', hook: 'forward', priority: m.PRIORITY.filter, policy: 'accept' })),
        m.add(m.chain(T, 'prerouting', { type: 'nat', hook: 'prerouting', priority: m.PRIORITY.dstnat, policy: 'accept' })),
        m.add(m.chain(T, 'output', { type: 'nat', hook: 'output', priority: -100 })),
        m.add(m.chain(T, 'postrouting', { type: 'nat', hook: 'postrouting', priority: m.PRIORITY.srcnat, policy: 'accept' })),
        m.add(m.chain(T, 'raw', { type: 'filter', hook: 'prerouting', priority: m.PRIORITY.raw, policy: 'accept' })),
        m.add(m.chain(T, 'isolate')),
      ),
      [
        { add: { chain: { ...at, name: 'forward', type: 'filter', hook: 'forward', prio: 0, policy: 'accept' } } },
        { add: { chain: { ...at, name: 'prerouting', type: 'nat', hook: 'prerouting', prio: -100, policy: 'accept' } } },
        { add: { chain: { ...at, name: 'output', type: 'nat', hook: 'output', prio: -100 } } },
        { add: { chain: { ...at, name: 'postrouting', type: 'nat', hook: 'postrouting', prio: 100, policy: 'accept' } } },
        { add: { chain: { ...at, name: 'raw', type: 'filter', hook: 'prerouting', prio: -300, policy: 'accept' } } },
        { add: { chain: { ...at, name: 'isolate' } } },
      ],
    );
  });
  void it('netdev chains name their device', () => {
    const t = m.table('netdev', 'berth');
    assert.deepEqual(json(m.add(m.chain(t, 'in', { type: 'filter', hook: 'ingress', priority: 0, device: 'veth0' }))), [
      { add: { chain: { family: 'netdev', table: 'berth', name: 'in', type: 'filter', hook: 'ingress', prio: 0, dev: 'veth0' } } },
    ]);
  });
  void it('delete, flush and idempotent delete of chains use the name only', () => {
    const fwd = m.chain(T, 'forward', { type: 'filter', hook: 'forward', priority: 0 });
    assert.deepEqual(json(m.flush(fwd), m.del(fwd), m.del(fwd, { ifExists: true })), [
      { flush: { chain: { ...at, name: 'forward' } } },
      { delete: { chain: { ...at, name: 'forward' } } },
      { add: { chain: { ...at, name: 'forward' } } },
      { delete: { chain: { ...at, name: 'forward' } } },
    ]);
  });
});

void describe('sets, maps and elements', () => {
  const published: m.SetObj = {
    kind: 'set',
    table: T,
    name: 'published',
    type: ['ipv4_addr', 'inet_proto', 'inet_service'],
    flags: ['interval'],
    elements: [m.tuple('10.0.0.1', 'tcp', 80), m.tuple(m.prefix('10.1.0.0', 16), 'udp', m.range(1000, 2000))],
  };
  void it('a set with concatenated key, interval flag and elements', () => {
    assert.deepEqual(json(m.add(published)), [
      {
        add: {
          set: {
            ...at,
            name: 'published',
            type: ['ipv4_addr', 'inet_proto', 'inet_service'],
            flags: ['interval'],
            elem: [
              { concat: ['10.0.0.1', 'tcp', 80] },
              { concat: [{ prefix: { addr: '10.1.0.0', len: 16 } }, 'udp', { range: [1000, 2000] }] },
            ],
          },
        },
      },
    ]);
  });
  void it('a plain set from a CIDR', () => {
    const s: m.SetObj = { kind: 'set', table: T, name: 'subnets4', type: 'ipv4_addr', flags: ['interval'], elements: [m.cidr('172.17.0.0/16')] };
    assert.deepEqual(json(m.add(s)), [
      { add: { set: { ...at, name: 'subnets4', type: 'ipv4_addr', flags: ['interval'], elem: [{ prefix: { addr: '172.17.0.0', len: 16 } }] } } },
    ]);
    assert.equal(m.cidr('10.0.0.1'), '10.0.0.1');
  });
  void it('a verdict map', () => {
    const vm: m.MapObj = {
      kind: 'map',
      table: T,
      name: 'fwd_in',
      type: 'ifname',
      data: 'verdict',
      elements: [
        { key: 'berth0', data: m.jump('isolate') },
        { key: 'br-x', data: m.accept },
      ],
    };
    assert.deepEqual(json(m.add(vm)), [
      {
        add: {
          map: { ...at, name: 'fwd_in', type: 'ifname', map: 'verdict', elem: [['berth0', { jump: { target: 'isolate' } }], ['br-x', { accept: null }]] },
        },
      },
    ]);
  });
  void it('maps keyed by (addr, proto, port) holding an address or a port', () => {
    const type = ['ipv4_addr', 'inet_proto', 'inet_service'] as const;
    const addr: m.MapObj = { kind: 'map', table: T, name: 'dnat4_addr', type, data: 'ipv4_addr', elements: [{ key: m.tuple('10.0.0.1', 'tcp', 8080), data: '172.17.0.2' }] };
    const port: m.MapObj = { kind: 'map', table: T, name: 'dnat4_port', type, data: 'inet_service', elements: [{ key: m.tuple('10.0.0.1', 'tcp', 8080), data: 80 }] };
    assert.deepEqual(json(m.add(addr), m.add(port)), [
      { add: { map: { ...at, name: 'dnat4_addr', type: [...type], map: 'ipv4_addr', elem: [[{ concat: ['10.0.0.1', 'tcp', 8080] }, '172.17.0.2']] } } },
      { add: { map: { ...at, name: 'dnat4_port', type: [...type], map: 'inet_service', elem: [[{ concat: ['10.0.0.1', 'tcp', 8080] }, 80]] } } },
    ]);
    assert.equal(declaresConcatDataMap([m.add(addr), m.add(port)]), false);
  });
  void describe('a map whose data is a concatenation', () => {
    const dnat4: m.MapObj = {
      kind: 'map',
      table: T,
      name: 'dnat4',
      type: ['ipv4_addr', 'inet_proto', 'inet_service'],
      data: ['ipv4_addr', 'inet_service'],
      flags: ['interval'],
      elements: [{ key: m.tuple('10.0.0.1', 'tcp', 8080), data: m.tuple('172.17.0.2', 80) }],
    };
    void it('is declared in JSON as nftables >= 1.1.0 reads it (array data type)', () => {
      assert.deepEqual(json(m.add(dnat4)), [
        {
          add: {
            map: {
              ...at,
              name: 'dnat4',
              type: ['ipv4_addr', 'inet_proto', 'inet_service'],
              map: ['ipv4_addr', 'inet_service'],
              flags: ['interval'],
              elem: [[{ concat: ['10.0.0.1', 'tcp', 8080] }, { concat: ['172.17.0.2', 80] }]],
            },
          },
        },
      ]);
    });
    void it('is flagged so apply declares it in native syntax (nftables 1.0.6 JSON cannot)', () => {
      assert.equal(declaresConcatDataMap([m.add(dnat4)]), true);
      assert.equal(declaresConcatDataMap([m.del(dnat4, { ifExists: true })]), true);
      assert.equal(declaresConcatDataMap([m.del(dnat4), m.flush(dnat4)]), false);
      assert.equal(
        renderNftText([m.add(dnat4)]),
        'add map inet berth dnat4 { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; flags interval; ' +
          'elements = { "10.0.0.1" . "tcp" . 8080 : "172.17.0.2" . 80 }; }\n',
      );
    });
    void it('takes elements in JSON like any map', () => {
      const entry = { key: m.tuple('10.0.0.1', 'udp', 53), data: m.tuple('172.17.0.3', 5353) };
      assert.deepEqual(json(m.add(m.elements(T, 'dnat4', [entry])), m.del(m.elements(T, 'dnat4', [entry]))), [
        { add: { element: { ...at, name: 'dnat4', elem: [[{ concat: ['10.0.0.1', 'udp', 53] }, { concat: ['172.17.0.3', 5353] }]] } } },
        { delete: { element: { ...at, name: 'dnat4', elem: [{ concat: ['10.0.0.1', 'udp', 53] }] } } },
      ]);
    });
  });
  void it('element add, create, delete and idempotent delete', () => {
    const e = m.elements(T, 'hosts', ['10.0.0.1', m.prefix('10.2.0.0', 24)]);
    assert.deepEqual(json(m.add(e), m.create(e), m.del(e), m.del(e, { ifExists: true })), [
      { add: { element: { ...at, name: 'hosts', elem: ['10.0.0.1', { prefix: { addr: '10.2.0.0', len: 24 } }] } } },
      { create: { element: { ...at, name: 'hosts', elem: ['10.0.0.1', { prefix: { addr: '10.2.0.0', len: 24 } }] } } },
      { delete: { element: { ...at, name: 'hosts', elem: ['10.0.0.1', { prefix: { addr: '10.2.0.0', len: 24 } }] } } },
      { add: { element: { ...at, name: 'hosts', elem: ['10.0.0.1', { prefix: { addr: '10.2.0.0', len: 24 } }] } } },
      { delete: { element: { ...at, name: 'hosts', elem: ['10.0.0.1', { prefix: { addr: '10.2.0.0', len: 24 } }] } } },
    ]);
  });
  void it('flush, delete and idempotent delete of sets and maps', () => {
    const s: m.SetObj = { kind: 'set', table: T, name: 's', type: 'ipv4_addr', elements: ['10.0.0.1'] };
    const mp: m.MapObj = { kind: 'map', table: T, name: 'mp', type: 'ifname', data: 'verdict' };
    assert.deepEqual(json(m.flush(s), m.flush(mp), m.del(s), m.del(mp, { ifExists: true }), m.del(s, { ifExists: true })), [
      { flush: { set: { ...at, name: 's' } } },
      { flush: { map: { ...at, name: 'mp' } } },
      { delete: { set: { ...at, name: 's' } } },
      { add: { map: { ...at, name: 'mp', type: 'ifname', map: 'verdict' } } },
      { delete: { map: { ...at, name: 'mp' } } },
      // the add of an idempotent delete leaves elements out
      { add: { set: { ...at, name: 's', type: 'ipv4_addr' } } },
      { delete: { set: { ...at, name: 's' } } },
    ]);
  });
});

void describe('rules: matches', () => {
  void it('meta keys', () => {
    assert.deepEqual(expr(m.match(m.meta('iifname'), 'berth0'), m.notMatch(m.meta('oifname'), 'berth0'), m.accept), [
      { match: { op: '==', left: metaJ('iifname'), right: 'berth0' } },
      { match: { op: '!=', left: metaJ('oifname'), right: 'berth0' } },
      { accept: null },
    ]);
    assert.deepEqual(expr(m.match(m.meta('nfproto'), 'ipv4'), m.match(m.meta('mark'), 16), m.match(m.meta('l4proto'), 'tcp')), [
      { match: { op: '==', left: metaJ('nfproto'), right: 'ipv4' } },
      { match: { op: '==', left: metaJ('mark'), right: 16 } },
      { match: { op: '==', left: metaJ('l4proto'), right: 'tcp' } },
    ]);
  });
  void it('payload: ip/ip6 addresses and prefixes, tcp/udp/sctp/th ports and ranges', () => {
    assert.deepEqual(
      expr(
        m.match(m.ip.saddr, m.prefix('172.17.0.0', 16)),
        m.match(m.ip.daddr, '10.9.9.9'),
        m.match(m.ip6.saddr, m.prefix('fd00::', 8)),
        m.match(m.ip6.daddr, 'fd00::1'),
        m.match(m.tcp.dport, 80),
        m.match(m.tcp.sport, m.range(1024, 65535)),
        m.match(m.udp.dport, 53),
        m.match(m.udp.sport, 53),
        m.match(m.sctp.dport, 9),
        m.match(m.th.dport, 53),
      ),
      [
        { match: { op: '==', left: payload('ip', 'saddr'), right: { prefix: { addr: '172.17.0.0', len: 16 } } } },
        { match: { op: '==', left: payload('ip', 'daddr'), right: '10.9.9.9' } },
        { match: { op: '==', left: payload('ip6', 'saddr'), right: { prefix: { addr: 'fd00::', len: 8 } } } },
        { match: { op: '==', left: payload('ip6', 'daddr'), right: 'fd00::1' } },
        { match: { op: '==', left: payload('tcp', 'dport'), right: 80 } },
        { match: { op: '==', left: payload('tcp', 'sport'), right: { range: [1024, 65535] } } },
        { match: { op: '==', left: payload('udp', 'dport'), right: 53 } },
        { match: { op: '==', left: payload('udp', 'sport'), right: 53 } },
        { match: { op: '==', left: payload('sctp', 'dport'), right: 9 } },
        { match: { op: '==', left: payload('th', 'dport'), right: 53 } },
      ],
    );
  });
  void it('ct state matches bits with "in", as nft lists it', () => {
    assert.deepEqual(expr(m.ctState('established', 'related'), m.counter, m.accept), [
      { match: { op: 'in', left: { ct: { key: 'state' } }, right: ['established', 'related'] } },
      { counter: null },
      { accept: null },
    ]);
    assert.deepEqual(expr(m.ctState('invalid'), m.drop), [{ match: { op: 'in', left: { ct: { key: 'state' } }, right: 'invalid' } }, { drop: null }]);
  });
  void it('fib daddr type local', () => {
    assert.deepEqual(expr(m.fibDaddrLocal), [{ match: { op: '==', left: { fib: { result: 'type', flags: ['daddr'] } }, right: 'local' } }]);
  });
  void it('anonymous sets, named sets and concatenated lookups', () => {
    assert.deepEqual(
      expr(
        m.match(m.meta('l4proto'), m.anonSet('tcp', 'udp')),
        m.notMatch(m.ip.daddr, m.setRef('subnets4')),
        m.match(m.concat(m.ip.daddr, m.meta('l4proto'), m.th.dport), m.setRef('published')),
        m.accept,
      ),
      [
        { match: { op: '==', left: metaJ('l4proto'), right: { set: ['tcp', 'udp'] } } },
        { match: { op: '!=', left: payload('ip', 'daddr'), right: '@subnets4' } },
        { match: { op: '==', left: { concat: [payload('ip', 'daddr'), metaJ('l4proto'), payload('th', 'dport')] }, right: '@published' } },
        { accept: null },
      ],
    );
  });
});

void describe('rules: statements', () => {
  void it('verdicts', () => {
    assert.deepEqual(expr(m.accept), [{ accept: null }]);
    assert.deepEqual(expr(m.drop), [{ drop: null }]);
    assert.deepEqual(expr(m.ret), [{ return: null }]);
    assert.deepEqual(expr(m.jump('isolate')), [{ jump: { target: 'isolate' } }]);
    assert.deepEqual(expr(m.goTo('isolate')), [{ goto: { target: 'isolate' } }]);
  });
  void it('counter, masquerade, notrack', () => {
    assert.deepEqual(expr(m.match(m.udp.dport, 4789), m.counter, m.notrack), [
      { match: { op: '==', left: payload('udp', 'dport'), right: 4789 } },
      { counter: null },
      { notrack: null },
    ]);
    assert.deepEqual(expr(m.masquerade), [{ masquerade: null }]);
  });
  void it('snat and dnat to an address, address:port and a port range', () => {
    assert.deepEqual(expr(m.dnat('ip', '172.17.0.9')), [{ dnat: { family: 'ip', addr: '172.17.0.9' } }]);
    assert.deepEqual(expr(m.dnat('ip6', 'fd00::2', 8080)), [{ dnat: { family: 'ip6', addr: 'fd00::2', port: 8080 } }]);
    assert.deepEqual(expr(m.snat('ip6', 'fd01::1')), [{ snat: { family: 'ip6', addr: 'fd01::1' } }]);
    assert.deepEqual(expr(m.snat('ip', '10.0.0.1', m.range(1000, 2000))), [{ snat: { family: 'ip', addr: '10.0.0.1', port: { range: [1000, 2000] } } }]);
  });
  void it('dnat through a map with concatenated data sets address and port', () => {
    const key = m.concat(m.ip.daddr, m.meta('l4proto'), m.th.dport);
    assert.deepEqual(expr(m.dnat('ip', m.lookup(key, 'dnat4'))), [
      {
        dnat: {
          family: 'ip',
          addr: { map: { key: { concat: [payload('ip', 'daddr'), metaJ('l4proto'), payload('th', 'dport')] }, data: '@dnat4' } },
        },
      },
    ]);
    assert.equal(text(m.dnat('ip', m.lookup(key, 'dnat4'))), 'dnat ip to ip daddr . meta l4proto . th dport map @dnat4');
  });
  void it('dnat through an address map and a port map', () => {
    const key = m.concat(m.ip.daddr, m.tcp.dport);
    const k = { concat: [payload('ip', 'daddr'), payload('tcp', 'dport')] };
    assert.deepEqual(expr(m.dnat('ip', m.lookup(key, 'a'), m.lookup(key, 'p'))), [
      { dnat: { family: 'ip', addr: { map: { key: k, data: '@a' } }, port: { map: { key: k, data: '@p' } } } },
    ]);
    assert.equal(text(m.dnat('ip', m.lookup(key, 'a'), m.lookup(key, 'p'))), 'dnat ip to ip daddr . tcp dport map @a : ip daddr . tcp dport map @p');
  });
  void it('verdict maps, named and anonymous', () => {
    assert.deepEqual(expr(m.vmap(m.meta('iifname'), 'fwd_in')), [{ vmap: { key: metaJ('iifname'), data: '@fwd_in' } }]);
    assert.deepEqual(
      expr(
        m.vmap(m.meta('oifname'), [
          { key: 'br-y', data: m.drop },
          { key: 'br-z', data: m.goTo('isolate') },
        ]),
      ),
      [{ vmap: { key: metaJ('oifname'), data: { set: [['br-y', { drop: null }], ['br-z', { goto: { target: 'isolate' } }]] } } }],
    );
  });
  void it('comments, and deleting a rule by handle', () => {
    assert.deepEqual(json(m.add(m.rule(T, 'forward', [m.accept], 'berth: allow')), m.del({ kind: 'rule', table: T, chain: 'forward', statements: [], handle: 7 })), [
      { add: { rule: { ...at, chain: 'forward', expr: [{ accept: null }], comment: 'berth: allow' } } },
      { delete: { rule: { ...at, chain: 'forward', handle: 7 } } },
    ]);
  });
});

void describe('native syntax', () => {
  void it('says the same as the JSON, with values quoted', () => {
    const ops = [
      m.add(T),
      m.add(m.chain(T, 'forward', { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' })),
      m.add(m.chain(T, 'isolate')),
      m.add({ kind: 'set', table: T, name: 'published', type: ['ipv4_addr', 'inet_proto', 'inet_service'], flags: ['interval'], elements: [m.tuple(m.prefix('10.1.0.0', 16), 'udp', m.range(1000, 2000))] }),
      m.add({ kind: 'map', table: T, name: 'fwd_in', type: 'ifname', data: 'verdict', elements: [{ key: 'berth0', data: m.jump('isolate') }] }),
      m.add(m.rule(T, 'forward', [m.ctState('established', 'related'), m.counter, m.accept], 'ct')),
      m.add(m.rule(T, 'forward', [m.match(m.meta('l4proto'), m.anonSet('tcp', 'udp')), m.match(m.th.dport, 53), m.accept])),
      m.add(m.rule(T, 'forward', [m.match(m.ip.saddr, m.prefix('172.17.0.0', 16)), m.notMatch(m.ip.daddr, m.setRef('s')), m.accept])),
      m.add(m.rule(T, 'forward', [m.vmap(m.meta('oifname'), [{ key: 'br-y', data: m.drop }])])),
      m.add(m.rule(T, 'forward', [m.match(m.ip6.daddr, 'fd00::1'), m.match(m.tcp.dport, 80), m.dnat('ip6', 'fd00::2', 8080)])),
      m.add(m.rule(T, 'forward', [m.match(m.meta('l4proto'), 'tcp'), m.snat('ip', '10.0.0.1', m.range(1000, 2000))])),
      m.add(m.rule(T, 'forward', [m.fibDaddrLocal, m.match(m.meta('mark'), 1), m.masquerade, m.notrack])),
      m.del(m.elements(T, 'published', [m.tuple('10.0.0.1', 'tcp', 80)])),
      m.del({ kind: 'rule', table: T, chain: 'forward', statements: [], handle: 4 }),
      m.flush(m.chain(T, 'isolate')),
      m.del(m.chain(T, 'isolate'), { ifExists: true }),
    ];
    assert.deepEqual(
      renderNftTextCommands(ops).map((c) => c.command),
      [
        'add table inet berth',
        'add chain inet berth forward { type filter hook forward priority 0; policy accept; }',
        'add chain inet berth isolate',
        'add set inet berth published { type ipv4_addr . inet_proto . inet_service; flags interval; elements = { "10.1.0.0"/16 . "udp" . 1000-2000 }; }',
        'add map inet berth fwd_in { type ifname : verdict; elements = { "berth0" : jump isolate }; }',
        'add rule inet berth forward ct state established,related counter accept comment "ct"',
        'add rule inet berth forward meta l4proto { "tcp", "udp" } th dport 53 accept',
        'add rule inet berth forward ip saddr "172.17.0.0"/16 ip daddr != @s accept',
        'add rule inet berth forward meta oifname vmap { "br-y" : drop }',
        'add rule inet berth forward ip6 daddr "fd00::1" tcp dport 80 dnat ip6 to [fd00::2]:8080',
        'add rule inet berth forward meta l4proto "tcp" snat ip to 10.0.0.1:1000-2000',
        'add rule inet berth forward fib daddr type "local" meta mark 1 masquerade notrack',
        'delete element inet berth published { "10.0.0.1" . "tcp" . 80 }',
        'delete rule inet berth forward handle 4',
        'flush chain inet berth isolate',
        'add chain inet berth isolate',
        'delete chain inet berth isolate',
      ],
    );
  });
  void it('refuses values it cannot quote', () => {
    assert.throws(() => renderNftText([m.add(m.elements(T, 'ifs', ['a"b']))]), UserError);
    // JSON carries the same value safely
    assert.deepEqual(json(m.add(m.elements(T, 'ifs', ['a"b']))), [{ add: { element: { ...at, name: 'ifs', elem: ['a"b'] } } }]);
  });
});

void describe('validation', () => {
  const bad: [string, () => unknown][] = [
    ['a table name with a space', () => json(m.add(m.table('inet', 'my table')))],
    ['an unknown family', () => json(m.add(m.table('arp' as m.Family, 'berth')))],
    ['a chain name starting with a digit', () => json(m.add(m.chain(T, '1x')))],
    ['a jump to a bad chain name', () => expr(m.jump('a b'))],
    ['a negative port', () => expr(m.match(m.tcp.dport, -1))],
    ['a fractional number', () => expr(m.match(m.meta('mark'), 1.5))],
    ['a string that reads as a set reference', () => expr(m.match(m.meta('iifname'), '@x'))],
    ['a control character', () => expr(m.match(m.meta('iifname'), 'a\nb'))],
    ['a NAT address that is not an IP', () => expr(m.dnat('ip', 'host.example'))],
    ['a rule without statements', () => json(m.add(m.rule(T, 'c', [])))],
    ['an empty element list', () => json(m.add(m.elements(T, 's', [])))],
    ['a comment with a quote', () => json(m.add(m.rule(T, 'c', [m.accept], 'say "hi"')))],
    ['a comment over 128 bytes', () => json(m.add(m.rule(T, 'c', [m.accept], 'x'.repeat(129))))],
    ['an unknown set flag', () => json(m.add({ kind: 'set', table: T, name: 's', type: 'ipv4_addr', flags: ['dynamic' as m.SetFlag] }))],
    ['a one-item concatenation', () => expr(m.match(m.concat(m.ip.daddr), m.setRef('s')))],
    ['a one-item tuple', () => json(m.add(m.elements(T, 's', [m.tuple('10.0.0.1')])))],
    ['deleting a rule without its handle', () => json(m.del(m.rule(T, 'c', [m.accept])))],
    ['adding a rule with a handle', () => json(m.add({ kind: 'rule', table: T, chain: 'c', statements: [m.accept], handle: 3 }))],
    ['idempotent delete of a rule', () => json(m.del({ kind: 'rule', table: T, chain: 'c', statements: [], handle: 3 }, { ifExists: true }))],
    [
      'a NAT lookup in a set (nft 1.0.6 would crash)',
      () =>
        json(
          m.add({ kind: 'set', table: T, name: 'pub', type: ['ipv4_addr', 'inet_service'] }),
          m.add(m.rule(T, 'c', [m.dnat('ip', m.lookup(m.concat(m.ip.daddr, m.tcp.dport), 'pub'))])),
        ),
    ],
  ];
  for (const [what, fn] of bad) {
    void it(`refuses ${what}`, () => assert.throws(fn, UserError));
  }
  void it('names the op in batch-level errors', () => {
    assert.throws(() => json(m.add(T), m.del(m.rule(T, 'c', [m.accept]))), /op 1/);
  });
});
