// DnsTable (the in-memory DnsView the daemon feeds) and the DNS address helpers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { canonicalIp, clientIp, ipToReverseName, parseUpstream, reverseNameToIp } from '../../src/dns/addr.js';
import { DnsTable } from '../../src/dns/table.js';

const id = (c: string) => c.repeat(64);

function table(): DnsTable {
  const t = new DnsTable({ hostUpstreams: ['192.0.2.53'] });
  t.setNetwork({ id: 'n1', name: 'front' });
  t.setNetwork({ id: 'n2', name: 'back' });
  t.setNetwork({ id: 'n3', name: 'vault', internal: true });
  t.setContainer({ id: id('a'), name: 'web', endpoints: [{ networkId: 'n1', ipv4: '10.1.0.2', ipv6: 'FD00:1:0::2', aliases: ['www', 'api'] }] });
  t.setContainer({
    id: id('b'),
    name: 'app',
    endpoints: [
      { networkId: 'n1', ipv4: '10.1.0.3', aliases: ['api'] },
      { networkId: 'n2', ipv4: '10.2.0.3', aliases: ['api'] },
    ],
    dns: ['192.0.2.1:5300'],
  });
  t.setContainer({ id: id('c'), name: 'db', endpoints: [{ networkId: 'n2', ipv4: '10.2.0.4' }] });
  t.setContainer({ id: id('d'), name: 'safe', endpoints: [{ networkId: 'n3', ipv4: '10.3.0.2' }] });
  return t;
}

void describe('DnsTable', () => {
  void test('clients by address: networks, upstreams (--dns or the host’s), internal-only', () => {
    const t = table();
    assert.deepEqual(t.lookupClient('10.1.0.2'), { containerId: id('a'), networkIds: ['n1'], internalOnly: false, upstreams: ['192.0.2.53'] });
    assert.deepEqual(t.lookupClient('fd00:1::2')?.containerId, id('a'));
    assert.deepEqual(t.lookupClient('10.2.0.3'), { containerId: id('b'), networkIds: ['n1', 'n2'], internalOnly: false, upstreams: ['192.0.2.1:5300'] });
    assert.equal(t.lookupClient('10.3.0.2')?.internalOnly, true);
    assert.equal(t.lookupClient('10.9.9.9'), undefined);
    t.setHostUpstreams(['192.0.2.99']);
    assert.deepEqual(t.lookupClient('10.1.0.2')?.upstreams, ['192.0.2.99']);
    t.setNetwork({ id: 'n3', name: 'vault', internal: false });
    assert.equal(t.lookupClient('10.3.0.2')?.internalOnly, false);
  });

  void test('names, aliases, ids and short ids, only on the networks asked', () => {
    const t = table();
    assert.deepEqual(t.lookupName('web', ['n1']), { v4: ['10.1.0.2'], v6: ['fd00:1::2'] });
    assert.deepEqual(t.lookupName('www', ['n1']), { v4: ['10.1.0.2'], v6: ['fd00:1::2'] });
    assert.deepEqual(t.lookupName(id('a'), ['n1'])?.v4, ['10.1.0.2']);
    assert.deepEqual(t.lookupName(id('a').slice(0, 12), ['n1'])?.v4, ['10.1.0.2']);
    assert.deepEqual(t.lookupName('api', ['n1']), { v4: ['10.1.0.2', '10.1.0.3'], v6: ['fd00:1::2'] });
    assert.deepEqual(t.lookupName('api', ['n2']), { v4: ['10.2.0.3'], v6: [] });
    assert.deepEqual([...(t.lookupName('api', ['n1', 'n2'])?.v4 ?? [])].sort(), ['10.1.0.2', '10.1.0.3', '10.2.0.3']);
    assert.equal(t.lookupName('db', ['n1']), undefined, 'db is on n2 only');
    assert.deepEqual(t.lookupName('db', ['n1', 'n2'])?.v4, ['10.2.0.4']);
    assert.equal(t.lookupName('nope', ['n1', 'n2']), undefined);
    assert.equal(t.lookupName('web', []), undefined);
  });

  void test('name.network resolves on that network only', () => {
    const t = table();
    assert.deepEqual(t.lookupName('web.front', ['n1'])?.v4, ['10.1.0.2']);
    assert.deepEqual(t.lookupName('app.back', ['n1', 'n2'])?.v4, ['10.2.0.3']);
    assert.equal(t.lookupName('db.back', ['n1']), undefined, 'client not on back');
    assert.equal(t.lookupName('web.back', ['n1', 'n2']), undefined, 'web not on back');
  });

  void test('names are stored lower case (the resolver asks in lower case)', () => {
    const t = new DnsTable();
    t.setContainer({ id: id('e'), name: '/MyApp', endpoints: [{ networkId: 'n1', ipv4: '10.1.0.7', aliases: ['Svc.'] }] });
    assert.deepEqual(t.lookupName('myapp', ['n1'])?.v4, ['10.1.0.7']);
    assert.deepEqual(t.lookupName('svc', ['n1'])?.v4, ['10.1.0.7']);
  });

  void test('reverse lookups: the container name, for shared networks only', () => {
    const t = table();
    assert.deepEqual(t.lookupAddress('10.1.0.2', ['n1']), ['web']);
    assert.deepEqual(t.lookupAddress('fd00:1::2', ['n1']), ['web']);
    assert.equal(t.lookupAddress('10.2.0.4', ['n1']), undefined);
    assert.equal(t.lookupAddress('10.9.9.9', ['n1']), undefined);
  });

  void test('replacing and removing containers and networks updates every index', () => {
    const t = table();
    t.setContainer({ id: id('a'), name: 'web2', endpoints: [{ networkId: 'n1', ipv4: '10.1.0.12' }] });
    assert.equal(t.lookupName('web', ['n1']), undefined);
    assert.equal(t.lookupName('www', ['n1']), undefined);
    assert.deepEqual(t.lookupName('api', ['n1'])?.v4, ['10.1.0.3']);
    assert.deepEqual(t.lookupName('web2', ['n1'])?.v4, ['10.1.0.12']);
    assert.equal(t.lookupClient('10.1.0.2'), undefined);
    assert.equal(t.lookupClient('10.1.0.12')?.containerId, id('a'));
    t.removeContainer(id('b'));
    assert.equal(t.lookupName('api', ['n1', 'n2']), undefined);
    assert.equal(t.lookupClient('10.2.0.3'), undefined);
    t.removeContainer(id('b'));
    t.removeNetwork('n2');
    assert.equal(t.lookupName('db', ['n2']), undefined);
    assert.deepEqual(t.lookupClient('10.1.0.12')?.networkIds, ['n1']);
    assert.equal(t.size, 3);
  });
});

void describe('dns address helpers', () => {
  void test('canonicalIp: RFC 5952 IPv6, IPv4-mapped to IPv4, zone dropped, junk rejected', () => {
    const cases: [string, string | undefined][] = [
      ['10.0.0.1', '10.0.0.1'],
      ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
      ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
      ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'],
      ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
      ['::', '::'],
      ['::1', '::1'],
      ['1::', '1::'],
      ['::ffff:10.1.2.3', '10.1.2.3'],
      ['::ffff:a01:203', '10.1.2.3'],
      ['64:ff9b::192.0.2.1', '64:ff9b::c000:201'],
      ['fe80::1%eth0', 'fe80::1'],
      ['nope', undefined],
      ['1.2.3', undefined],
      ['1:2:3:4:5:6:7:8:9', undefined],
    ];
    for (const [input, want] of cases) assert.equal(canonicalIp(input), want, input);
    assert.equal(clientIp('10.0.0.1'), '10.0.0.1');
    assert.equal(clientIp('::ffff:10.0.0.1'), '10.0.0.1');
  });

  void test('reverse names both ways', () => {
    assert.equal(ipToReverseName('10.1.2.3'), '3.2.1.10.in-addr.arpa');
    assert.equal(reverseNameToIp('3.2.1.10.in-addr.arpa'), '10.1.2.3');
    const v6 = ipToReverseName('fd00:1::2');
    assert.equal(v6, '2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.0.0.d.f.ip6.arpa');
    assert.equal(reverseNameToIp(v6), 'fd00:1::2');
    for (const bad of ['2.1.10.in-addr.arpa', '256.2.1.10.in-addr.arpa', '01.2.1.10.in-addr.arpa', 'x.ip6.arpa', 'web', 'in-addr.arpa']) {
      assert.equal(reverseNameToIp(bad), undefined, bad);
    }
  });

  void test('parseUpstream: IP, IP:PORT, [IPv6]:PORT, bare IPv6', () => {
    assert.deepEqual(parseUpstream('192.0.2.1'), { address: '192.0.2.1', port: 53, family: 4, text: '192.0.2.1:53' });
    assert.deepEqual(parseUpstream('127.0.0.1:5353'), { address: '127.0.0.1', port: 5353, family: 4, text: '127.0.0.1:5353' });
    assert.deepEqual(parseUpstream('2001:DB8::1'), { address: '2001:db8::1', port: 53, family: 6, text: '[2001:db8::1]:53' });
    assert.deepEqual(parseUpstream('[::1]:5300'), { address: '::1', port: 5300, family: 6, text: '[::1]:5300' });
    assert.deepEqual(parseUpstream('[::1]')?.port, 53);
    for (const bad of ['', 'dns.example', '1.2.3.4:0', '1.2.3.4:70000', '1.2.3.4:x', '[::1', '[::1]x', 'fe80::1%eth0', '[nope]:53']) {
      assert.equal(parseUpstream(bad), undefined, bad);
    }
  });
});
