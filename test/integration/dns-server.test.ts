// The embedded DNS server for real, on 127.0.0.1 and random high ports (no root needed), with
// fake upstream resolvers on 127.0.0.1: berth names, forwarding, timeouts falling through to the
// next upstream, TCP, truncation, DnsServers.sync, and a bounded load test that prints qps and p99.
// Every packet stays on 127.0.0.1.
import assert from 'node:assert/strict';
import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import { after, before, describe, it } from 'node:test';
import { RECURSION_DESIRED, TRUNCATED_RESPONSE, decode, encode, type Answer, type DecodedPacket, type Packet, type RecordType } from 'dns-packet';
import { ForwardError, Forwarder, forward } from '../../src/dns/forward.js';
import { DnsServers, startDnsServer, type DnsServer } from '../../src/dns/server.js';
import { bindUdp, listenTcp } from '../../src/dns/sockets.js';
import { DnsTable } from '../../src/dns/table.js';

const LO = '127.0.0.1';
const execFileAsync = promisify(execFile);

type Decoded = DecodedPacket & { rcode: string };

// ---- a fake upstream resolver ---------------------------------------------------------------

interface FakeUpstream {
  readonly port: number;
  readonly text: string;
  readonly udpQueries: number;
  readonly tcpQueries: number;
  close(): Promise<void>;
}

/**
 * Answers every A question with 198.51.100.7, except: `big.test` (40 records: over UDP without
 * room it answers truncated, TC set and no records), `nx.test` (NXDOMAIN). mode 'silent' never
 * answers; 'servfail' answers SERVFAIL to everything.
 */
async function fakeUpstream(mode: 'ok' | 'silent' | 'servfail' = 'ok'): Promise<FakeUpstream> {
  const udp = await bindUdp(LO, 0);
  const port = udp.address().port;
  const tcp = await listenTcp(LO, port).catch(() => undefined);
  const state = { udpQueries: 0, tcpQueries: 0 };
  const reply = (msg: Buffer, overTcp: boolean): Buffer | undefined => {
    if (mode === 'silent') return undefined;
    const q = decode(msg);
    const question = q.questions?.[0];
    const base: Packet = { type: 'response', id: q.id, flags: (q.flags ?? 0) & RECURSION_DESIRED, questions: q.questions, additionals: [] };
    if (mode === 'servfail') return encode({ ...base, flags: (base.flags ?? 0) | 2 });
    if (question?.name === 'nx.test') return encode({ ...base, flags: (base.flags ?? 0) | 3 });
    if (question?.name === 'big.test') {
      const answers: Answer[] = Array.from({ length: 40 }, (_, i) => ({ type: 'A', name: 'big.test', ttl: 60, data: `198.51.100.${i + 1}` }));
      const full = encode({ ...base, answers });
      if (!overTcp && full.length > 512) return encode({ ...base, flags: (base.flags ?? 0) | TRUNCATED_RESPONSE });
      return full;
    }
    const answers: Answer[] = question?.type === 'A' ? [{ type: 'A', name: question.name, ttl: 60, data: '198.51.100.7' }] : [];
    return encode({ ...base, answers });
  };
  udp.on('message', (msg, rinfo) => {
    state.udpQueries++;
    const out = reply(msg, false);
    if (out) udp.send(out, rinfo.port, rinfo.address);
  });
  tcp?.on('connection', (c) => {
    let buf = Buffer.alloc(0);
    c.on('error', () => c.destroy());
    c.on('data', (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      while (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) {
        const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
        buf = buf.subarray(2 + msg.length);
        state.tcpQueries++;
        const out = reply(msg, true);
        if (out) c.write(Buffer.concat([Buffer.from([out.length >> 8, out.length & 255]), out]));
      }
    });
  });
  return {
    port,
    text: `${LO}:${port}`,
    get udpQueries() {
      return state.udpQueries;
    },
    get tcpQueries() {
      return state.tcpQueries;
    },
    close: async () => {
      await new Promise<void>((resolve) => udp.close(() => resolve()));
      if (tcp) await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}

// ---- clients --------------------------------------------------------------------------------

let nextId = 1;
function query(name: string, type: RecordType = 'A'): Buffer {
  nextId = (nextId + 1) & 0xffff;
  return encode({ type: 'query', id: nextId, flags: RECURSION_DESIRED, questions: [{ type, name }] });
}

async function clientSocket(): Promise<UdpSocket> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, LO, () => resolve()));
  return s;
}

async function udpAsk(port: number, q: Buffer, timeoutMs = 5000): Promise<Decoded> {
  const s = await clientSocket();
  try {
    return await new Promise<Decoded>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no UDP answer within ${timeoutMs} ms`)), timeoutMs);
      s.on('message', (msg) => {
        const d = decode(msg) as Decoded;
        if (d.id !== q.readUInt16BE(0)) return;
        clearTimeout(t);
        resolve(d);
      });
      s.send(q, port, LO);
    });
  } finally {
    s.close();
  }
}

/** Several queries pipelined on one TCP connection; answers matched by id. */
async function tcpAsk(port: number, qs: Buffer[], timeoutMs = 5000): Promise<Decoded[]> {
  const c = connect(port, LO);
  try {
    return await new Promise<Decoded[]>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error(`no TCP answers within ${timeoutMs} ms`)), timeoutMs);
      const got = new Map<number, Decoded>();
      let buf = Buffer.alloc(0);
      c.on('error', reject);
      c.on('data', (chunk: Buffer) => {
        buf = Buffer.concat([buf, chunk]);
        while (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0));
          buf = buf.subarray(2 + msg.length);
          const d = decode(msg) as Decoded;
          got.set(d.id ?? -1, d);
        }
        if (got.size === qs.length) {
          clearTimeout(t);
          resolve(qs.map((q) => got.get(q.readUInt16BE(0)) as Decoded));
        }
      });
      // all queries in one write, the second split across writes: framing must cope
      const framed = Buffer.concat(qs.map((q) => Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q])));
      c.write(framed.subarray(0, 3));
      setTimeout(() => c.write(framed.subarray(3)), 20);
    });
  } finally {
    c.destroy();
  }
}

const addrs = (d: Decoded) => (d.answers ?? []).map((a) => (a as { data: string }).data);

/**
 * The load client runs in its own Node process (so that it does not share the server's event
 * loop): it sends `total` queries (the given ones in turn, fresh ids) from `sockets` UDP sockets,
 * keeping `window` in flight, counts a query lost after 2 s, stops at 30 s, prints one JSON line.
 */
const LOAD_CLIENT = `
import { createSocket } from 'node:dgram';
const [port, total, window, nsock] = process.argv.slice(1, 5).map(Number);
const qs = process.argv.slice(5).map((h) => Buffer.from(h, 'hex'));
const socks = [];
for (let k = 0; k < nsock; k++) {
  const s = createSocket('udp4');
  await new Promise((r) => s.bind(0, '127.0.0.1', r));
  socks.push(s);
}
const lat = [];
let sent = 0, done = 0, lost = 0, errors = 0;
const sentAt = new Float64Array(65536);
const live = new Uint8Array(65536);
const t0 = performance.now();
await new Promise((resolve) => {
  const deadline = setTimeout(resolve, 30000);
  const sweep = setInterval(() => {
    const now = performance.now();
    for (let id = 0; id < 65536; id++) if (live[id] && now - sentAt[id] > 2000) { live[id] = 0; lost++; finish(); }
  }, 250);
  function finish() {
    done++;
    if (done >= total) { clearTimeout(deadline); clearInterval(sweep); resolve(); }
    else if (sent < total) send();
  }
  function send() {
    const i = sent++;
    const id = i & 0xffff;
    const q = Buffer.from(qs[i % qs.length]);
    q.writeUInt16BE(id, 0);
    sentAt[id] = performance.now();
    live[id] = 1;
    socks[i % socks.length].send(q, port, '127.0.0.1');
  }
  for (const s of socks) s.on('message', (m) => {
    const id = m.readUInt16BE(0);
    if (!live[id]) return;
    live[id] = 0;
    lat.push(performance.now() - sentAt[id]);
    if (m[3] & 15) errors++;
    finish();
  });
  for (let i = 0; i < Math.min(window, total); i++) send();
});
const seconds = (performance.now() - t0) / 1000;
for (const s of socks) s.close();
lat.sort((a, b) => a - b);
const pct = (p) => lat[Math.min(lat.length - 1, Math.floor((p / 100) * lat.length))];
console.log(JSON.stringify({ answered: lat.length, lost, errors, seconds, qps: lat.length / seconds, p50: pct(50), p99: pct(99) }));
`;

interface LoadResult {
  answered: number;
  lost: number;
  errors: number;
  seconds: number;
  qps: number;
  p50: number;
  p99: number;
}

async function load(port: number, queries: Buffer[], total: number, window: number, sockets = 4): Promise<LoadResult> {
  const args = ['--input-type=module', '-e', LOAD_CLIENT, String(port), String(total), String(window), String(sockets), ...queries.map((q) => q.toString('hex'))];
  const { stdout } = await execFileAsync(process.execPath, args, { timeout: 60_000 });
  return JSON.parse(stdout) as LoadResult;
}

function report(t: { diagnostic(msg: string): void }, what: string, r: LoadResult, window: number): void {
  const line =
    `dns load, ${what}: ${r.answered} answers in ${r.seconds.toFixed(2)} s = ${Math.round(r.qps)} qps, ` +
    `p50 ${r.p50.toFixed(3)} ms, p99 ${r.p99.toFixed(3)} ms, ${window} in flight, lost ${r.lost}, errors ${r.errors}`;
  t.diagnostic(line);
  console.log(line);
}

// ---- the tests ------------------------------------------------------------------------------

describe('dns server on 127.0.0.1 (UDP + TCP) with fake upstreams', () => {
  const table = new DnsTable();
  const forwarder = new Forwarder({ timeoutMs: 300 });
  let good: FakeUpstream;
  let silent: FakeUpstream;
  let failing: FakeUpstream;
  let server: DnsServer;
  const CLIENT_ID = 'c'.repeat(64);
  const client = (dns: string[]) =>
    table.setContainer({ id: CLIENT_ID, name: 'client', endpoints: [{ networkId: 'n1', ipv4: LO }], dns });

  before(async () => {
    [good, silent, failing] = await Promise.all([fakeUpstream('ok'), fakeUpstream('silent'), fakeUpstream('servfail')]);
    table.setNetwork({ id: 'n1', name: 'net1' });
    table.setNetwork({ id: 'n2', name: 'net2' });
    table.setContainer({ id: 'a'.repeat(64), name: 'web', endpoints: [{ networkId: 'n1', ipv4: '10.1.0.2', ipv6: 'fd00:1::2', aliases: ['svc'] }] });
    for (let i = 0; i < 3; i++) {
      table.setContainer({ id: `${i}`.repeat(64), name: `api${i}`, endpoints: [{ networkId: 'n1', ipv4: `10.1.0.${10 + i}`, aliases: ['api'] }] });
    }
    table.setContainer({ id: 'd'.repeat(64), name: 'secret', endpoints: [{ networkId: 'n2', ipv4: '10.2.0.2' }] });
    table.setHostUpstreams([good.text]);
    client([]);
    server = await startDnsServer({ address: LO, port: 0, view: table, forwarder });
  });

  after(async () => {
    await server?.close();
    forwarder.close();
    await Promise.all([good, silent, failing].map((u) => u?.close()));
  });

  it('listens on UDP and TCP on the same random port', () => {
    assert.equal(server.address, LO);
    assert.ok(server.port > 1024);
  });

  it('answers berth names over UDP: A, AAAA, ids, aliases', async () => {
    const a = await udpAsk(server.port, query('web'));
    assert.equal(a.rcode, 'NOERROR');
    assert.ok(a.flag_aa && a.flag_ra);
    assert.deepEqual(addrs(a), ['10.1.0.2']);
    assert.deepEqual(addrs(await udpAsk(server.port, query('WEB.', 'AAAA'))), ['fd00:1::2']);
    assert.deepEqual(addrs(await udpAsk(server.port, query('aaaaaaaaaaaa'))), ['10.1.0.2']);
    assert.deepEqual(addrs(await udpAsk(server.port, query('web.net1'))), ['10.1.0.2']);
    const api = await udpAsk(server.port, query('api'));
    assert.deepEqual(addrs(api).sort(), ['10.1.0.10', '10.1.0.11', '10.1.0.12']);
    const nodata = await udpAsk(server.port, query('api', 'AAAA'));
    assert.equal(nodata.rcode, 'NOERROR');
    assert.deepEqual(nodata.answers, []);
  });

  it('forwards other names (and names on networks the client is not on) to the upstream', async () => {
    const before = good.udpQueries;
    const r = await udpAsk(server.port, query('example.test'));
    assert.equal(r.rcode, 'NOERROR');
    assert.ok(r.flag_ra);
    assert.equal(r.flag_aa, false);
    assert.deepEqual(addrs(r), ['198.51.100.7']);
    assert.deepEqual(addrs(await udpAsk(server.port, query('secret'))), ['198.51.100.7']);
    assert.equal((await udpAsk(server.port, query('nx.test'))).rcode, 'NXDOMAIN');
    assert.equal(good.udpQueries - before, 3);
  });

  it('an upstream that does not answer in time: the next one is asked', async () => {
    client([silent.text, good.text]);
    try {
      const t0 = Date.now();
      const r = await udpAsk(server.port, query('fallthrough.test'));
      const ms = Date.now() - t0;
      assert.deepEqual(addrs(r), ['198.51.100.7']);
      assert.ok(ms >= 250, `the first upstream was waited for (${ms} ms)`);
      assert.ok(silent.udpQueries >= 1);
    } finally {
      client([]);
    }
  });

  it('SERVFAIL from one upstream: the next is asked; none answering: SERVFAIL', async () => {
    client([failing.text, good.text]);
    try {
      assert.deepEqual(addrs(await udpAsk(server.port, query('second.test'))), ['198.51.100.7']);
      client([silent.text, failing.text]);
      assert.equal((await udpAsk(server.port, query('nobody.test'))).rcode, 'SERVFAIL');
      client([silent.text]);
      assert.equal((await udpAsk(server.port, query('nobody.test'))).rcode, 'SERVFAIL');
    } finally {
      client([]);
    }
  });

  it('answers over TCP: pipelined queries on one connection, berth names and forwarded', async () => {
    const rs = await tcpAsk(server.port, [query('web'), query('example.test'), query('api'), query('secret', 'AAAA')]);
    assert.deepEqual(addrs(rs[0] as Decoded), ['10.1.0.2']);
    assert.deepEqual(addrs(rs[1] as Decoded), ['198.51.100.7']);
    assert.equal(addrs(rs[2] as Decoded).length, 3);
    assert.equal((rs[3] as Decoded).rcode, 'NOERROR');
  });

  it('a truncated upstream answer: passed on to a UDP client, fetched over TCP for a TCP client', async () => {
    const u = await udpAsk(server.port, query('big.test'));
    assert.ok(u.flag_tc, 'TC passed on: the client retries over TCP');
    const tcpBefore = good.tcpQueries;
    const [t] = await tcpAsk(server.port, [query('big.test')]);
    assert.equal(t?.flag_tc, false);
    assert.equal(t?.answers?.length, 40);
    assert.equal(good.tcpQueries - tcpBefore, 1, 'the forwarder asked the upstream over TCP');
  });

  it('unknown clients are REFUSED; garbage gets FORMERR or nothing', async () => {
    table.removeContainer(CLIENT_ID);
    try {
      assert.equal((await udpAsk(server.port, query('web'))).rcode, 'REFUSED');
    } finally {
      client([]);
    }
    const junk = Buffer.concat([query('web').subarray(0, 12), Buffer.from([0x3f, 1, 2])]);
    assert.equal((await udpAsk(server.port, junk)).rcode, 'FORMERR');
    // too short to answer: no reply, and the server keeps working
    await assert.rejects(udpAsk(server.port, Buffer.from([1, 2, 3]), 200), /no UDP answer/);
    assert.deepEqual(addrs(await udpAsk(server.port, query('web'))), ['10.1.0.2']);
  });

  it('counts queries and outcomes', () => {
    const s = server.stats();
    assert.ok(s.udp > 10 && s.tcp >= 5, JSON.stringify(s));
    assert.ok(s.answered > 0 && s.forwarded > 0 && s.servfail > 0 && s.refused > 0 && s.formerr > 0 && s.ignored > 0, JSON.stringify(s));
  });

  it('load: berth names over UDP from another process (qps and p99 printed, not asserted)', async (t) => {
    const qs = ['web', 'api', 'api0', 'svc', 'aaaaaaaaaaaa'].map((n) => query(n));
    const serial = await load(server.port, qs, 3000, 1);
    report(t, 'berth names, UDP loopback, one at a time', serial, 1);
    const r = await load(server.port, qs, 20_000, 64);
    report(t, 'berth names, UDP loopback', r, 64);
    assert.ok(r.answered > 0);
    assert.equal(r.errors, 0);
  });

  it('load: forwarded names over UDP to the fake upstream (qps and p99 printed)', async (t) => {
    const qs = Array.from({ length: 50 }, (_, i) => query(`host${i}.example.test`));
    const r = await load(server.port, qs, 5000, 64);
    report(t, 'forwarded to a fake upstream in the server process, UDP loopback', r, 64);
    assert.ok(r.answered > 0);
  });
});

describe('DnsServers: one server per address, kept in step with sync()', () => {
  it('starts missing servers, stops removed ones, reports and retries addresses it cannot bind', async () => {
    const table = new DnsTable();
    table.setContainer({ id: 'c'.repeat(64), name: 'client', endpoints: [{ networkId: 'n1', ipv4: LO }] });
    table.setContainer({ id: 'a'.repeat(64), name: 'web', endpoints: [{ networkId: 'n1', ipv4: '10.1.0.2' }] });
    const errors: string[] = [];
    const servers = new DnsServers({ view: table, port: 0, retryMs: 50, onError: (a) => errors.push(a) });
    try {
      const r1 = await servers.sync([LO, 'not-an-ip', '192.0.2.123']);
      assert.deepEqual(r1.started, [LO]);
      assert.deepEqual(r1.failed.map((f) => f.address).sort(), ['192.0.2.123', 'not-an-ip']);
      assert.match(r1.failed.find((f) => f.address === '192.0.2.123')?.error.message ?? '', /EADDRNOTAVAIL/);
      assert.deepEqual(servers.addresses(), [LO]);
      const port = servers.get(LO)?.port ?? 0;
      assert.deepEqual(addrs(await udpAsk(port, query('web'))), ['10.1.0.2']);
      // unbindable addresses are retried while wanted
      await new Promise((r) => setTimeout(r, 200));
      assert.ok(errors.filter((a) => a === '192.0.2.123').length >= 2, `retried: ${errors.join(',')}`);
      // the same list again changes nothing
      const r2 = await servers.sync([LO]);
      assert.deepEqual([r2.started, r2.stopped], [[], []]);
      assert.equal(servers.get(LO)?.port, port);
      const r3 = await servers.sync([]);
      assert.deepEqual(r3.stopped, [LO]);
      assert.deepEqual(servers.addresses(), []);
      await assert.rejects(udpAsk(port, query('web'), 200), /no UDP answer/);
    } finally {
      await servers.close();
    }
  });

  it('concurrent sync() calls apply in order', async () => {
    const servers = new DnsServers({ view: new DnsTable(), port: 0, retryMs: 0 });
    try {
      const results = await Promise.all([servers.sync([LO]), servers.sync([]), servers.sync([LO])]);
      assert.deepEqual(
        results.map((r) => [r.started, r.stopped]),
        [
          [[LO], []],
          [[], [LO]],
          [[LO], []],
        ],
      );
      assert.deepEqual(servers.addresses(), [LO]);
    } finally {
      await servers.close();
    }
    assert.deepEqual(servers.addresses(), []);
  });

  it('a port in use is an error naming it', async () => {
    const s1 = await startDnsServer({ address: LO, port: 0, view: new DnsTable() });
    try {
      await assert.rejects(startDnsServer({ address: LO, port: s1.port, view: new DnsTable() }), /EADDRINUSE/);
      const tcpOnly = await startDnsServer({ address: LO, port: 0, view: new DnsTable(), udp: false });
      assert.ok(tcpOnly.port > 0);
      await tcpOnly.close();
    } finally {
      await s1.close();
    }
  });
});

describe('Forwarder', () => {
  it('forward(): the first usable answer, its id set back; bad upstream entries are skipped', async () => {
    const good = await fakeUpstream('ok');
    try {
      const q = query('example.test');
      const resp = decode(await forward(q, ['not-an-address', `${LO}:0`, good.text])) as Decoded;
      assert.equal(resp.id, q.readUInt16BE(0));
      assert.deepEqual(addrs(resp), ['198.51.100.7']);
    } finally {
      await good.close();
    }
  });

  it('answers from another port, or to another question, are not taken', async () => {
    const upstream = await bindUdp(LO, 0);
    const other = await bindUdp(LO, 0);
    const f = new Forwarder({ timeoutMs: 300 });
    try {
      let mode: 'wrong-port' | 'wrong-question' = 'wrong-port';
      upstream.on('message', (m, r) => {
        const q = decode(m);
        const name = mode === 'wrong-question' ? 'evil.test' : (q.questions?.[0]?.name ?? '');
        const out = encode({ type: 'response', id: q.id, questions: [{ type: 'A', name }], answers: [{ type: 'A', name, ttl: 60, data: '203.0.113.66' }] });
        (mode === 'wrong-port' ? other : upstream).send(out, r.port, r.address);
      });
      await assert.rejects(f.forward(query('example.test'), [`${LO}:${upstream.address().port}`]), (e: Error) => e instanceof ForwardError && /no answer within 300 ms/.test(e.message));
      mode = 'wrong-question';
      await assert.rejects(f.forward(query('example.test'), [`${LO}:${upstream.address().port}`]), ForwardError);
      assert.equal(f.inFlight, 0);
    } finally {
      f.close();
      upstream.close();
      other.close();
    }
  });

  it('ids of concurrent queries do not collide; the answer of each goes to its query', async () => {
    const good = await fakeUpstream('ok');
    const f = new Forwarder({ socketsPerFamily: 2 });
    try {
      const qs = Array.from({ length: 500 }, (_, i) => query(`n${i}.test`));
      const answers = await Promise.all(qs.map((q) => f.forward(q, [good.text])));
      answers.forEach((a, i) => {
        const d = decode(a);
        assert.equal(d.id, qs[i]?.readUInt16BE(0));
        assert.equal(d.questions?.[0]?.name, `n${i}.test`);
      });
    } finally {
      f.close();
      await good.close();
    }
  });
});
