// End to end, the CNI spec through berth-cni (in-process, bin/berth-cni): versions echoed and
// results shaped per cniVersion, the well-known error codes with nothing changed, prevResult
// merged, CHECK catching drift (a flushed address), GC releasing exactly the stale attachments,
// runtimeConfig ips/mac and a user-defined dual-stack network, the state location in the conf.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type External, REPO_ROOT, VIA_CLIENT, runIn } from '../lab/index.js';
import { type BasicLab, EXT_ADDR, basicLab } from './helpers.js';

const T = { timeout: 120_000 };
// BERTH_E2E_VIA=client: the native plugin with no daemon, i.e. the in-process plugin run from its snapshot
const PLUGIN = VIA_CLIENT ? [join(REPO_ROOT, 'dist', 'berth-cni')] : [process.execPath, join(REPO_ROOT, 'bin', 'berth-cni')];

interface CniOut {
  cniVersion: string;
  interfaces: { name: string; mac?: string; sandbox?: string }[];
  ips: { version?: string; address: string; gateway?: string; interface?: number }[];
  routes: { dst: string; gw?: string }[];
  code?: number;
  msg?: string;
}

void describe('berth-cni: the CNI spec', () => {
  let L: BasicLab;
  const sbs: External[] = [];

  before(async () => {
    L = await basicLab('e2e cni-spec');
    await L.h.berthOk(['network', 'create', '--subnet', '10.77.0.0/24', '--ipv6', '--subnet', 'fd77::/64', 'net77']);
  });
  after(async () => {
    await L?.lab.close();
  });

  const sandbox = async (name: string) => {
    const sb = await L.lab.createExternal(name);
    sbs.push(sb);
    return sb;
  };
  const call = async (command: string, env: Record<string, string>, conf: unknown): Promise<{ status: number; out: CniOut }> => {
    const r = await L.h.exec(PLUGIN, { input: typeof conf === 'string' ? conf : JSON.stringify(conf), env: { CNI_COMMAND: command, CNI_PATH: '/opt/cni/bin', ...env } });
    return { status: r.code ?? -1, out: (r.stdout.trim() ? JSON.parse(r.stdout) : {}) as CniOut };
  };
  const envOf = (id: string, sb: External, ifname = 'eth0') => ({ CNI_CONTAINERID: id, CNI_NETNS: sb.netnsPath, CNI_IFNAME: ifname });
  const endpointCount = async (net = 'bridge') => Object.keys((await L.h.berthJson<{ Containers?: Record<string, unknown> }[]>(['network', 'inspect', net, '--format', 'json']))[0]?.Containers ?? {}).length;

  test('versions, error codes, duplicate ADD, CHECK drift', T, async () => {
    const v = await call('VERSION', {}, { cniVersion: '0.4.0' });
    assert.equal(v.status, 0);
    assert.equal(v.out.cniVersion, '0.4.0', 'VERSION echoes the input cniVersion');

    const status = await call('STATUS', {}, { cniVersion: '1.1.0', name: 'lab', type: 'berth' });
    assert.equal(status.status, 0, JSON.stringify(status.out));
    const notServed = await call('STATUS', {}, { cniVersion: '1.1.0', name: 'lab', type: 'berth', network: 'nosuchnet' });
    assert.equal(notServed.out.code, 50);
    assert.match(notServed.out.msg ?? '', /nosuchnet/);

    const sb = await sandbox('spec1');
    const noVersion = await call('ADD', envOf('spec1', sb), { name: 'lab', type: 'berth' });
    assert.equal(noVersion.out.code, 7);
    assert.match(noVersion.out.msg ?? '', /cniVersion/);
    const badVersion = await call('ADD', envOf('spec1', sb), { cniVersion: '0.1.0', name: 'lab', type: 'berth' });
    assert.equal(badVersion.out.code, 1);
    assert.match(badVersion.out.msg ?? '', /"0\.1\.0"/);
    const noNetns = await call('ADD', { ...envOf('spec1', sb), CNI_NETNS: '/run/netns/berth-no-such-ns' }, { cniVersion: '1.0.0', name: 'lab', type: 'berth' });
    assert.equal(noNetns.out.code, 3);
    assert.equal(noNetns.out.cniVersion, '1.0.0', 'errors answer in the input cniVersion');
    assert.match(noNetns.out.msg ?? '', /berth-no-such-ns/);
    const unknownNet = await call('ADD', envOf('spec1', sb), { cniVersion: '1.0.0', name: 'lab', type: 'berth', network: 'nosuchnet' });
    assert.equal(unknownNet.out.code, 7);
    assert.match(unknownNet.out.msg ?? '', /nosuchnet/);
    assert.equal(await endpointCount(), 0, 'refused calls changed nothing');

    const conf = { cniVersion: '0.4.0', name: 'lab', type: 'berth' };
    const add = await call('ADD', envOf('spec1', sb), conf);
    assert.equal(add.status, 0, JSON.stringify(add.out));
    assert.equal(add.out.cniVersion, '0.4.0');
    assert.equal(add.out.ips[0]?.version, '4', '0.4.0 results name the address family');
    const gw = add.out.ips[0]?.gateway ?? '';
    assert.ok(await sb.ping(gw, { count: 1 }), 'the sandbox reaches its gateway');
    assert.ok(await sb.ping(EXT_ADDR, { count: 1 }), 'the sandbox reaches the outside (NAT)');

    const dup = await call('ADD', envOf('spec1', sb), conf);
    assert.equal(dup.out.code, 100);
    assert.match(dup.out.msg ?? '', /spec1/);
    assert.equal(await endpointCount(), 1, 'a duplicate ADD changed nothing');
    assert.ok(await sb.ping(gw, { count: 1 }), 'and left the first attachment working');

    const unknown = await call('CHECK', envOf('nosuchctr', sb), { ...conf, prevResult: add.out });
    assert.equal(unknown.out.code, 3);
    assert.match(unknown.out.msg ?? '', /nosuchctr/);
    const check = await call('CHECK', envOf('spec1', sb), { ...conf, prevResult: add.out });
    assert.equal(check.status, 0, JSON.stringify(check.out));
    const lying = structuredClone(add.out);
    if (lying.ips[0]) lying.ips[0].address = '10.99.99.99/16';
    const badPrev = await call('CHECK', envOf('spec1', sb), { ...conf, prevResult: lying });
    assert.equal(badPrev.status, 1);
    assert.match(badPrev.out.msg ?? '', /10\.99\.99\.99/);

    await runIn(sb, ['ip', 'addr', 'flush', 'dev', 'eth0']);
    const drifted = await call('CHECK', envOf('spec1', sb), { ...conf, prevResult: add.out });
    assert.equal(drifted.status, 1, 'CHECK fails after the address was flushed');
    assert.match(drifted.out.msg ?? '', new RegExp(`address ${add.out.ips[0]?.address.replace(/\./g, '\\.') ?? ''} is missing`));

    assert.equal((await call('DEL', envOf('spec1', sb), conf)).status, 0);
    assert.equal(await endpointCount(), 0);
  });

  test('prevResult is merged when chained', T, async () => {
    const sb = await sandbox('spec2');
    const prevResult = { cniVersion: '1.0.0', interfaces: [{ name: 'tap0', sandbox: sb.netnsPath }], ips: [{ address: '192.0.2.5/24', interface: 0 }], routes: [{ dst: '198.51.100.0/24' }], dns: { nameservers: ['192.0.2.53'] } };
    const conf = { cniVersion: '1.1.0', name: 'lab', type: 'berth', prevResult };
    const add = await call('ADD', envOf('spec2', sb), conf);
    assert.equal(add.status, 0, JSON.stringify(add.out));
    assert.equal(add.out.interfaces[0]?.name, 'tap0');
    assert.equal(add.out.ips[0]?.address, '192.0.2.5/24');
    assert.equal(add.out.ips[1]?.interface, 2, 'berth\'s address points at its own sandbox interface, after the previous ones');
    assert.equal(add.out.interfaces[2]?.name, 'eth0');
    assert.ok(add.out.routes.some((r) => r.dst === '198.51.100.0/24'));
    assert.ok(add.out.ips.every((ip) => ip.version === undefined), '1.1.0 results carry no address version');
    assert.ok(await sb.ping(add.out.ips[1]?.gateway ?? '', { count: 1 }));
    assert.equal((await call('DEL', envOf('spec2', sb), conf)).status, 0);
  });

  test('GC releases exactly the stale attachments', T, async () => {
    const keep = await sandbox('gckeep');
    const stale = await sandbox('gcstale');
    const conf = { cniVersion: '1.1.0', name: 'lab', type: 'berth', runtimeConfig: { portMappings: [{ hostPort: 8190, containerPort: 80 }] } };
    const a = await call('ADD', envOf('gckeep', keep), { cniVersion: '1.1.0', name: 'lab', type: 'berth' });
    const b = await call('ADD', envOf('gcstale', stale), conf);
    assert.equal(a.status + b.status, 0);
    const portCheck = await call('CHECK', envOf('gcstale', stale), { ...conf, prevResult: b.out });
    assert.equal(portCheck.status, 0, `CHECK with a published port: ${JSON.stringify(portCheck.out)}`);
    await L.h.exec(['nft', 'flush', 'map', 'inet', 'berth', 'pub4any']);
    const lostPort = await call('CHECK', envOf('gcstale', stale), { ...conf, prevResult: b.out });
    assert.match(lostPort.out.msg ?? '', /published port .*8190/, 'CHECK notices a published port gone from the firewall');
    // a berth container on the same network is not this plugin's to collect
    await L.h.berthOk(['run', '-d', '--name', 'gcberth', '--', 'sleep', '300']);
    assert.equal(await endpointCount(), 3);
    const gc = await call('GC', {}, { cniVersion: '1.1.0', name: 'lab', type: 'berth', 'cni.dev/valid-attachments': [{ containerID: 'gckeep', ifname: 'eth0' }] });
    assert.equal(gc.status, 0, JSON.stringify(gc.out));
    assert.equal(await endpointCount(), 2);
    assert.ok(await keep.ping(a.out.ips[0]?.gateway ?? '', { count: 1 }), 'the valid attachment still works');
    const links = await runIn(stale, ['ip', '-o', 'link', 'show']);
    assert.doesNotMatch(links.stdout, /eth0/, 'the stale sandbox interface is gone');
    const pub = await L.h.exec(['nft', 'list', 'map', 'inet', 'berth', 'pub4any']);
    assert.doesNotMatch(pub.stdout, /\b8190\b/, 'its published port is gone');
    await L.h.berthOk(['rm', '-f', 'gcberth']);
    assert.equal((await call('DEL', envOf('gckeep', keep), conf)).status, 0);
  });

  test('a user-defined dual-stack network, runtimeConfig ips and mac, berthRoot in the conf', T, async () => {
    const sb = await sandbox('spec4');
    const peer = await sandbox('spec4peer');
    const conf = {
      cniVersion: '1.0.0',
      name: 'lab',
      type: 'berth',
      network: 'net77',
      berthRoot: L.h.rootDir,
      berthRun: L.h.runDir,
      runtimeConfig: { ips: ['10.77.0.50/24', 'fd77::50'], mac: '02:00:00:77:00:50' },
    };
    // a scrubbed environment (conmon): the conf says where the state is
    const wrong = `${L.h.rootDir}-not-used`;
    const scrubbed = { BERTH_ROOT: wrong, BERTH_RUN: `${L.h.runDir}-not-used` };
    const add = await call('ADD', { ...envOf('spec4', sb), ...scrubbed }, conf);
    assert.equal(add.status, 0, JSON.stringify(add.out));
    assert.deepEqual(add.out.ips.map((ip) => ip.address).sort(), ['10.77.0.50/24', 'fd77::50/64']);
    assert.equal(add.out.interfaces.find((i) => i.sandbox)?.mac, '02:00:00:77:00:50');
    assert.ok(!existsSync(wrong), 'the environment\'s location was not used');
    const link = await runIn(sb, ['ip', '-o', 'link', 'show', 'eth0']);
    assert.match(link.stdout, /02:00:00:77:00:50/);
    const other = await call('ADD', envOf('spec4peer', peer), { cniVersion: '1.0.0', name: 'lab', type: 'berth', network: 'net77' });
    assert.equal(other.status, 0, JSON.stringify(other.out));
    assert.ok(await peer.ping('10.77.0.50', { count: 1 }), 'peers on the network reach each other over IPv4');
    assert.ok(await peer.ping('fd77::50', { count: 1 }), 'and over IPv6');
    const taken = await call('ADD', envOf('spec4b', peer, 'eth1'), conf);
    assert.equal(taken.status, 1, 'an address in use is refused');
    const badMac = await call('ADD', envOf('spec4c', peer, 'eth2'), { ...conf, runtimeConfig: { mac: '01:00:5e:00:00:01' } });
    assert.equal(badMac.out.code, 7);
    assert.match(badMac.out.msg ?? '', /01:00:5e:00:00:01/);
    const check = await call('CHECK', { ...envOf('spec4', sb), ...scrubbed }, { ...conf, prevResult: add.out });
    assert.equal(check.status, 0, JSON.stringify(check.out));
    assert.equal((await call('DEL', { ...envOf('spec4', sb), ...scrubbed }, conf)).status, 0);
    assert.equal((await call('DEL', envOf('spec4peer', peer), conf)).status, 0);
    const inspect = await L.h.berthJson<{ Containers: Record<string, unknown> }[]>(['network', 'inspect', 'net77', '--format', 'json']);
    assert.deepEqual(inspect[0]?.Containers, {}, 'DEL left nothing on the network');
  });
});
