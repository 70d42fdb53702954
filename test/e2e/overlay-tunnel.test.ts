// A WireGuard tunnel address claimed twice (issue 17): three lab hosts, a 3-member etcd, an
// encrypted overlay. While hosts x and y are stopped the store loses their tunnel-address keys
// and y comes back "reinstalled" (no saved state): it claims the lowest free address, which is
// x's. When x comes back with its saved address, the store says another host holds it: x moves
// its device, its encrypted VXLAN devices and its published records to a free address, without
// a second restart, and every host reaches every other over the encrypted overlay again.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { ETCDCTL_BIN, type Host, Lab, startEtcdCluster } from '../lab/index.js';
import type { Daemon } from './daemon-helpers.js';
import { ADDR, cliOk, runDetached, startHostDaemon, until } from './overlay-helpers.js';
import { ctrNet, ipOf, pingFrom } from './helpers.js';

function wgIfname(h: Host): string {
  const id = readFileSync(join(h.rootDir, 'cluster-host-id'), 'utf8').trim();
  return `wgb-${createHash('sha256').update(id).digest('hex').slice(0, 8)}`;
}

/** The tunnel address on h's WireGuard device, undefined while there is none. */
async function tunnelOf(h: Host): Promise<string | undefined> {
  const r = await h.exec(['ip', '-o', '-4', 'addr', 'show', 'dev', wgIfname(h)]);
  return /inet (198\.18\.\d+\.\d+)\//.exec(r.stdout)?.[1];
}

const toNumber = (ip: string) => ip.split('.').reduce((n, o) => n * 256 + Number(o), 0);

test('a tunnel address another host holds is given up for a free one, without a restart', { timeout: 180_000 }, async (t) => {
  if (!existsSync('/usr/bin/wireguard-go') && !existsSync('/sys/module/wireguard')) return void t.skip('neither kernel WireGuard nor wireguard-go is available');
  const lab = await Lab.create({ label: 'bI-tunnel' });
  const daemons: (Daemon | undefined)[] = [];
  try {
    const sw = await lab.createSwitch('under');
    const hosts: Host[] = [];
    for (const name of ['a', 'b', 'c']) hosts.push(await lab.createHost(name));
    for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: `${ADDR(i)}/24` });
    const etcd = await startEtcdCluster(lab, hosts);
    for (const [i, h] of hosts.entries()) daemons[i] = await startHostDaemon(h, etcd, i);
    const a = hosts[0] as Host;
    const encId = (await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', '10.125.0.0/24', '--attachable', '-o', 'encrypted', 'tun1'])).stdout.trim();
    const ns: Record<string, string> = {};
    const ip: Record<string, string> = {};
    const tunnel: Record<string, string> = {};
    for (const h of hosts) {
      await until(`${h.name} has its tunnel address`, async () => (tunnel[h.name] = (await tunnelOf(h)) ?? '') !== '');
      await runDetached(h, ['--name', `t${h.name}`, '--network', 'tun1', '--', 'sleep', '600']);
      ns[h.name] = await ctrNet(h, `t${h.name}`);
      ip[h.name] = await ipOf(ns[h.name] as string);
    }
    const pingAll = async () => {
      for (const from of hosts) for (const to of hosts) if (from !== to) await until(`t${from.name} reaches t${to.name}`, () => pingFrom(ns[from.name] as string, ip[to.name] as string), 20_000);
    };
    await pingAll();
    // x and y: b and c (y, restarted, will claim x's address)
    const [xi, yi] = toNumber(tunnel.b as string) < toNumber(tunnel.c as string) ? [1, 2] : [2, 1];
    const x = hosts[xi] as Host;
    const y = hosts[yi] as Host;
    const lost = tunnel[x.name] as string;
    for (const i of [xi, yi]) {
      await daemons[i]?.proc.kill();
      daemons[i] = undefined;
    }
    const etcdctl = [ETCDCTL_BIN, '--endpoints', etcd.endpoints.join(','), '--command-timeout', '5s'];
    for (const addr of [lost, tunnel[y.name] as string]) await a.execOk([...etcdctl, 'del', `/berth/v1/wireguard/tunnel/${addr}`], { env: { ETCDCTL_API: '3' } });
    // y comes back remembering x's address (as a host restored from another's backup would): with
    // both store keys gone it claims that address first (hosts no longer all try the lowest one)
    const stateFile = join(y.rootDir, 'wireguard', 'state.json');
    writeFileSync(stateFile, `${JSON.stringify({ ...(JSON.parse(readFileSync(stateFile, 'utf8')) as object), tunnelAddress: lost })}\n`, { mode: 0o600 });
    daemons[yi] = await startHostDaemon(y, etcd, yi);
    await until(`${y.name} claims ${lost}`, async () => (await tunnelOf(y)) === lost, 20_000);

    daemons[xi] = await startHostDaemon(x, etcd, xi);
    await until(`${x.name} moves off ${lost}`, async () => {
      const now = await tunnelOf(x);
      return now !== undefined && now !== lost;
    }, 20_000);
    const moved = (await tunnelOf(x)) as string;
    t.diagnostic(`${x.name}: ${lost} -> ${moved}; ${y.name} holds ${lost}`);
    const key = await a.execOk([...etcdctl, 'get', `/berth/v1/wireguard/tunnel/${moved}`, '--print-value-only'], { env: { ETCDCTL_API: '3' } });
    const hostId = readFileSync(join(x.rootDir, 'cluster-host-id'), 'utf8').trim();
    assert.equal((JSON.parse(key.stdout) as { hostId: string }).hostId, hostId, `the store gives ${moved} to ${x.name}`);
    const vx = await x.execOk(['ip', '-d', 'link', 'show', `vx-${encId.slice(0, 12)}`]);
    assert.match(vx.stdout, new RegExp(`local ${moved.replaceAll('.', '\\.')} `), `${x.name}'s encrypted VXLAN device sends from ${moved}`);
    assert.match(daemons[xi]?.proc.stderr() ?? '', new RegExp(`tunnel address ${lost.replaceAll('.', '\\.')} is held by another host; moving to`));
    try {
      await pingAll();
    } catch (err) {
      for (const h of hosts) {
        const wg = await h.exec(['wg', 'show', wgIfname(h), 'dump']);
        const fdb = await h.exec(['bridge', 'fdb', 'show', 'dev', `vx-${encId.slice(0, 12)}`]);
        const vxl = await h.exec(['ip', '-d', 'link', 'show', `vx-${encId.slice(0, 12)}`]);
        const rt = await h.exec(['ip', 'route']);
        t.diagnostic(`${h.name} tunnel ${await tunnelOf(h)}\n${wg.stdout}\n${fdb.stdout}\n${vxl.stdout}\n${rt.stdout}\n${daemons[hosts.indexOf(h)]?.proc.stderr().slice(-2500)}`);
      }
      throw err;
    }
  } finally {
    for (const d of daemons) await d?.proc.kill();
    await lab.close();
  }
});
