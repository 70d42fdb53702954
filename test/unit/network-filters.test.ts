// Docker's network filters (src/engine/network-filters.ts): one module for ls and prune, API and CLI.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { checkFilters, filtersFromArgs, filtersFromJson, LIST_FILTERS, networkMatches, PRUNE_FILTERS, untilTime } from '../../src/engine/network-filters.js';
import { dockerBool } from '../../src/api/query.js';
import { checkNetworkName } from '../../src/common/network-name.js';
import type { NetworkRecord } from '../../src/store/store.js';
import { throwsUser } from './assert-errors.js';

const NOW = Date.parse('2026-01-01T12:00:00Z');
const net = (name: string, over: Partial<NetworkRecord> = {}): NetworkRecord => ({
  id: `${name.padEnd(4, 'x').slice(0, 4).replace(/[^0-9a-f]/g, 'a')}${'0'.repeat(60)}`,
  name, driver: 'bridge', scope: 'local', created: '2026-01-01T11:00:00Z', options: {}, labels: {},
  internal: false, attachable: false, ipv6: false, interfaceName: null, subnets: [], ...over,
});
const free = { inUse: false };

describe('network filters', () => {
  it('name is an unanchored regular expression, as Docker matches it', () => {
    assert.equal(networkMatches(net('web-front'), free, { name: ['front'] }), true);
    assert.equal(networkMatches(net('web-front'), free, { name: ['^front'] }), false);
    assert.equal(networkMatches(net('web-front'), free, { name: ['^web-f.*t$'] }), true);
    assert.equal(networkMatches(net('a(b'), free, { name: ['a(b'] }), true, 'an invalid expression matches exactly');
  });
  it('id matches a prefix; driver, scope exactly; type custom|builtin', () => {
    const n = net('abcd');
    assert.equal(networkMatches(n, free, { id: [n.id.slice(0, 6)] }), true);
    assert.equal(networkMatches(n, free, { driver: ['macvlan'] }), false);
    assert.equal(networkMatches(n, free, { scope: ['local'] }), true);
    assert.equal(networkMatches(net('bridge'), free, { type: ['builtin'] }), true);
    assert.equal(networkMatches(net('host'), free, { type: ['custom'] }), false);
  });
  it('label=k, label=k=v (all must match), label!=k', () => {
    const n = net('n', { labels: { keep: 'yes', team: 'blue' } });
    assert.equal(networkMatches(n, free, { label: ['keep'] }), true);
    assert.equal(networkMatches(n, free, { label: ['keep=yes', 'team=red'] }), false);
    assert.equal(networkMatches(n, free, { 'label!': ['keep=yes'] }), false);
    assert.equal(networkMatches(n, free, { 'label!': ['keep=no'] }), true);
  });
  it('dangling: true|1 never lists the pre-defined networks; false|0 lists them and those in use', () => {
    assert.equal(networkMatches(net('bridge'), free, { dangling: ['1'] }), false);
    assert.equal(networkMatches(net('spare'), free, { dangling: ['true'] }), true);
    assert.equal(networkMatches(net('spare'), { inUse: true }, { dangling: ['1'] }), false);
    assert.equal(networkMatches(net('none'), free, { dangling: ['0'] }), true);
    throwsUser(() => checkFilters({ dangling: ['maybe'] }, LIST_FILTERS), "dangling=maybe");
  });
  it('until: a Go duration or a timestamp; networks created before it match', () => {
    assert.equal(untilTime('1h30m', NOW), NOW - 90 * 60_000);
    assert.equal(untilTime('1700000000', NOW), 1_700_000_000_000);
    assert.equal(untilTime('2026-01-01', NOW), Date.parse('2026-01-01T00:00:00Z'));
    assert.equal(networkMatches(net('old'), free, { until: ['30m'] }, NOW), true);
    assert.equal(networkMatches(net('old'), free, { until: ['2h'] }, NOW), false);
    throwsUser(() => checkFilters({ until: ['yesterday'] }, PRUNE_FILTERS), 'until=yesterday');
  });
  it('unknown keys are refused, naming the key and what is accepted', () => {
    throwsUser(() => checkFilters({ colour: ['red'] }, LIST_FILTERS), "'colour'", 'name');
    throwsUser(() => checkFilters({ name: ['x'] }, PRUNE_FILTERS), "'name'", 'until');
  });
  it('CLI --filter and API filters JSON (both forms) parse alike', () => {
    assert.deepEqual(filtersFromArgs(['label=keep=yes', 'label!=x', 'until=1h']), { label: ['keep=yes'], 'label!': ['x'], until: ['1h'] });
    assert.deepEqual(filtersFromJson('{"name":{"a":true}}'), { name: ['a'] });
    throwsUser(() => filtersFromArgs(['nokey']), 'KEY=VALUE');
    throwsUser(() => filtersFromJson('[1]'), 'JSON object');
  });
});

describe('Docker boolean query values', () => {
  it('anything but "", 0, no, false, none is true', () => {
    for (const t of ['1', 'true', 'True', 'yes', 'on', 'x']) assert.equal(dockerBool(t), true, t);
    for (const f of [null, '', '0', 'no', 'False', 'NONE', ' false ']) assert.equal(dockerBool(f), false, String(f));
  });
});

describe('network names', () => {
  it('accepts what Docker accepts ("test 01"), refuses control characters, "/" and > 255 bytes', () => {
    assert.equal(checkNetworkName('test 01'), 'test 01');
    assert.equal(checkNetworkName('-x'), '-x');
    throwsUser(() => checkNetworkName('a\u001b[31m'), 'control character', '\\u001b');
    throwsUser(() => checkNetworkName('a/b'), "'/'");
    throwsUser(() => checkNetworkName('é'.repeat(128)), '255 bytes');
    throwsUser(() => checkNetworkName(' '), 'white space');
  });
});
