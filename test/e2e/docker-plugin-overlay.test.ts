// End to end, a berth overlay network used by two dockerds (issue 14): three lab hosts run a
// 3-member etcd; berth daemons on hosts a and b join the cluster and serve the Docker plugin;
// a dockerd on each host joins the overlay (created once with berth) as a Docker network with
// berth's IPAM, so the two dockerds never hand out the same address; a container on b reaches
// the container on a across the VXLAN underlay. The encrypted overlay is made through a's dockerd
// (docker network create -d berth -o berth.driver=overlay -o encrypted) and joined on b. No swarm.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Host, Lab, type Switch, startEtcdCluster } from '../lab/index.js';
import { startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import {
  cleanPluginDirs, dockerCmd, dockerMissing, dockerOk, importBusybox, pluginDirsBefore, pluginNameFor, startDockerd, stopDockerd, type Dockerd,
} from './docker-plugin-helpers.js';
import { ADDR, TTL, cliOk, until } from './overlay-helpers.js';

const SUBNET = '10.97.0.0/24';
const ENC_SUBNET = '10.96.0.0/24';
const PATTERN = 'deadbeefcafe';

/** Capture UDP on the lab switch while fn runs: the lines tcpdump prints, and hits of the ping pattern in the raw frames. */
async function captureUnderlay(sw: Switch, file: string, fn: () => Promise<void>): Promise<{ lines: string[]; hits: number }> {
  const dump = await sw.underlay.spawn(['tcpdump', '-Z', 'root', '--immediate-mode', '-ni', sw.bridge, '-U', '-w', file, 'udp']);
  await until('tcpdump listens', async () => /listening on/.test(dump.stderr()), 5000);
  await fn();
  await new Promise((r) => setTimeout(r, 300));
  await dump.kill();
  const raw = existsSync(file) ? readFileSync(file) : Buffer.alloc(0);
  const needle = Buffer.from(PATTERN + PATTERN, 'hex');
  let hits = 0;
  for (let i = raw.indexOf(needle); i >= 0; i = raw.indexOf(needle, i + 1)) hits++;
  const text = await sw.underlay.exec(['tcpdump', '-nr', file]);
  return { lines: text.stdout.split('\n').filter((l) => l.trim() !== ''), hits };
}

test('a berth overlay across two dockerds (3-member etcd, no swarm)', { timeout: 300_000, skip: dockerMissing() }, async (t) => {
  const dirsBefore = pluginDirsBefore();
  const lab = await Lab.create({ label: 'docker-overlay' });
  const daemons: Daemon[] = [];
  const dockerds: Dockerd[] = [];
  const socks: string[] = [];
  try {
    const sw = await lab.createSwitch('under');
    const hosts: Host[] = [];
    for (const name of ['a', 'b', 'c']) hosts.push(await lab.createHost(name));
    for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: `${ADDR(i)}/24` });
    const etcd = await startEtcdCluster(lab, hosts);
    const [a, b] = hosts as [Host, Host];
    for (const [i, h] of [a, b].entries()) {
      const { sock } = pluginNameFor(h);
      socks.push(sock);
      const store = `etcd://${etcd.members.map((m) => m.endpoint).join(',')}`;
      const d = await startDaemon(h, { args: ['--cluster-store', store, '--advertise-addr', ADDR(i), '--cluster-lease-ttl', String(TTL), '--docker-plugin', sock], ...(process.env.BERTH_TRACE ? { env: { BERTH_TRACE: '1' } } : {}) });
      daemons.push(d);
      await until(`daemon on ${h.name} joins the cluster`, async () => /cluster: joined/.test(d.proc.stderr()));
      await d.proc.waitForOutput('docker plugin listening', { stream: 'stderr', timeoutMs: 10_000 });
    }
    for (const h of [a, b]) dockerds.push(await startDockerd(h));
    const [da, db] = dockerds as [Dockerd, Dockerd];
    const img = await importBusybox(da);
    await importBusybox(db);

    await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', SUBNET, '--attachable', 'ov']);
    await until('ov known on b', async () => (await b.berth(['network', 'inspect', 'ov'])).code === 0);

    const ips: string[] = [];
    await t.test('b finds the cluster\'s overlay by name (-o berth.driver=overlay -o berth.name=ov); a conflicting subnet is refused, leaving nothing', async () => {
      const { driver } = pluginNameFor(b);
      const netsBefore = await dockerOk(db, ['network', 'ls', '-q']);
      const wrong = await dockerCmd(db, ['network', 'create', '-d', driver, '--ipam-driver', driver, '-o', 'berth.driver=overlay', '-o', 'berth.name=ov', '--subnet', '10.95.0.0/24', 'dov']);
      assert.notEqual(wrong.code, 0);
      assert.match(wrong.stderr, /berth\.name=ov names the cluster's overlay: the berth network has subnet\(s\) 10\.97\.0\.0\/24, Docker asked for 10\.95\.0\.0\/24/, wrong.stderr);
      // the same subnet under another name: the overlap is refused, and the message says how to join
      const unnamed = await dockerCmd(db, ['network', 'create', '-d', driver, '--ipam-driver', driver, '-o', 'berth.driver=overlay', '--subnet', SUBNET, 'dov']);
      assert.notEqual(unnamed.code, 0);
      assert.match(unnamed.stderr, /add -o berth\.name=ov/, unnamed.stderr);
      assert.equal(await dockerOk(db, ['network', 'ls', '-q']), netsBefore, 'nothing left in Docker');
      const names = (await b.berthJson<{ Name: string }[]>(['network', 'ls', '--format', 'json'])).map((n) => n.Name);
      assert.deepEqual(names.filter((n) => n.startsWith('docker-')), [], `nothing left in berth: ${names.join(', ')}`);
    });

    await t.test('each dockerd joins the overlay with berth\'s IPAM; their containers get distinct addresses', async () => {
      for (const [i, d] of [da, db].entries()) {
        const { driver } = pluginNameFor(d.h);
        // a by berth's name for it, b as another dockerd of the cluster: the same overlay
        const how = d === da ? ['-o', 'berth.network=ov'] : ['-o', 'berth.driver=overlay', '-o', 'berth.name=ov'];
        await dockerOk(d, ['network', 'create', '-d', driver, '--ipam-driver', driver, '--subnet', SUBNET, ...how, 'dov']);
        await dockerOk(d, ['run', '-d', '--name', `w${i}`, '--network', 'dov', img, 'sleep', '600']);
        ips.push(await dockerOk(d, ['inspect', '-f', '{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}', `w${i}`]));
      }
      const own = ips.map((s) => s.split(' ').find((x) => x.startsWith('10.97.0.')) ?? '');
      assert.ok(own[0] && own[1] && own[0] !== own[1], `distinct overlay addresses: ${JSON.stringify(ips)}`);
      ips.splice(0, ips.length, ...own);
    });

    await t.test('the container on b reaches the container on a across hosts', async () => {
      await until('w1 (host b) pings w0 (host a)', async () => (await dockerCmd(db, ['exec', 'w1', 'ping', '-c', '1', '-W', '1', ips[0] ?? ''])).code === 0, 20_000);
      assert.equal((await dockerCmd(da, ['exec', 'w0', 'ping', '-c', '2', '-W', '2', ips[1] ?? ''])).code, 0);
      // the overlay's endpoints in the cluster: both hosts' containers
      const inspect = (await b.berthJson<{ Containers: Record<string, unknown> }[]>(['network', 'inspect', 'ov', '--format', 'json']))[0];
      assert.ok(inspect && Object.keys(inspect.Containers).length >= 1);
    });

    await t.test('-o encrypted: Docker\'s containers talk across hosts, and the underlay carries only WireGuard', { skip: existsSync('/usr/bin/wireguard-go') || existsSync('/sys/module/wireguard') ? false : 'no WireGuard here' }, async () => {
      // made through a's dockerd this time: the plugin creates the berth overlay in the cluster
      const { driver: driverA } = pluginNameFor(a);
      await dockerOk(da, ['network', 'create', '-d', driverA, '--ipam-driver', driverA, '-o', 'berth.driver=overlay', '-o', 'encrypted', '-o', 'berth.name=ove', '--subnet', ENC_SUBNET, 'dove']);
      const made = (await a.berthJson<{ Driver: string; Options: Record<string, string>; Labels: Record<string, string> }[]>(['network', 'inspect', 'ove', '--format', 'json']))[0];
      assert.equal(made?.Driver, 'overlay');
      assert.ok(made && 'encrypted' in made.Options, `encrypted: ${JSON.stringify(made?.Options)}`);
      assert.equal(made?.Labels['berth.docker.network-id'], await dockerOk(da, ['network', 'inspect', '-f', '{{.Id}}', 'dove']));
      await until('ove known on b', async () => (await b.berth(['network', 'inspect', 'ove'])).code === 0);
      const eips: string[] = [];
      const pids: string[] = [];
      for (const [i, d] of [da, db].entries()) {
        const { driver } = pluginNameFor(d.h);
        // b: the same command as a's (but its own plugin): the cluster's overlay "ove" is found by name
        if (d === db) await dockerOk(d, ['network', 'create', '-d', driver, '--ipam-driver', driver, '-o', 'berth.driver=overlay', '-o', 'encrypted', '-o', 'berth.name=ove', '--subnet', ENC_SUBNET, 'dove']);
        await dockerOk(d, ['run', '-d', '--name', `e${i}`, '--network', 'dove', img, 'sleep', '600']);
        eips.push(await dockerOk(d, ['inspect', '-f', '{{(index .NetworkSettings.Networks "dove").IPAddress}}', `e${i}`]));
        pids.push(await dockerOk(d, ['inspect', '-f', '{{.State.Pid}}', `e${i}`]));
      }
      await until('e1 (host b) pings e0 (host a) through WireGuard', async () => (await dockerCmd(db, ['exec', 'e1', 'ping', '-c', '1', '-W', '1', eips[0] ?? ''])).code === 0, 30_000);
      // iputils ping in e1's namespace, for its payload pattern (busybox ping has none)
      const cap = await captureUnderlay(sw, join(lab.dir, 'enc.pcap'), async () => {
        const r = await b.exec(['nsenter', `--net=/proc/${pids[1] ?? ''}/ns/net`, 'ping', '-n', '-c', '5', '-i', '0.2', '-W', '1', '-s', '200', '-p', PATTERN, eips[0] ?? '']);
        assert.match(r.stdout, / 0% packet loss/, r.stdout);
      });
      const vxlan = cap.lines.filter((l) => /\.4789: (VXLAN|UDP)/.test(l));
      const wg = cap.lines.filter((l) => /\.51820 > [0-9.]+\.51820: UDP/.test(l));
      assert.ok(wg.length >= 8, `WireGuard between the hosts:\n${cap.lines.slice(0, 20).join('\n')}`);
      assert.equal(vxlan.length, 0, `no plaintext VXLAN on the underlay:\n${vxlan.slice(0, 10).join('\n')}`);
      assert.equal(cap.hits, 0, 'the ping payload never appears on the underlay');
      // b's Docker network only joined it; a's made it, so its removal removes the overlay everywhere
      for (const [i, d] of [db, da].entries()) {
        await dockerOk(d, ['rm', '-f', `e${1 - i}`]);
        await dockerOk(d, ['network', 'rm', 'dove']);
      }
      assert.notEqual((await a.berth(['network', 'inspect', 'ove'])).code, 0, 'the overlay went with a\'s Docker network');
      await until('ove gone on b', async () => (await b.berth(['network', 'inspect', 'ove'])).code !== 0);
    });

    await t.test('removed on both hosts: the overlay stays, its cluster addresses are free again', async () => {
      for (const [i, d] of [da, db].entries()) {
        await dockerOk(d, ['rm', '-f', `w${i}`]);
        await dockerOk(d, ['network', 'rm', 'dov']);
      }
      await cliOk(a, ['network', 'inspect', 'ov']);
      await cliOk(a, ['network', 'rm', 'ov']);
    });
  } finally {
    if (process.env.BERTH_TRACE) for (const d of daemons) console.error(d.proc.stderr().split('\n').filter((l) => /docker plugin|error|Error/.test(l)).join('\n'));
    for (const d of dockerds) await stopDockerd(d).catch((e: Error) => console.error(`stop dockerd: ${e.message}`));
    for (const d of daemons) await stopDaemon(d);
    for (const s of socks) cleanPluginDirs(s, dirsBefore);
    await lab.close();
  }
});
