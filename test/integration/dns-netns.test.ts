// The DNS server and forwarder with their sockets created inside lab namespaces (bindInNetns /
// Forwarder wrap), as the daemon does for Docker-style 127.0.0.11 listeners, and DnsServers on a
// gateway address inside a lab host queried from a "container" on a lab switch (aardvark-style).
// Needs root (lab namespaces); every packet stays inside the lab's namespaces.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { RECURSION_DESIRED, TRUNCATED_RESPONSE, decode, encode, type Answer, type DecodedPacket, type Packet, type RecordType } from 'dns-packet';
import { Forwarder } from '../../src/dns/forward.js';
import { DnsServers, startDnsServer, type DnsServer } from '../../src/dns/server.js';
import { bindUdp, listenTcp, type SocketWrapper } from '../../src/dns/sockets.js';
import { DnsTable } from '../../src/dns/table.js';
import { withNetns } from '../../src/kernel/netns.js';
import { Lab, type Host, type LabNode } from '../lab/index.js';

type Decoded = DecodedPacket & { rcode: string };

const isRoot = process.getuid?.() === 0;

/** Run inside a lab node: send each `udp:HEX` / `tcp:HEX` query to ADDR:PORT, print the answers as hex. */
const ASK = `
import { createSocket } from 'node:dgram';
import { connect } from 'node:net';
const [addr, port, ...qs] = process.argv.slice(1);
const out = [];
for (const spec of qs) {
  const [how, hex] = spec.split(':');
  const q = Buffer.from(hex, 'hex');
  out.push(await new Promise((resolve) => {
    const timer = setTimeout(() => resolve(null), 5000);
    if (how === 'udp') {
      const s = createSocket(addr.includes(':') ? 'udp6' : 'udp4');
      s.on('message', (m) => { clearTimeout(timer); s.close(); resolve(m.toString('hex')); });
      s.send(q, Number(port), addr);
    } else {
      const c = connect(Number(port), addr);
      let buf = Buffer.alloc(0);
      c.on('error', () => resolve(null));
      c.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length >= 2 && buf.length >= buf.readUInt16BE(0) + 2) { clearTimeout(timer); c.destroy(); resolve(buf.subarray(2).toString('hex')); }
      });
      c.write(Buffer.concat([Buffer.from([q.length >> 8, q.length & 255]), q]));
    }
  }));
}
console.log(JSON.stringify(out));
`;

let nextId = 100;
function query(name: string, type: RecordType = 'A'): Buffer {
  nextId = (nextId + 1) & 0xffff;
  return encode({ type: 'query', id: nextId, flags: RECURSION_DESIRED, questions: [{ type, name }] });
}

async function askFrom(node: LabNode, addr: string, port: number, qs: [how: 'udp' | 'tcp', q: Buffer][]): Promise<Decoded[]> {
  const r = await node.execOk([process.execPath, '--input-type=module', '-e', ASK, addr, String(port), ...qs.map(([how, q]) => `${how}:${q.toString('hex')}`)]);
  const hexes = JSON.parse(r.stdout) as (string | null)[];
  return hexes.map((h, i) => {
    assert.ok(h !== null, `no answer to query ${i} from ${node.name}`);
    return decode(Buffer.from(h, 'hex')) as Decoded;
  });
}

const addrs = (d: Decoded | undefined) => (d?.answers ?? []).map((a) => (a as { data: string }).data);

/** A fake upstream (UDP + TCP) with its sockets inside wrap: `big.test` is truncated over UDP. */
async function fakeUpstream(address: string, wrap: SocketWrapper) {
  const udp = await bindUdp(address, 0, wrap);
  const port = udp.address().port;
  const tcp = await listenTcp(address, port, wrap);
  const seen = { udp: 0, tcp: 0 };
  const reply = (msg: Buffer, overTcp: boolean): Buffer => {
    const q = decode(msg);
    const name = q.questions?.[0]?.name ?? '';
    const base: Packet = { type: 'response', id: q.id, flags: RECURSION_DESIRED, questions: q.questions };
    const n = name === 'big.test' ? 40 : 1;
    const answers: Answer[] = Array.from({ length: n }, (_, i) => ({ type: 'A', name, ttl: 60, data: `198.51.100.${i + 1}` }));
    const full = encode({ ...base, answers });
    return !overTcp && full.length > 512 ? encode({ ...base, flags: RECURSION_DESIRED | TRUNCATED_RESPONSE }) : full;
  };
  udp.on('message', (m, r) => {
    seen.udp++;
    udp.send(reply(m, false), r.port, r.address);
  });
  tcp.on('connection', (c) => {
    c.on('error', () => c.destroy());
    c.once('data', (d: Buffer) => {
      seen.tcp++;
      const out = reply(d.subarray(2), true);
      c.end(Buffer.concat([Buffer.from([out.length >> 8, out.length & 255]), out]));
    });
  });
  return {
    port,
    seen,
    close: async () => {
      await new Promise<void>((r) => udp.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    },
  };
}

describe('dns: sockets inside lab namespaces', { skip: isRoot ? false : 'needs root (lab namespaces)' }, () => {
  let lab: Lab;
  let host: Host;
  let wrap: SocketWrapper;

  before(async () => {
    lab = await Lab.create({ label: 'dns-netns' });
    host = await lab.createHost('dns');
    wrap = (fn) => withNetns(host.netnsPath, fn);
  });
  after(async () => {
    await lab?.close();
  });

  it('Docker style: a server at 127.0.0.11 inside a namespace, forwarding from inside it (UDP and TCP)', async () => {
    const upstream = await fakeUpstream('127.0.0.1', wrap);
    const table = new DnsTable({ hostUpstreams: [`127.0.0.1:${upstream.port}`] });
    table.setContainer({ id: 'c'.repeat(64), name: 'self', endpoints: [{ networkId: 'n1', ipv4: '127.0.0.1' }] });
    table.setContainer({ id: 'a'.repeat(64), name: 'web', endpoints: [{ networkId: 'n1', ipv4: '10.1.0.2' }] });
    const forwarder = new Forwarder({ wrap, timeoutMs: 1000 });
    let server: DnsServer | undefined;
    try {
      server = await startDnsServer({ address: '127.0.0.11', port: 0, view: table, bindInNetns: wrap, forwarder });
      const [web, fwd, webTcp, bigUdp, bigTcp] = await askFrom(host, '127.0.0.11', server.port, [
        ['udp', query('web')],
        ['udp', query('example.test')],
        ['tcp', query('web')],
        ['udp', query('big.test')],
        ['tcp', query('big.test')],
      ]);
      assert.deepEqual(addrs(web), ['10.1.0.2']);
      assert.ok(web?.flag_aa);
      assert.deepEqual(addrs(fwd), ['198.51.100.1'], 'forwarded to the upstream inside the namespace');
      assert.deepEqual(addrs(webTcp), ['10.1.0.2']);
      assert.ok(bigUdp?.flag_tc, 'truncated answer passed on over UDP');
      assert.equal(bigTcp?.answers?.length, 40, 'fetched over TCP from inside the namespace');
      assert.ok(upstream.seen.tcp >= 1);

      // nothing of it is in berth's own namespace: the same address and port are free here
      const port = server.port;
      const u = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        u.once('error', reject);
        u.bind(port, '127.0.0.11', () => resolve());
      });
      u.close();
      const t = createServer();
      await new Promise<void>((resolve, reject) => {
        t.once('error', reject);
        t.listen(port, '127.0.0.11', () => resolve());
      });
      await new Promise<void>((r) => t.close(() => r()));
    } finally {
      await server?.close();
      forwarder.close();
      await upstream.close();
    }
  });

  it('aardvark style: DnsServers on a gateway address in a lab host, asked by containers on a switch', async () => {
    const sw = await lab.createSwitch('dnsnet');
    const ctr1 = await lab.createExternal('ctr1');
    const ctr2 = await lab.createExternal('ctr2');
    const outsider = await lab.createExternal('out');
    await sw.plug(host, { ifname: 'br0', address: ['10.88.0.1/24', 'fd88::1/64'] });
    await sw.plug(ctr1, { ifname: 'eth0', address: ['10.88.0.2/24', 'fd88::2/64'] });
    await sw.plug(ctr2, { ifname: 'eth0', address: '10.88.0.3/24' });
    await sw.plug(outsider, { ifname: 'eth0', address: '10.88.0.99/24' });
    const upstream = await fakeUpstream('10.88.0.1', wrap);
    const table = new DnsTable({ hostUpstreams: [`10.88.0.1:${upstream.port}`] });
    table.setNetwork({ id: 'n1', name: 'appnet' });
    table.setNetwork({ id: 'n2', name: 'vault', internal: true });
    table.setContainer({ id: '1'.repeat(64), name: 'ctr1', endpoints: [{ networkId: 'n1', ipv4: '10.88.0.2', ipv6: 'fd88::2', aliases: ['app'] }] });
    table.setContainer({ id: '2'.repeat(64), name: 'ctr2', endpoints: [{ networkId: 'n2', ipv4: '10.88.0.3', aliases: ['app'] }] });
    const servers = new DnsServers({ view: table, port: 5353, bindInNetns: wrap, forwarder: new Forwarder({ wrap, timeoutMs: 1000 }), retryMs: 0 });
    try {
      const synced = await servers.sync(['10.88.0.1', 'fd88::1']);
      assert.deepEqual(synced.failed, []);
      assert.deepEqual(synced.started.sort(), ['10.88.0.1', 'fd88::1']);
      const [a, aaaa, viaV6, fwd, ptr] = await askFrom(ctr1, '10.88.0.1', 5353, [
        ['udp', query('app')],
        ['udp', query('ctr1', 'AAAA')],
        ['udp', query('ctr1.appnet')],
        ['udp', query('example.test')],
        ['tcp', query('2.0.88.10.in-addr.arpa', 'PTR')],
      ]);
      assert.deepEqual(addrs(a), ['10.88.0.2'], 'ctr2 carries the alias on another network');
      assert.deepEqual(addrs(aaaa), ['fd88::2']);
      assert.deepEqual(addrs(viaV6), ['10.88.0.2']);
      assert.deepEqual(addrs(fwd), ['198.51.100.1']);
      assert.deepEqual(addrs(ptr), ['ctr1']);
      const [v6client] = await askFrom(ctr1, 'fd88::1', 5353, [['udp', query('app')]]);
      assert.deepEqual(addrs(v6client), ['10.88.0.2'], 'asked over IPv6, from fd88::2');
      // ctr2's only network is internal: its own names resolve, the rest is NXDOMAIN
      const before = upstream.seen.udp;
      const [own, other] = await askFrom(ctr2, '10.88.0.1', 5353, [
        ['udp', query('app')],
        ['udp', query('example.test')],
      ]);
      assert.deepEqual(addrs(own), ['10.88.0.3']);
      assert.equal(other?.rcode, 'NXDOMAIN');
      assert.equal(upstream.seen.udp, before, 'nothing forwarded for an internal-only client');
      const [refused] = await askFrom(outsider, '10.88.0.1', 5353, [['udp', query('app')]]);
      assert.equal(refused?.rcode, 'REFUSED');

      const down = await servers.sync(['10.88.0.1']);
      assert.deepEqual(down.stopped, ['fd88::1']);
    } finally {
      await servers.close();
      await upstream.close();
    }
  });
});
