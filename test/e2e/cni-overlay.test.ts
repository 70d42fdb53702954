// End to end, berth-cni on an overlay network: served through the daemon that holds the cluster
// (dist/berth-cni), refused clearly by the in-process plugin. Two lab hosts, a one-member etcd:
// a runtime's sandbox on host a reaches a berth container on host b across the overlay.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { type Host, Lab, REPO_ROOT, startEtcdCluster } from '../lab/index.js';
import type { Daemon } from './daemon-helpers.js';
import { stopDaemon } from './daemon-helpers.js';
import { ADDR, cliOk, runDetached, startHostDaemon } from './overlay-helpers.js';

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
    await cliOk(a, ['network', 'create', '-d', 'overlay', '--subnet', '10.97.0.0/24', '--attachable', 'ovc']);
    const peer = await runDetached(b, ['--network', 'ovc', '--', 'sleep', '600']);
    const [info] = JSON.parse((await cliOk(b, ['network', 'inspect', 'ovc'])).stdout) as { Containers: Record<string, { IPv4Address: string }> }[];
    const peerIp = info?.Containers[peer]?.IPv4Address.split('/')[0] ?? '';
    assert.match(peerIp, /^10\.97\.0\.\d+$/);

    const sb = await lab.createExternal('ovsb');
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'ovc', type: 'berth', network: 'ovc' });
    const env = { CNI_CONTAINERID: 'cni-ov', CNI_NETNS: sb.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin' };
    const inProcess = await a.exec([process.execPath, join(REPO_ROOT, 'bin', 'berth-cni')], { input: conf, env: { ...env, CNI_COMMAND: 'ADD' } });
    const refused = JSON.parse(inProcess.stdout) as CniOut;
    assert.equal(refused.code, 7);
    assert.match(refused.msg ?? '', /"ovc" is an overlay network: it is served only through a daemon/);

    const viaDaemon = [join(REPO_ROOT, 'dist', 'berth-cni')];
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
    await cliOk(b, ['rm', '-f', peer]);
  } finally {
    for (const d of daemons) await stopDaemon(d);
    await lab.close();
  }
});
