// End to end, berth-cni under containerd 1.6: `ctr run --cni` (go-cni: the loopback network, then
// the first conflist of /etc/cni/net.d, plugins from /opt/cni/bin) on an image the test builds from
// Debian's busybox-static and imports (`ctr image import` of an OCI archive; no registry).
// containerd runs in lab host h with its own root, state and socket, in a private mount namespace
// the test holds (tmpfs on /run, /var/lib and /opt; the lab's conflist bound over /etc/cni/net.d):
// ctr's CNI paths are fixed, and nothing of it reaches the machine's own. The netns ctr hands over
// is /proc/PID/ns/net, so the calls go through berth's daemon. Two containers on a user-defined
// network reach each other (with their own busybox nc), the outside sees the host's address (NAT),
// and when the tasks end, ctr's DEL leaves nothing. ctr has no way to ask for published ports
// (no -p; go-cni's portMappings capability is not wired to a flag): that is podman's and libcni's test.
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, type ExecResult, links } from '../lab/index.js';
import { startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { berthTable } from './helpers.js';
import { EXT4, H4, type NetLab, netLab } from './networks-helpers.js';
import { busyboxRootfs, cniBinDir, eventually, httpPeerServer, missing, mountNamespace, ociImageTar, REFERENCE_PLUGINS, removeCgroups, writeConflist } from './cni-runtimes-helpers.js';

const skip = missing({
  containerd: '/usr/bin/containerd',
  ctr: '/usr/bin/ctr',
  'containerd-shim-runc-v2': '/usr/bin/containerd-shim-runc-v2',
  runc: '/usr/sbin/runc',
  'busybox-static': '/bin/busybox',
  'the CNI reference plugins (loopback)': join(REFERENCE_PLUGINS, 'loopback'),
});
const T = { timeout: 150_000, skip: skip ?? false };
if (skip) console.log(`# cni-containerd skipped: ${skip}`);

const IMAGE = 'berth.test/busybox:latest';

void describe('berth-cni under containerd 1.6 (ctr run --cni)', () => {
  let L: NetLab;
  let daemon: Daemon | undefined;
  let mounts: BackgroundProcess | undefined;
  let containerd: BackgroundProcess | undefined;
  let dir = '';
  let cgroupParent = '';
  let ns = '';
  const tasks: { name: string; proc: BackgroundProcess }[] = [];

  before(async () => {
    if (skip) return;
    L = await netLab('e2e cni-containerd');
    dir = join(L.lab.dir, 'containerd');
    cgroupParent = `berth-${L.lab.tag}-containerd`;
    ns = `berth-${L.lab.tag}`;
    await L.h.berthOk(['network', 'create', '--subnet', '10.78.0.0/24', 'apps']);
    const bin = await cniBinDir(join(dir, 'cni-bin'));
    const confDir = join(dir, 'cni-conf');
    await writeConflist(confDir, '10-apps', '1.0.0', [{ type: 'berth', network: 'apps', berthRoot: L.h.rootDir, berthRun: L.h.runDir }, { type: 'firewall' }]);
    const rootfs = await busyboxRootfs(join(dir, 'rootfs'), 'containerd');
    const image = await ociImageTar(rootfs, join(dir, 'image'), IMAGE, ['httpd', '-f', '-p', '80', '-h', '/www']);
    const sock = join(dir, 'containerd.sock');
    const config = join(dir, 'config.toml');
    await writeFile(
      config,
      [
        'version = 2',
        `root = "${join(dir, 'root')}"`,
        `state = "${join(dir, 'state')}"`,
        // no CRI: it would want its own CNI setup; ctr's go-cni is the runtime under test
        'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
        '[grpc]',
        `  address = "${sock}"`,
        '[ttrpc]',
        '  address = ""',
        '[debug]',
        '  address = ""',
        '[metrics]',
        '  address = ""',
        '',
      ].join('\n'),
    );
    daemon = await startDaemon(L.h);
    mounts = await mountNamespace(L.h, [
      { tmpfs: '/run' },
      { tmpfs: '/var/lib' },
      { tmpfs: '/opt' },
      { mkdir: '/opt/cni/bin' },
      { bind: [bin, '/opt/cni/bin'] },
      { bind: [confDir, '/etc/cni/net.d'] },
    ]);
    containerd = await L.h.spawn(['nsenter', '-t', String(mounts.pid), '-m', '--', 'containerd', '--config', config]);
    await containerd.waitForOutput('containerd successfully booted', { timeoutMs: 30_000 });
    const imported = await ctr(['image', 'import', image]);
    assert.equal(imported.code, 0, `ctr image import: ${imported.stdout}${imported.stderr}`);
  });
  after(async () => {
    for (const t of tasks) if (t.proc.running) await ctr(['task', 'kill', '-s', 'SIGKILL', t.name]).catch(() => undefined);
    for (const t of tasks) await t.proc.kill(5000).catch(() => undefined);
    await containerd?.kill(5000);
    await mounts?.kill();
    await stopDaemon(daemon);
    if (cgroupParent) await removeCgroups(cgroupParent);
    await L?.lab.close();
  });

  function ctr(args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
    if (!mounts) throw new Error('no containerd mount namespace');
    return L.h.exec(['nsenter', '-t', String(mounts.pid), '-m', '--', 'ctr', '--address', join(dir, 'containerd.sock'), '-n', ns, ...args], { timeoutMs });
  }

  /** `ctr run --rm --cni` in the foreground (ctr does CNI DEL when the task ends); resolves with the task's PID. */
  async function runTask(name: string): Promise<number> {
    if (!mounts) throw new Error('no containerd mount namespace');
    const p = await L.h.spawn(['nsenter', '-t', String(mounts.pid), '-m', '--', 'ctr', '--address', join(dir, 'containerd.sock'), '-n', ns, 'run', '--rm', '--cni', '--cgroup', `/${cgroupParent}/${name}`, IMAGE, name]);
    tasks.push({ name, proc: p });
    let pid = 0;
    const running = await eventually(async () => {
      if (!p.running) return true;
      const ls = await ctr(['task', 'ls']);
      const m = new RegExp(`^${name}\\s+(\\d+)\\s+RUNNING`, 'm').exec(ls.stdout);
      pid = Number(m?.[1] ?? 0);
      return pid > 0;
    }, 30_000);
    assert.ok(running && p.running && pid > 0, `ctr run ${name}: ${p.stdout()}${p.stderr()}`);
    return pid;
  }

  /** An HTTP GET by the container's own busybox nc (its mount and network namespaces). */
  async function httpIn(pid: number, host: string, port = 80): Promise<string> {
    const r = await L.h.exec(['nsenter', '-t', String(pid), '-m', '-n', '--', 'nc', '-w', '3', host, String(port)], { input: 'GET / HTTP/1.0\r\n\r\n', timeoutMs: 15_000 });
    const body = r.stdout.split('\r\n\r\n')[1];
    return r.code === 0 && body !== undefined ? body.trim() : `exit ${r.code}: ${r.stdout}${r.stderr}`.trim();
  }

  async function ipOf(pid: number): Promise<string> {
    const r = await L.h.exec(['nsenter', '-t', String(pid), '-n', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout)?.[1] ?? `no address: ${r.stdout}${r.stderr}`;
  }

  test('two containers from an imported image on a user-defined network: peer, NAT; task end leaves nothing', T, async () => {
    const tableBefore = await berthTable(L.h);
    const veths = async () => (await links(L.h)).map((l) => l.ifname).filter((n) => n.startsWith('veth')).sort();
    const vethsBefore = await veths();
    const [pa, pb] = [await runTask('a'), await runTask('b')];
    const [ipA, ipB] = [await ipOf(pa), await ipOf(pb)];
    assert.match(ipA, /^10\.78\.0\.\d+$/);
    assert.match(ipB, /^10\.78\.0\.\d+$/);
    const inspect = await L.h.berthJson<{ Containers: Record<string, { IPv4Address: string }> }[]>(['network', 'inspect', 'apps', '--format', 'json']);
    assert.deepEqual(Object.values(inspect[0]?.Containers ?? {}).map((c) => c.IPv4Address).sort(), [`${ipA}/24`, `${ipB}/24`].sort(), 'berth lists both');

    const outside = await httpPeerServer(L.ext, [9000]);
    try {
      let last = '';
      assert.ok(await eventually(async () => (last = await httpIn(pa, ipB)) === 'containerd'), `a reaches b: ${last}`);
      assert.equal(await httpIn(pb, ipA), 'containerd', 'b reaches a');
      assert.equal(await httpIn(pa, EXT4, 9000), `peer=${H4}`, 'the outside sees the host (NAT)');
    } finally {
      await outside.kill();
    }

    for (const name of ['a', 'b']) {
      const k = await ctr(['task', 'kill', '-s', 'SIGKILL', name]);
      assert.equal(k.code, 0, `ctr task kill ${name}: ${k.stderr}`);
    }
    for (const { proc } of tasks) {
      const r = await Promise.race([proc.exited, new Promise<undefined>((res) => setTimeout(() => res(undefined), 30_000).unref())]);
      assert.ok(r, `ctr run ended after its task: ${proc.stdout()}${proc.stderr()}`);
    }
    const afterInspect = await L.h.berthJson<{ Containers: Record<string, unknown> }[]>(['network', 'inspect', 'apps', '--format', 'json']);
    assert.deepEqual(afterInspect[0]?.Containers, {}, 'ctr\'s DEL released both attachments');
    assert.deepEqual((await berthTable(L.h)).elements, tableBefore.elements, 'no nft element of berth left');
    assert.deepEqual(await veths(), vethsBefore, 'no host veth left');
    assert.equal((await ctr(['container', 'ls', '-q'])).stdout.trim(), '', '--rm removed the containers');
  });
});
