// The embedded DNS resolver against a fake in-memory DnsView and a stub forwarder, with real
// dns-packet encoded queries: no sockets.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  AUTHORITATIVE_ANSWER,
  RECURSION_AVAILABLE,
  RECURSION_DESIRED,
  TRUNCATED_RESPONSE,
  decode,
  encode,
  type Answer,
  type DecodedPacket,
  type OptAnswer,
  type Packet,
  type RecordType,
} from 'dns-packet';
import { ipToReverseName } from '../../src/dns/addr.js';
import { ForwardError, type DnsForwarder, type ForwardOptions } from '../../src/dns/forward.js';
import { DNS_TTL, answer, respond, type AnswerOptions } from '../../src/dns/resolver.js';
import type { DnsAddresses, DnsClientInfo, DnsView } from '../../src/dns/view.js';

// ---- a fake view: containers with endpoints on networks --------------------------------------

interface FakeEndpoint {
  v4?: string;
  v6?: string;
  aliases?: string[];
}
interface FakeContainer {
  id: string;
  name: string;
  nets: Record<string, FakeEndpoint>;
  dns?: string[];
}

class FakeView implements DnsView {
  calls = 0;
  constructor(
    readonly containers: FakeContainer[],
    readonly internal: Set<string> = new Set(),
    readonly hostUpstreams: string[] = ['192.0.2.53'],
  ) {}

  lookupClient(ip: string): DnsClientInfo | undefined {
    const c = this.containers.find((x) => Object.values(x.nets).some((ep) => ep.v4 === ip || ep.v6 === ip));
    if (!c) return undefined;
    const networkIds = Object.keys(c.nets);
    return {
      containerId: c.id,
      networkIds,
      internalOnly: networkIds.every((n) => this.internal.has(n)),
      upstreams: c.dns ?? this.hostUpstreams,
    };
  }

  lookupName(name: string, networkIds: readonly string[]): DnsAddresses | undefined {
    this.calls++;
    const v4: string[] = [];
    const v6: string[] = [];
    let found = false;
    for (const c of this.containers) {
      for (const [net, ep] of Object.entries(c.nets)) {
        if (!networkIds.includes(net)) continue;
        const names = [c.name, c.id, c.id.slice(0, 12), ...(ep.aliases ?? [])];
        if (!names.includes(name)) continue;
        found = true;
        if (ep.v4) v4.push(ep.v4);
        if (ep.v6) v6.push(ep.v6);
      }
    }
    return found ? { v4, v6 } : undefined;
  }

  lookupAddress(ip: string, networkIds: readonly string[]): string[] | undefined {
    for (const c of this.containers) {
      for (const [net, ep] of Object.entries(c.nets)) {
        if (networkIds.includes(net) && (ep.v4 === ip || ep.v6 === ip)) return [c.name];
      }
    }
    return undefined;
  }
}

const hex = (c: string) => c.repeat(64);
const WEB: FakeContainer = { id: hex('a'), name: 'web', nets: { n1: { v4: '10.1.0.2', v6: 'fd00:1::2' } } };
const DB: FakeContainer = { id: hex('b'), name: 'db', nets: { n1: { v4: '10.1.0.3' } } };
const CLIENT: FakeContainer = { id: hex('c'), name: 'client', nets: { n1: { v4: '10.1.0.9', v6: 'fd00:1::9' } } };
const API = (i: number): FakeContainer => ({
  id: hex(String(i)),
  name: `api${i}`,
  nets: { n1: { v4: `10.1.0.${20 + i}`, v6: `fd00:1::${20 + i}`, aliases: ['api'] } },
});
const OTHER: FakeContainer = { id: hex('d'), name: 'secret', nets: { n2: { v4: '10.2.0.2', aliases: ['hidden'] } } };
const LONER: FakeContainer = { id: hex('e'), name: 'loner', nets: { n3: { v4: '10.3.0.2' } } };

function view(): FakeView {
  return new FakeView([WEB, DB, CLIENT, API(1), API(2), API(3), OTHER, LONER], new Set(['n3']));
}

// ---- a stub forwarder: records what it was asked, answers from a canned reply ----------------

class StubForwarder implements DnsForwarder {
  calls: { query: Buffer; upstreams: readonly string[]; opts: ForwardOptions | undefined }[] = [];
  constructor(private readonly reply: (query: Buffer) => Buffer | Error) {}
  forward(query: Buffer, upstreams: readonly string[], opts?: ForwardOptions): Promise<Buffer> {
    this.calls.push({ query, upstreams, opts });
    const r = this.reply(query);
    return r instanceof Error ? Promise.reject(r) : Promise.resolve(r);
  }
}

/** An upstream that says every name is 198.51.100.7 (and is not authoritative, nor sets RA). */
function upstreamAnswer(query: Buffer): Buffer {
  const q = decode(query);
  return encode({
    type: 'response',
    id: q.id,
    flags: RECURSION_DESIRED,
    questions: q.questions,
    answers: [{ type: 'A', name: q.questions?.[0]?.name ?? '', ttl: 30, data: '198.51.100.7' }],
  });
}

let nextId = 1;
function query(name: string, type: RecordType = 'A', extra: Partial<Packet> = {}): Buffer {
  return encode({ type: 'query', id: nextId++ & 0xffff, flags: RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }], ...extra });
}

async function ask(
  q: Buffer | Packet,
  opts: { from?: string; view?: DnsView; forwarder?: DnsForwarder } & AnswerOptions = {},
): Promise<DecodedPacket & { rcode: string; raw: Buffer }> {
  const forwarder = opts.forwarder ?? new StubForwarder(upstreamAnswer);
  const out = await answer(q, { ip: opts.from ?? '10.1.0.9' }, opts.view ?? view(), { ...opts, forwarder });
  assert.ok(out, 'expected an answer');
  return Object.assign(decode(out) as DecodedPacket & { rcode: string }, { raw: out });
}

const data = (answers: Answer[] | undefined) => (answers ?? []).map((a) => (a as { data: unknown }).data);

void describe('dns resolver: berth names', () => {
  void test('A for a container name: authoritative, RA, TTL 600, id, question and RD echoed', async () => {
    const q = query('web');
    const r = await ask(q);
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.id, q.readUInt16BE(0));
    assert.equal(r.type, 'response');
    assert.ok(r.flag_aa && r.flag_ra && r.flag_rd);
    assert.equal(r.flag_tc, false);
    assert.deepEqual(r.questions, [{ name: 'web', type: 'A', class: 'IN' }]);
    assert.deepEqual(data(r.answers), ['10.1.0.2']);
    assert.equal(r.answers?.[0]?.type, 'A');
    assert.equal((r.answers?.[0] as { ttl: number }).ttl, DNS_TTL);
    assert.equal(DNS_TTL, 600);
    assert.equal(r.additionals?.length, 0, 'no OPT when the query had none');
  });

  void test('AAAA for a container name', async () => {
    const r = await ask(query('web', 'AAAA'));
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual(data(r.answers), ['fd00:1::2']);
    assert.equal(r.answers?.[0]?.type, 'AAAA');
  });

  void test('ANY gives both families', async () => {
    const r = await ask(query('web', 'ANY' as RecordType));
    assert.deepEqual(data(r.answers).sort(), ['10.1.0.2', 'fd00:1::2']);
  });

  void test('an alias on several containers: every address, in rotating order', async () => {
    const v = view();
    const firsts = new Set<unknown>();
    for (let i = 0; i < 6; i++) {
      const r = await ask(query('api'), { view: v });
      assert.deepEqual(data(r.answers).sort(), ['10.1.0.21', '10.1.0.22', '10.1.0.23']);
      firsts.add(data(r.answers)[0]);
    }
    assert.equal(firsts.size, 3, 'each address comes first in turn');
    const r6 = await ask(query('api', 'AAAA'), { view: v });
    assert.deepEqual(data(r6.answers).sort(), ['fd00:1::21', 'fd00:1::22', 'fd00:1::23']);
  });

  void test('rotation keeps the cyclic order of the list', async () => {
    const v = view();
    for (let i = 0; i < 4; i++) {
      const got = data((await ask(query('api'), { view: v })).answers) as string[];
      const start = ['10.1.0.21', '10.1.0.22', '10.1.0.23'].indexOf(got[0] ?? '');
      const expected = [0, 1, 2].map((k) => `10.1.0.${21 + ((start + k) % 3)}`);
      assert.deepEqual(got, expected);
    }
  });

  void test('container ids: the 12-hex short id, and a full id that fits in a DNS label', async () => {
    assert.deepEqual(data((await ask(query(hex('a').slice(0, 12)))).answers), ['10.1.0.2']);
    assert.deepEqual(data((await ask(query(hex('b').slice(0, 12)))).answers), ['10.1.0.3']);
    const v = new FakeView([CLIENT, { id: 'f'.repeat(40), name: 'sha1ish', nets: { n1: { v4: '10.1.0.40' } } }]);
    assert.deepEqual(data((await ask(query('f'.repeat(40)), { view: v })).answers), ['10.1.0.40']);
  });

  void test('a 64-hex id is one label longer than DNS allows (63): such a message is FORMERR', async () => {
    // dns-packet writes the 64-byte label; real stub resolvers refuse to (res_mkquery fails)
    assert.equal((await ask(query(hex('a')))).rcode, 'FORMERR');
  });

  void test('case-insensitive, with or without a trailing dot; the question is echoed as asked', async () => {
    for (const name of ['WEB', 'Web.', 'web.', hex('A').slice(0, 12)]) {
      const r = await ask(query(name));
      assert.equal(r.rcode, 'NOERROR', name);
      assert.deepEqual(data(r.answers), ['10.1.0.2'], name);
    }
    const r = await ask(query('wEb'));
    assert.equal(r.questions?.[0]?.name, 'wEb');
    assert.equal(r.answers?.[0]?.name, 'wEb');
  });

  void test('the view is asked with the lower-case name, without the trailing dot', async () => {
    const seen: string[] = [];
    const v = view();
    const spy: DnsView = {
      lookupClient: (ip) => v.lookupClient(ip),
      lookupName: (n, ids) => {
        seen.push(n);
        return v.lookupName(n, ids);
      },
    };
    await ask(query('MiXeD.Example.'), { view: spy });
    assert.deepEqual(seen, ['mixed.example']);
  });

  void test('a name berth knows without an address of the asked family: NODATA, not NXDOMAIN', async () => {
    const r = await ask(query('db', 'AAAA'));
    assert.equal(r.rcode, 'NOERROR');
    assert.ok(r.flag_aa);
    assert.deepEqual(r.answers, []);
    const mx = await ask(query('web', 'MX'));
    assert.equal(mx.rcode, 'NOERROR');
    assert.deepEqual(mx.answers, []);
  });

  void test('PTR for a container address on a shared network', async () => {
    const r = await ask(query(ipToReverseName('10.1.0.3'), 'PTR'));
    assert.equal(r.rcode, 'NOERROR');
    assert.ok(r.flag_aa);
    assert.deepEqual(data(r.answers), ['db']);
    const r6 = await ask(query(ipToReverseName('fd00:1::2'), 'PTR'));
    assert.deepEqual(data(r6.answers), ['web']);
  });
});

void describe('dns resolver: other names, networks and clients', () => {
  void test('a name only on a network the client is not on is not berth’s to give: forwarded', async () => {
    const fwd = new StubForwarder(upstreamAnswer);
    for (const name of ['secret', 'hidden', hex('d').slice(0, 12)]) {
      const r = await ask(query(name), { forwarder: fwd });
      assert.deepEqual(data(r.answers), ['198.51.100.7'], name);
      assert.equal(r.flag_aa, false, 'the upstream answer as it came');
    }
    assert.equal(fwd.calls.length, 3);
  });

  void test('PTR of an address on a network the client is not on is forwarded', async () => {
    const fwd = new StubForwarder(upstreamAnswer);
    await ask(query(ipToReverseName('10.2.0.2'), 'PTR'), { forwarder: fwd });
    assert.equal(fwd.calls.length, 1);
  });

  void test('unknown names go to the client’s upstreams, the query bytes unchanged; RA set on the way back', async () => {
    const fwd = new StubForwarder(upstreamAnswer);
    const q = query('example.com');
    const r = await ask(q, { forwarder: fwd });
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(r.id, q.readUInt16BE(0));
    assert.ok(r.flag_ra);
    assert.deepEqual(data(r.answers), ['198.51.100.7']);
    assert.equal(fwd.calls.length, 1);
    assert.deepEqual(fwd.calls[0]?.upstreams, ['192.0.2.53']);
    assert.ok(fwd.calls[0]?.query.equals(q));
    assert.equal(fwd.calls[0]?.opts?.tcpOnTruncation, false, 'a UDP client retries over TCP itself');
  });

  void test('--dns servers of the container are its upstreams; over TCP truncated answers are fetched over TCP', async () => {
    const v = new FakeView([{ ...CLIENT, dns: ['192.0.2.1:5300', '192.0.2.2'] }]);
    const fwd = new StubForwarder(upstreamAnswer);
    await ask(query('example.com'), { view: v, forwarder: fwd, transport: 'tcp' });
    assert.deepEqual(fwd.calls[0]?.upstreams, ['192.0.2.1:5300', '192.0.2.2']);
    assert.equal(fwd.calls[0]?.opts?.tcpOnTruncation, true);
  });

  void test('a client whose networks are all --internal: unknown and foreign names are NXDOMAIN, nothing forwarded', async () => {
    const fwd = new StubForwarder(upstreamAnswer);
    for (const name of ['example.com', 'secret', 'web']) {
      const r = await ask(query(name), { from: '10.3.0.2', forwarder: fwd });
      assert.equal(r.rcode, 'NXDOMAIN', name);
      assert.ok(r.flag_ra);
    }
    assert.equal(fwd.calls.length, 0);
    // its own names still resolve
    const own = await ask(query('loner'), { from: '10.3.0.2', forwarder: fwd });
    assert.deepEqual(data(own.answers), ['10.3.0.2']);
  });

  void test('no upstreams: SERVFAIL', async () => {
    const v = new FakeView([CLIENT], new Set(), []);
    const r = await ask(query('example.com'), { view: v });
    assert.equal(r.rcode, 'SERVFAIL');
  });

  void test('no upstream answers: SERVFAIL', async () => {
    const fwd = new StubForwarder(() => new ForwardError('no upstream answered'));
    const r = await ask(query('example.com'), { forwarder: fwd });
    assert.equal(r.rcode, 'SERVFAIL');
    assert.deepEqual(r.questions, [{ name: 'example.com', type: 'A', class: 'IN' }]);
  });

  void test('an unknown client: REFUSED, nothing forwarded', async () => {
    const fwd = new StubForwarder(upstreamAnswer);
    for (const name of ['web', 'example.com']) {
      const r = await ask(query(name), { from: '10.9.9.9', forwarder: fwd });
      assert.equal(r.rcode, 'REFUSED', name);
      assert.deepEqual(r.answers, []);
    }
    assert.equal(fwd.calls.length, 0);
  });

  void test('clients by IPv6 and by IPv4-mapped IPv6 source address', async () => {
    assert.equal((await ask(query('web'), { from: 'fd00:1:0:0:0:0:0:9' })).rcode, 'NOERROR');
    assert.equal((await ask(query('web'), { from: '::ffff:10.1.0.9' })).rcode, 'NOERROR');
  });
});

void describe('dns resolver: malformed and unusual messages', () => {
  void test('garbage that cannot be parsed is ignored; a response is never answered', async () => {
    const v = view();
    assert.equal(await answer(Buffer.alloc(0), { ip: '10.1.0.9' }, v), null);
    assert.equal(await answer(Buffer.from('hello'), { ip: '10.1.0.9' }, v), null);
    const resp = encode({ type: 'response', id: 7, questions: [{ type: 'A', name: 'web' }] });
    assert.equal(await answer(resp, { ip: '10.1.0.9' }, v), null);
    assert.equal(await answer(decode(resp), { ip: '10.1.0.9' }, v), null);
  });

  void test('a header followed by garbage: FORMERR with the id and RD echoed', async () => {
    const bad = Buffer.concat([Buffer.from([0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]), Buffer.from([0x3f, 0x41])]);
    const r = await ask(bad);
    assert.equal(r.rcode, 'FORMERR');
    assert.equal(r.id, 0x1234);
    assert.ok(r.flag_rd && r.flag_ra);
    // a name with a forward compression pointer, and a label longer than the message
    for (const body of [[0xc0, 0x20, 0, 1, 0, 1], [0x05, 0x41, 0, 1]]) {
      const msg = Buffer.concat([Buffer.from([0, 9, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from(body)]);
      assert.equal((await ask(msg)).rcode, 'FORMERR');
    }
  });

  void test('no question, or two: FORMERR', async () => {
    const none = encode({ type: 'query', id: 5, flags: RECURSION_DESIRED, questions: [] });
    assert.equal((await ask(none)).rcode, 'FORMERR');
    const two = encode({ type: 'query', id: 6, questions: [{ type: 'A', name: 'web' }, { type: 'A', name: 'db' }] });
    const r = await ask(two);
    assert.equal(r.rcode, 'FORMERR');
    assert.deepEqual(r.answers, []);
  });

  void test('an opcode other than QUERY: NOTIMP', async () => {
    const update = encode({ type: 'query', id: 8, flags: 5 << 11, questions: [{ type: 'SOA', name: 'web' }] });
    const r = await ask(update);
    assert.equal(r.rcode, 'NOTIMP');
    assert.equal((r as unknown as { opcode: string }).opcode, 'UPDATE');
  });

  void test('EDNS: an OPT in the query gets one back; version above 0 gets BADVERS', async () => {
    const opt: OptAnswer = { type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
    const r = await ask(query('web', 'A', { additionals: [{ ...opt, options: [{ code: 'COOKIE' as never, data: Buffer.alloc(8, 1) }] }] }));
    assert.equal(r.rcode, 'NOERROR');
    assert.deepEqual(data(r.answers), ['10.1.0.2']);
    const ropt = r.additionals?.find((a) => a.type === 'OPT');
    assert.ok(ropt, 'OPT in the answer');
    assert.equal(ropt.udpPayloadSize, 1232);
    assert.equal(ropt.ednsVersion, 0);
    const bad = await ask(query('web', 'A', { additionals: [{ ...opt, ednsVersion: 1 }] }));
    const bopt = bad.additionals?.find((a) => a.type === 'OPT');
    assert.equal(bopt?.extendedRcode, 1, 'BADVERS is extended rcode 16');
    assert.deepEqual(bad.answers, []);
    const twoOpts = await ask(query('web', 'A', { additionals: [opt, opt] }));
    assert.equal(twoOpts.rcode, 'FORMERR');
  });

  void test('an answer too big for UDP is cut with TC set; over TCP, or with EDNS room, it comes whole', async () => {
    // dns-packet does not compress names: each A record repeats the owner name (here 5 + 14 bytes)
    const many = Array.from({ length: 60 }, (_, i) => ({ id: hex('f').slice(0, 60) + String(1000 + i), name: `m${i}`, nets: { n1: { v4: `10.1.1.${i + 1}`, aliases: ['svc'] } } }));
    const v = new FakeView([CLIENT, ...many]);
    const udp = await ask(query('svc'), { view: v });
    assert.ok(udp.flag_tc, 'TC set');
    assert.ok(udp.raw.length <= 512, `${udp.raw.length} bytes fit in 512`);
    assert.ok((udp.answers?.length ?? 0) > 0 && (udp.answers?.length ?? 0) < 60);
    const tcp = await ask(query('svc'), { view: v, transport: 'tcp' });
    assert.equal(tcp.flag_tc, false);
    assert.equal(tcp.answers?.length, 60);
    const edns = await ask(
      query('svc', 'A', { additionals: [{ type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }] }),
      { view: v },
    );
    assert.equal(edns.flag_tc, false, 'fits in 1232 with EDNS');
    assert.equal(edns.answers?.length, 60);
    assert.ok(edns.raw.length <= 1232);
  });

  void test('a view that throws: SERVFAIL, and the error is reported', async () => {
    const errors: unknown[] = [];
    const broken: DnsView = {
      lookupClient: () => ({ containerId: 'x', networkIds: ['n1'], internalOnly: false, upstreams: [] }),
      lookupName: () => {
        throw new Error('store gone');
      },
    };
    const r = await ask(query('web'), { view: broken, onError: (e) => errors.push(e) });
    assert.equal(r.rcode, 'SERVFAIL');
    assert.match(String(errors[0]), /store gone/);
  });

  void test('a forwarded answer larger than the client takes is cut to its header and question, TC set', async () => {
    const big = (q: Buffer) => {
      const d = decode(q);
      const name = d.questions?.[0]?.name ?? '';
      const answers: Answer[] = Array.from({ length: 50 }, (_, i) => ({ type: 'A', name, ttl: 30, data: `198.51.100.${i}` }));
      return encode({ type: 'response', id: d.id, flags: RECURSION_DESIRED, questions: d.questions, answers });
    };
    const r = await ask(query('big.example'), { forwarder: new StubForwarder(big) });
    assert.ok(r.flag_tc);
    assert.deepEqual(r.answers, []);
    assert.equal(r.questions?.[0]?.name, 'big.example');
    const opt: OptAnswer = { type: 'OPT', name: '.', udpPayloadSize: 4096, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
    const roomy = await ask(query('big.example', 'A', { additionals: [opt] }), { forwarder: new StubForwarder(big) });
    assert.equal(roomy.flag_tc, false, 'the client said it takes 4096 bytes');
    assert.equal(roomy.answers?.length, 50);
  });

  void test('a decoded Packet is accepted as the query', async () => {
    const r = await ask({ type: 'query', id: 42, flags: RECURSION_DESIRED, questions: [{ type: 'A', name: 'db.' }] });
    assert.equal(r.id, 42);
    assert.deepEqual(data(r.answers), ['10.1.0.3']);
    const fwd = new StubForwarder(upstreamAnswer);
    await ask({ type: 'query', id: 43, questions: [{ type: 'A', name: 'example.org' }] }, { forwarder: fwd });
    assert.equal(decode(fwd.calls[0]?.query ?? Buffer.alloc(0)).questions?.[0]?.name, 'example.org');
  });

  void test('respond() answers berth names without a promise (the server’s hot path)', () => {
    const out = respond(query('web'), '10.1.0.9', view());
    assert.ok(Buffer.isBuffer(out));
    const d = decode(out);
    assert.equal((d.flags ?? 0) & AUTHORITATIVE_ANSWER, AUTHORITATIVE_ANSWER);
    assert.equal((d.flags ?? 0) & RECURSION_AVAILABLE, RECURSION_AVAILABLE);
    assert.equal((d.flags ?? 0) & TRUNCATED_RESPONSE, 0);
  });

  void test('observe reports each outcome', async () => {
    const seen: string[] = [];
    const v = view();
    const fwd = new StubForwarder(upstreamAnswer);
    const o: AnswerOptions = { observe: (x) => seen.push(x), forwarder: fwd };
    await answer(query('web'), { ip: '10.1.0.9' }, v, o);
    await answer(query('db', 'AAAA'), { ip: '10.1.0.9' }, v, o);
    await answer(query('example.com'), { ip: '10.1.0.9' }, v, o);
    await answer(query('example.com'), { ip: '10.3.0.2' }, v, o);
    await answer(query('web'), { ip: '10.9.9.9' }, v, o);
    await answer(Buffer.from([1, 2, 3]), { ip: '10.1.0.9' }, v, o);
    assert.deepEqual(seen, ['answered', 'nodata', 'forwarded', 'nxdomain', 'refused', 'ignored']);
  });
});
