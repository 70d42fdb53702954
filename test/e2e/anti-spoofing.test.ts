// Issue 11 item 8: on a bridge network a container must not take another's IP or MAC. With real
// frames inside a lab host: an attacker container `a` adds the victim `v`'s address and announces
// it (gratuitous ARP; an unsolicited IPv6 neighbour advertisement with the override flag), or
// takes v's MAC; a client `c` must still reach v, and c's neighbour table and the bridge's FDB
// must still point at v. Legitimate traffic (IPv4, IPv6 with ND, NAT to the outside) still works.
// A network made with `-o allow_spoofing=true` opts out: the same ARP attack then succeeds there.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { VIA_DAEMON, runIn } from '../lab/index.js';
import { type BasicLab, EXT_ADDR, NODE, basicLab, ctrNet, inspect, pingFrom, runDetached, sleep, waitForLog } from './helpers.js';

const T = { timeout: 120_000 };
const PORT = 7000;

/** UDP server on [::]:PORT (IPv4 too) that answers every datagram with its own name: ARGS port name. */
const WHO_SERVER = [
  "const d=require('dgram');const [port,name]=process.argv.slice(1);const s=d.createSocket('udp6');",
  "s.on('message',(m,r)=>s.send(name,r.port,r.address));",
  "s.bind(Number(port),'::',()=>process.stdout.write('listening '+port+'\\n'));",
].join('');

/** UDP client: ARGS host port. Prints the answer, or ERR and exit 1 after 2 s. */
const WHO_CLIENT = [
  "const d=require('dgram');const [host,port]=process.argv.slice(1);const s=d.createSocket(host.includes(':')?'udp6':'udp4');",
  "s.on('message',m=>{process.stdout.write(m.toString());process.exit(0);});",
  "const send=()=>s.send('who',Number(port),host);send();const t=setInterval(send,300);",
  "setTimeout(()=>{process.stdout.write('ERR');process.exit(1);},2000);",
].join('');

/**
 * Forged announcements, as an attacker inside a container would send them:
 *   garp IF IP MAC   gratuitous ARP request and reply: "IP is at MAC" (the sender's own MAC)
 *   na IF IP6 MAC    unsolicited neighbour advertisement (override) to ff02::1: "IP6 is at MAC"
 */
const FORGE = String.raw`
import socket, struct, sys, time
cmd, ifn, addr, mac = sys.argv[1:5]
me = bytes.fromhex(mac.replace(':', ''))
for _ in range(3):
    if cmd == 'garp':
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((ifn, 0))
        ip = socket.inet_aton(addr)
        for op, tha in ((1, b'\0' * 6), (2, b'\xff' * 6)):
            s.send(b'\xff' * 6 + me + b'\x08\x06' + struct.pack('!HHBBH', 1, 0x0800, 6, 4, op) + me + ip + tha + ip)
    else:
        s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
        idx = socket.if_nametoindex(ifn)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, idx)
        na = struct.pack('!BBHI', 136, 0, 0, 0x20000000) + socket.inet_pton(socket.AF_INET6, addr) + bytes([2, 1]) + me
        s.sendto(na, ('ff02::1', 0, 0, idx))
    time.sleep(0.1)
print('sent')
`;

interface Ctr {
  name: string;
  ns: string;
  ip: string;
  ip6?: string;
  mac: string;
}

void describe('anti-spoofing on bridge ports', () => {
  let L: BasicLab;
  const ctr: Record<string, Ctr> = {};

  async function start(name: string, network: string): Promise<void> {
    const id = await runDetached(L.h, ['--name', name, '--network', network, '--', NODE, '-e', WHO_SERVER, String(PORT), name]);
    await waitForLog(L.h, id, /listening/);
    const i = await inspect(L.h, name);
    const n = i.NetworkSettings.Networks[network];
    assert.ok(n, `${name} is on ${network}`);
    const ns = await ctrNet(L.h, name);
    const v6 = await runIn(ns, ['ip', '-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'], { check: true });
    const ip6 = /inet6 ([0-9a-f:]+)\//.exec(v6.stdout)?.[1];
    const mac = await macIn(ns);
    assert.equal(mac, n.MacAddress, `inspect shows ${name}'s MAC as its kernel has it`);
    ctr[name] = { name, ns, ip: n.IPAddress, mac, ...(ip6 ? { ip6 } : {}) };
  }
  const C = (name: string): Ctr => {
    const c = ctr[name];
    assert.ok(c, `container ${name}`);
    return c;
  };
  /** Who answers at addr, asked from container `from`. */
  async function who(from: string, addr: string): Promise<string> {
    const r = await runIn(C(from).ns, [NODE, '-e', WHO_CLIENT, addr, String(PORT)], { timeoutMs: 10_000 });
    return r.stdout.trim();
  }
  /** The MAC that `from`'s neighbour table holds for addr (undefined if none). */
  async function neighbour(from: string, addr: string): Promise<string | undefined> {
    const r = await runIn(C(from).ns, ['ip', 'neigh', 'show', addr, 'dev', 'eth0'], { check: true });
    return /lladdr ([0-9a-f:]+)/.exec(r.stdout)?.[1];
  }
  /** The MAC of eth0 in ns, as its kernel has it (/sys shows the machine's own netns, not ns). */
  async function macIn(ns: string): Promise<string> {
    const r = await runIn(ns, ['ip', '-o', 'link', 'show', 'eth0'], { check: true });
    const m = /link\/ether ([0-9a-f:]+)/.exec(r.stdout)?.[1];
    assert.ok(m, `MAC of eth0: ${r.stdout}`);
    return m;
  }
  async function forge(from: string, kind: 'garp' | 'na', addr: string): Promise<void> {
    const ns = C(from).ns;
    await runIn(ns, ['python3', '-c', FORGE, kind, 'eth0', addr, await macIn(ns)], { check: true });
  }

  before(async () => {
    L = await basicLab('e2e anti-spoofing');
    await L.h.berthOk(['network', 'create', '--subnet', '10.47.0.0/24', '--ipv6', '--subnet', 'fd00:47::/64', 'guarded']);
    await L.h.berthOk(['network', 'create', '--subnet', '10.48.0.0/24', '-o', 'allow_spoofing=true', 'open']);
    await Promise.all([
      start('victim', 'guarded'),
      start('thief', 'guarded'),
      start('client', 'guarded'),
      start('victim2', 'open'),
      start('thief2', 'open'),
      start('client2', 'open'),
    ]);
  });
  after(async () => {
    await L?.lab.close();
  });

  void test('legitimate traffic works: IPv4 and IPv6 (with neighbour discovery) between containers, to the gateway and out through NAT', T, async () => {
    assert.equal(await who('client', C('victim').ip), 'victim');
    assert.equal(await who('thief', C('victim').ip), 'victim');
    assert.ok(C('victim').ip6, 'v has a global IPv6 address');
    assert.equal(await who('client', C('victim').ip6 ?? ''), 'victim', 'IPv6 between containers (ND from link-local and global addresses)');
    assert.ok(await pingFrom(C('client').ns, '10.47.0.1'), 'the gateway answers');
    assert.ok(await pingFrom(C('client').ns, 'fd00:47::1'), 'the IPv6 gateway answers');
    assert.ok(await pingFrom(C('client').ns, EXT_ADDR), 'the outside answers (masquerade)');
    assert.equal(await who('client2', C('victim2').ip), 'victim2', 'and on the allow_spoofing network');
  });

  void test("an added address plus gratuitous ARP does not divert the victim's traffic; forged IPv4 sources are dropped", T, async () => {
    const v = C('victim');
    assert.equal(await who('client', v.ip), 'victim');
    assert.equal(await neighbour('client', v.ip), v.mac);
    await runIn(C('thief').ns, ['ip', 'addr', 'add', `${v.ip}/32`, 'dev', 'eth0'], { check: true });
    await forge('thief', 'garp', v.ip);
    await sleep(300);
    assert.equal(await neighbour('client', v.ip), v.mac, "c's ARP entry for v still holds v's MAC");
    assert.equal(await who('client', v.ip), 'victim', 'c still reaches v');
    // a datagram from the stolen address does not even leave a's port
    const r = await runIn(C('thief').ns, ['python3', '-c', `import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(('${v.ip}', 0)); s.settimeout(1.5); s.sendto(b'who', ('${C('client').ip}', ${PORT})); print(s.recv(100))`]);
    assert.notEqual(r.code, 0, `a datagram from the stolen address got an answer: ${r.stdout}${r.stderr}`);
    await runIn(C('thief').ns, ['ip', 'addr', 'del', `${v.ip}/32`, 'dev', 'eth0'], { check: true });
  });

  void test("an unsolicited IPv6 neighbour advertisement for the victim's address does not divert its traffic", T, async () => {
    const v = C('victim');
    const ip6 = v.ip6 ?? '';
    assert.equal(await who('client', ip6), 'victim');
    assert.equal(await neighbour('client', ip6), v.mac);
    await runIn(C('thief').ns, ['ip', 'addr', 'add', `${ip6}/128`, 'dev', 'eth0', 'nodad'], { check: true });
    await forge('thief', 'na', ip6);
    await sleep(300);
    assert.equal(await neighbour('client', ip6), v.mac, "c's neighbour entry for v's IPv6 address still holds v's MAC");
    assert.equal(await who('client', ip6), 'victim');
    await runIn(C('thief').ns, ['ip', 'addr', 'del', `${ip6}/128`, 'dev', 'eth0'], { check: true });
  });

  void test("a changed MAC is dropped: taking the victim's MAC does not move its FDB entry, and another MAC reaches nobody", T, async () => {
    const v = C('victim');
    const a = C('thief');
    try {
      await runIn(a.ns, ['ip', 'link', 'set', 'eth0', 'address', v.mac], { check: true });
      assert.equal(await pingFrom(a.ns, C('client').ip), false, "a, with v's MAC, reaches nobody");
      assert.equal(await who('client', v.ip), 'victim', "c still reaches v (the bridge did not learn v's MAC on a's port)");
      await runIn(a.ns, ['ip', 'link', 'set', 'eth0', 'address', '02:42:de:ad:be:ef'], { check: true });
      assert.equal(await pingFrom(a.ns, C('client').ip), false, 'a, with a made-up MAC, reaches nobody');
    } finally {
      await runIn(a.ns, ['ip', 'link', 'set', 'eth0', 'address', a.mac], { check: true });
    }
    assert.ok(await pingFrom(a.ns, C('client').ip, 1), 'with its own MAC back, a reaches c again');
  });

  void test('after `nft flush ruleset`, system check names the missing guard and --repair puts it back with every port', T, async () => {
    const v = C('victim');
    await L.h.execOk(['nft', 'flush', 'ruleset']);
    try {
      const check = await L.h.berth(['system', 'check']);
      // through the daemon (BERTH_E2E_VIA=daemon), its nft watch may have restored both tables already
      if (!VIA_DAEMON || check.code !== 0) {
        assert.equal(check.code, 1, `system check finds the flushed tables: ${check.stdout}${check.stderr}`);
        assert.match(check.stdout + check.stderr, /bridge berth/);
      }
    } finally {
      await L.h.berthOk(['system', 'check', '--repair']);
    }
    assert.equal(await who('client', v.ip), 'victim');
    await runIn(C('thief').ns, ['ip', 'addr', 'add', `${v.ip}/32`, 'dev', 'eth0'], { check: true });
    await forge('thief', 'garp', v.ip);
    await sleep(300);
    assert.equal(await neighbour('client', v.ip), v.mac, "after the repair, c's ARP entry for v still holds v's MAC");
    await runIn(C('thief').ns, ['ip', 'addr', 'del', `${v.ip}/32`, 'dev', 'eth0'], { check: true });
  });

  void test('-o allow_spoofing=true opts out: there the same ARP attack diverts the traffic', T, async () => {
    const v2 = C('victim2');
    assert.equal(await who('client2', v2.ip), 'victim2');
    await runIn(C('thief2').ns, ['ip', 'addr', 'add', `${v2.ip}/32`, 'dev', 'eth0'], { check: true });
    await forge('thief2', 'garp', v2.ip);
    await sleep(300);
    assert.equal(await neighbour('client2', v2.ip), C('thief2').mac, "c2's ARP entry now points at a2");
    assert.equal(await who('client2', v2.ip), 'thief2');
  });

  void test('removing the containers removes their ports from the guard: no element is left behind', T, async () => {
    const before = await L.h.execOk(['nft', 'list', 'set', 'bridge', 'berth', 'guarded']);
    assert.match(before.stdout, /veth/, 'the guarded ports are listed while their containers run');
    await L.h.berthOk(['rm', '-f', ...Object.keys(ctr)]);
    const t = await L.h.execOk(['nft', 'list', 'table', 'bridge', 'berth']);
    assert.doesNotMatch(t.stdout, /elements/, `no element is left:\n${t.stdout}`);
  });
});
