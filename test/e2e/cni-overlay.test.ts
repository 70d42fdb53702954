// End to end, berth-cni on an overlay network: served through the daemon that holds the cluster
// (dist/berth-cni), refused clearly by the in-process plugin. Two lab hosts, a one-member etcd:
// a runtime's sandbox on host a reaches another runtime's sandbox on host b across the overlay, which
// is not --attachable: CNI runtimes join it as Docker's services do, berth run is refused.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Host, Lab, REPO_ROOT, startEtcdCluster } from '../lab/index.js';
import type { Daemon } from './daemon-helpers.js';
import { stopDaemon } from './daemon-helpers.js';
import { assertFails } from './helpers.js';
import { ADDR, cli, cliOk, startHostDaemon, until } from './overlay-helpers.js';

interface CniOut {
  ips: { address: string; gateway?: string }[];
  code?: number;
  msg?: string;
}

test('berth-cni on an overlay network, through the daemon', { timeout: 180_000 }, async () => {
  const lab = await Lab.create({ label: 'e2e cni-overlay' });
  const daemons: Daemon[] = [];
  try {
    const sw = await lab.createSwitch('under');
    const hosts: Host[] = [];
    for (const name of ['a', 'b']) hosts.push(await lab.createHost(name));
    for (const [i, h] of hosts.entries()) await sw.plug(h, { ifname: 'eth0', address: `${ADDR(i)}/24` });
    const etcd = await startEtcdCluster(lab, [hosts[0] as Host]);
    for (const [i, h] of hosts.entries()) daemons.push(await startHostDaemon(h, etcd, i));
    const [a, b] = hosts as [Host, Host];
    // not --attachable: CNI runtimes are the overlay's "services" and join it; berth run does not
    await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', '10.97.0.0/24', 'ovc']);
    await until('ovc on b', async () => (await cli(b, ['network', 'inspect', 'ovc'])).code === 0);
    assertFails(await cli(b, ['run', '-d', '--network', 'ovc', '--', 'sleep', '600']), 1, 'Could not attach to network "ovc": network "ovc" not manually attachable', '--attachable');

    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'ovc', type: 'berth', network: 'ovc' });
    const viaDaemon = [join(REPO_ROOT, 'dist', 'berth-cni')];
    // the peer on host b: another runtime's sandbox, through b's daemon
    const peerSb = await lab.createExternal('ovpeer');
    const peerEnv = { CNI_CONTAINERID: 'cni-ov-peer', CNI_NETNS: peerSb.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
    const peerAdd = await b.exec(viaDaemon, { input: conf, env: { ...peerEnv, CNI_COMMAND: 'ADD' } });
    assert.equal(peerAdd.code, 0, peerAdd.stdout + peerAdd.stderr);
    const peerIp = (JSON.parse(peerAdd.stdout) as CniOut).ips[0]?.address.split('/')[0] ?? '';
    assert.match(peerIp, /^10\.97\.0\.\d+$/);

    const sb = await lab.createExternal('ovsb');
    const env = { CNI_CONTAINERID: 'cni-ov', CNI_NETNS: sb.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
    const inProcess = await a.exec([process.execPath, join(REPO_ROOT, 'bin', 'berth-cni')], { input: conf, env: { ...env, CNI_COMMAND: 'ADD' } });
    const refused = JSON.parse(inProcess.stdout) as CniOut;
    assert.equal(refused.code, 7);
    assert.match(refused.msg ?? '', /"ovc" is an overlay network: it is served only through a daemon/);

    const add = await a.exec(viaDaemon, { input: conf, env: { ...env, CNI_COMMAND: 'ADD' } });
    assert.equal(add.code, 0, add.stdout + add.stderr);
    const r = JSON.parse(add.stdout) as CniOut;
    assert.match(r.ips[0]?.address ?? '', /^10\.97\.0\.\d+\/24$/);
    assert.ok(await sb.ping(peerIp, { count: 3 }), 'the sandbox on host a reaches the container on host b across the overlay');
    const check = await a.exec(viaDaemon, { input: JSON.stringify({ ...(JSON.parse(conf) as object), prevResult: r }), env: { ...env, CNI_COMMAND: 'CHECK' } });
    assert.equal(check.code, 0, check.stdout + check.stderr);
    const del = await a.exec(viaDaemon, { input: conf, env: { ...env, CNI_COMMAND: 'DEL' } });
    assert.equal(del.code, 0, del.stdout + del.stderr);
    const [after] = JSON.parse((await cliOk(a, ['network', 'inspect', 'ovc'])).stdout) as { Containers: Record<string, unknown> }[];
    assert.deepEqual(after?.Containers ?? {}, {}, 'DEL left no endpoint on host a (inspect lists this host\'s)');
    const [gw] = JSON.parse((await cliOk(a, ['network', 'inspect', 'berth_gwbridge'])).stdout) as { Containers: Record<string, unknown> }[];
    assert.deepEqual(gw?.Containers ?? {}, {}, 'nor its gateway-bridge leg');
    const links = await sb.exec(['ip', '-o', 'link', 'show']);
    assert.doesNotMatch(links.stdout, /eth\d/, 'nor any interface in the sandbox');
    const peerDel = await b.exec(viaDaemon, { input: conf, env: { ...peerEnv, CNI_COMMAND: 'DEL' } });
    assert.equal(peerDel.code, 0, peerDel.stdout + peerDel.stderr);
    await cliOk(a, ['network', 'rm', 'ovc']);
  } finally {
    for (const d of daemons) await stopDaemon(d);
    await lab.close();
  }
});
