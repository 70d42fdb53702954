// End to end, berth-cni driven by a real CNI runtime library: test/tools/cnitool on Debian's libcni
// 1.1.2 (AddNetworkList / CheckNetworkList / DelNetworkList, its result cache, its capability
// injection), through the daemon, with 0.4.0, 1.0.0 and 1.1.0 conflists naming berth networks (the
// default bridge, a user-defined bridge, a dual-stack one, a macvlan one) and chains with the
// reference tuning, portmap, bandwidth and firewall plugins. The four reference meta plugins refuse
// to run without a prevResult, so they come after berth; `loopback` comes before it, so berth gets
// and merges a prevResult. Each sandbox (a lab netns) reaches its peer and the outside (ext's HTTP
// server sees the host's address: NAT), is reached on its published port, CHECK catches a flushed
// address, and DEL leaves nothing: no link, no nft element, no iptables rule, no cache entry.
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type External, links, runIn } from '../lab/index.js';
import { startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { berthTable } from './helpers.js';
import { EXT4, EXT6, H4, H6, type NetLab, netLab } from './networks-helpers.js';
import { type PluginConf, buildCnitool, cniBinDir, cnitoolMissing, httpGet, httpPeerServer, iptablesMentions, missing, REFERENCE_PLUGINS, writeConflist } from './cni-runtimes-helpers.js';

const skip = cnitoolMissing() ?? missing({ 'the CNI reference plugins (containernetworking-plugins)': join(REFERENCE_PLUGINS, 'firewall') });
const T = { timeout: 90_000, skip: skip ?? false };
if (skip) console.log(`# cni-libcni skipped: ${skip}`);

interface Result {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { address: string; gateway?: string; interface?: number }[];
}

interface Scenario {
  /** conflist name, also the berth network it names */
  network: string;
  cniVersion: string;
  plugins: PluginConf[];
  /** published port (runtimeConfig portMappings, to whichever plugin declares the capability) */
  hostPort?: number;
  /** macvlan: the LAN reaches the sandbox directly, its traffic is not NATed */
  lan?: boolean;
  v6?: boolean;
  /** a reference plugin in the chain fails every CHECK */
  noCheck?: boolean;
}

const berth = (network: string, extra: Record<string, unknown> = {}): PluginConf => ({ type: 'berth', network, ...extra });
const PORTS = { capabilities: { portMappings: true } };

const SCENARIOS: Scenario[] = [
  {
    network: 'bridge',
    cniVersion: '0.4.0',
    plugins: [berth('bridge', PORTS), { type: 'tuning', mtu: 1400 }, { type: 'bandwidth', ingressRate: 80_000_000, ingressBurst: 640_000 }, { type: 'firewall' }],
    hostPort: 8401,
  },
  {
    network: 'apps',
    cniVersion: '1.0.0',
    plugins: [{ type: 'loopback' }, berth('apps', PORTS), { type: 'tuning', sysctl: { 'net.ipv4.conf.eth0.rp_filter': '2' } }, { type: 'firewall' }],
    hostPort: 8402,
  },
  // the reference portmap publishes here; its CHECK (1.1.1) cannot pass: it looks for the IPv4 DNAT
  // rules in ip6tables too (an IPv4-only sandbox: for a chain it never made), so no CHECK of this chain
  { network: 'dual', cniVersion: '1.0.0', plugins: [berth('dual'), { type: 'portmap', ...PORTS }, { type: 'firewall' }], hostPort: 8403, v6: true, noCheck: true },
  // the reference plugins here speak up to 1.0.0: a 1.1.0 conflist is berth's alone
  { network: 'lan', cniVersion: '1.1.0', plugins: [berth('lan')], lan: true },
];

void describe('berth-cni under libcni (cnitool), through the daemon', () => {
  let L: NetLab;
  let daemon: Daemon | undefined;
  let cnitool = '';
  let confDir = '';
  let binDir = '';
  let cacheDir = '';

  before(async () => {
    if (skip) return;
    cnitool = await buildCnitool();
    L = await netLab('e2e cni-libcni');
    await L.h.berthOk(['network', 'create', '--subnet', '10.78.0.0/24', 'apps']);
    await L.h.berthOk(['network', 'create', '--ipv6', '--subnet', '10.79.0.0/24', '--subnet', 'fd00:79::/64', 'dual']);
    await L.h.berthOk(['network', 'create', '-d', 'macvlan', '--subnet', '10.200.0.0/24', '--gateway', EXT4, '--ip-range', '10.200.0.128/28', '-o', 'parent=eth0', 'lan']);
    confDir = join(L.lab.dir, 'net.d');
    cacheDir = join(L.lab.dir, 'cni-cache');
    binDir = await cniBinDir(join(L.lab.dir, 'cni-bin'));
    for (const s of SCENARIOS) await writeConflist(confDir, s.network, s.cniVersion, s.plugins);
    daemon = await startDaemon(L.h);
  });
  after(async () => {
    await stopDaemon(daemon);
    await L?.lab.close();
  });

  const cni = (op: string, s: Scenario, sb: External, id: string, caps?: unknown) =>
    L.h.exec([cnitool, op, s.network, sb.netnsPath], {
      env: { NETCONFPATH: confDir, CNI_PATH: binDir, CNI_CACHE_DIR: cacheDir, CNI_CONTAINERID: id, CNI_ARGS: `IgnoreUnknown=1;K8S_POD_NAME=${id}`, ...(caps ? { CAP_ARGS: JSON.stringify(caps) } : {}) },
      timeoutMs: 60_000,
    });

  for (const s of SCENARIOS) {
    test(`cniVersion ${s.cniVersion}, network "${s.network}": ${s.plugins.map((p) => p.type).join(' -> ')}`, T, async () => {
      const tableBefore = await berthTable(L.h);
      const veths = async () => (await links(L.h)).map((l) => l.ifname).filter((n) => n.startsWith('veth')).sort();
      const vethsBefore = await veths();
      const [a, b] = [await L.lab.createExternal(`${s.network}-a`), await L.lab.createExternal(`${s.network}-b`)];
      const ids = [`${s.network}-a`, `${s.network}-b`];
      const caps = s.hostPort ? { portMappings: [{ hostPort: s.hostPort, containerPort: 80, protocol: 'tcp' }] } : undefined;
      const addA = await cni('add', s, a, ids[0] as string, caps);
      assert.equal(addA.code, 0, `ADD a: ${addA.stdout}${addA.stderr}`);
      const addB = await cni('add', s, b, ids[1] as string);
      assert.equal(addB.code, 0, `ADD b: ${addB.stdout}${addB.stderr}`);
      const [ra, rb] = [JSON.parse(addA.stdout) as Result, JSON.parse(addB.stdout) as Result];
      // libcni 1.1.2 reads a 1.1.0 answer as 1.0.0 (cnitool's exec layer; the wire carried 1.1.0)
      assert.equal(ra.cniVersion, s.cniVersion === '1.1.0' ? '1.0.0' : s.cniVersion);
      const v4 = (r: Result) => r.ips.find((i) => !i.address.includes(':') && !i.address.startsWith('127.'))?.address.split('/')[0] ?? '';
      const v6 = (r: Result) => r.ips.find((i) => i.address.includes(':') && i.address !== '::1/128')?.address.split('/')[0] ?? '';
      const [ipA, ipB] = [v4(ra), v4(rb)];
      assert.match(ipA, /^\d+\.\d+\.\d+\.\d+$/, JSON.stringify(ra));
      if (s.plugins[0]?.type === 'loopback') {
        assert.equal(ra.interfaces[0]?.name, 'lo', 'berth kept the prevResult of the plugin before it');
        assert.ok(ra.ips.some((i) => i.address === '127.0.0.1/8' && i.interface === 0), JSON.stringify(ra.ips));
      }
      const sbIndex = ra.interfaces.findIndex((i) => i.name === 'eth0' && i.sandbox);
      assert.ok(ra.ips.filter((i) => !i.address.startsWith('127.') && i.address !== '::1/128').every((i) => i.interface === sbIndex), `ips point at eth0: ${JSON.stringify(ra)}`);

      // what the meta plugins after berth did to berth's interfaces
      const mtu = s.plugins.find((p) => p.type === 'tuning')?.mtu as number | undefined;
      if (mtu) assert.match((await runIn(a, ['ip', '-o', 'link', 'show', 'eth0'])).stdout, new RegExp(`mtu ${String(mtu)}\\b`), 'tuning set the MTU');
      if (s.plugins.some((p) => p.type === 'bandwidth')) {
        const hostEnd = ra.interfaces.find((i) => !i.sandbox && i.name !== 'lo')?.name ?? '';
        assert.match((await L.h.exec(['tc', 'qdisc', 'show', 'dev', hostEnd])).stdout, /tbf/, `bandwidth shaped berth's host end ${hostEnd}`);
      }

      const servers = [await httpPeerServer(a, [80]), await httpPeerServer(b, [80])];
      const outside = await httpPeerServer(L.ext, [9000]);
      try {
        assert.equal(await httpGet(a, ipB, 80), `peer=${ipA}`, 'the sandbox reaches its peer on the network');
        if (s.v6) {
          assert.match(v6(ra), /^fd00:79::/, JSON.stringify(ra));
          assert.equal(await httpGet(a, v6(rb), 80), `peer=${v6(ra)}`, 'the sandbox reaches its peer over IPv6');
          assert.match(await httpGet(a, EXT6, 9000), /^peer=fd99::/, 'the sandbox reaches the outside over IPv6');
        }
        assert.equal(await httpGet(a, EXT4, 9000), `peer=${s.lan ? ipA : H4}`, s.lan ? 'the LAN sees the sandbox itself' : 'the outside sees the host (NAT)');
        if (s.hostPort) {
          assert.equal(await httpGet(L.ext, H4, s.hostPort), `peer=${EXT4}`, 'the published port is reached from outside');
          if (s.v6) assert.equal(await httpGet(L.ext, H6, s.hostPort), `peer=${EXT6}`, 'the published port is reached over IPv6');
        }
        if (s.lan) assert.equal(await httpGet(L.ext, ipA, 80), `peer=${EXT4}`, 'the LAN reaches the sandbox directly');
      } finally {
        for (const p of [...servers, outside]) await p.kill();
      }

      if (!s.noCheck) {
        const check = await cni('check', s, a, ids[0] as string, caps);
        assert.equal(check.code, 0, `CHECK: ${check.stdout}${check.stderr}`);
        await runIn(a, ['ip', 'addr', 'flush', 'dev', 'eth0'], { check: true });
        const drift = await cni('check', s, a, ids[0] as string, caps);
        assert.notEqual(drift.code, 0, 'CHECK fails once the address is gone');
        assert.match(drift.stderr, new RegExp(`${ipA.replace(/\./g, '\\.')}/\\d+ is missing`), drift.stderr);
      }

      for (const [sb, id, c] of [[a, ids[0], caps], [b, ids[1], undefined], [a, ids[0], caps]] as const) {
        const del = await cni('del', s, sb, id as string, c);
        assert.equal(del.code, 0, `DEL ${id}: ${del.stdout}${del.stderr}`);
      }
      for (const sb of [a, b]) assert.doesNotMatch((await runIn(sb, ['ip', '-o', 'link', 'show'])).stdout, /eth0/, 'DEL removed the sandbox interface');
      const net = await L.h.berthJson<{ Containers: Record<string, unknown> }[]>(['network', 'inspect', s.network, '--format', 'json']);
      assert.deepEqual(net[0]?.Containers, {}, 'DEL released both attachments');
      assert.deepEqual((await berthTable(L.h)).elements, tableBefore.elements, 'no nft element of berth left');
      assert.deepEqual(await iptablesMentions(L.h, [ipA, ipB, ...ids]), [], 'no iptables rule of portmap or firewall left');
      const cached = await readdir(join(cacheDir, 'results')).catch(() => []);
      assert.deepEqual(cached.filter((f) => ids.some((id) => f.includes(id))), [], 'libcni\'s cache holds nothing of them');
      assert.deepEqual(await veths(), vethsBefore, 'no host veth left');
    });
  }
});
