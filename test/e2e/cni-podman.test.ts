// End to end, berth-cni as podman 4.3's network plugin (network_backend = "cni", the recipe of
// research/feasibility.md section 2): podman runs in lab host h, in a private mount namespace the
// test holds open (tmpfs on /run and /var/lib: podman's netns files, runc's and libpod's state,
// libcni's cache never reach the machine's own), with runc and reachable ulimits. Containers run
// busybox-static from a --rootfs the test makes. Container a: a user-defined network with -p, --ip
// and --mac-address; container b: two networks (the user-defined one and a dual-stack one). They
// reach each other (also over IPv6), the outside sees the host's address (NAT), ext reaches a's
// published port; podman rm (conmon's cleanup runs the plugin with a scrubbed environment: the conf
// carries berthRoot/berthRun) leaves nothing in berth's store, the nft table or the links.
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, type ExecResult, links } from '../lab/index.js';
import { startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { berthTable } from './helpers.js';
import { EXT4, EXT6, H4, type NetLab, netLab } from './networks-helpers.js';
import { busyboxRootfs, cniBinDir, eventually, httpGet, httpPeerServer, missing, mountNamespace, REFERENCE_PLUGINS, removeCgroups, writeConflist } from './cni-runtimes-helpers.js';

const skip = missing({ podman: '/usr/bin/podman', conmon: '/usr/bin/conmon', runc: '/usr/sbin/runc', 'busybox-static': '/bin/busybox', 'the CNI reference plugins': join(REFERENCE_PLUGINS, 'loopback') });
const T = { timeout: 150_000, skip: skip ?? false };
if (skip) console.log(`# cni-podman skipped: ${skip}`);

interface PodmanInspect {
  State: { Pid: number; Running: boolean };
  NetworkSettings: { Networks: Record<string, { IPAddress: string; GlobalIPv6Address: string; MacAddress: string }> };
}

void describe('berth-cni under podman 4.3 (CNI backend)', () => {
  let L: NetLab;
  let daemon: Daemon | undefined;
  let holder: BackgroundProcess | undefined;
  let dir = '';
  let cgroupParent = '';

  before(async () => {
    if (skip) return;
    L = await netLab('e2e cni-podman');
    dir = join(L.lab.dir, 'podman');
    cgroupParent = `berth-${L.lab.tag}-podman`;
    await L.h.berthOk(['network', 'create', '--subnet', '10.78.0.0/24', 'apps']);
    await L.h.berthOk(['network', 'create', '--ipv6', '--subnet', '10.79.0.0/24', '--subnet', 'fd00:79::/64', 'dual']);
    const bin = await cniBinDir(join(dir, 'cni-bin'));
    const confDir = join(dir, 'cni-conf');
    // podman binds every published host port itself (held by conmon): berth must not bind them too
    const where = { berthRoot: L.h.rootDir, berthRun: L.h.runDir, hostPortRelay: false };
    const caps = { capabilities: { portMappings: true, ips: true, mac: true, aliases: true } };
    // podman learns a network's subnets from the host-local "ipam" section (berth ignores it): --ip is checked against it
    const ipam = (ranges: string[][]) => ({ type: 'host-local', ranges: ranges.map((r) => r.map((subnet) => ({ subnet }))) });
    await writeConflist(confDir, 'apps', '1.0.0', [{ type: 'berth', network: 'apps', ...where, ...caps, ipam: ipam([['10.78.0.0/24']]) }]);
    await writeConflist(confDir, 'dual', '1.0.0', [{ type: 'berth', network: 'dual', ...where, ...caps, ipam: ipam([['10.79.0.0/24'], ['fd00:79::/64']]) }]);
    await busyboxRootfs(join(dir, 'rootfs-a'), 'podman-a');
    await busyboxRootfs(join(dir, 'rootfs-b'), 'podman-b');
    await busyboxRootfs(join(dir, 'rootfs-c'), 'podman-c');
    await mkdir(join(dir, 'tmp'), { recursive: true });
    await writeFile(
      join(dir, 'containers.conf'),
      [
        '[containers]',
        // the default 1048576 needs CAP_SYS_RESOURCE, which this machine does not give
        'default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]',
        '[engine]',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        `events_logfile_path = "${join(dir, 'events.log')}"`,
        // crun refuses this machine's hybrid cgroup layout
        'runtime = "runc"',
        `tmp_dir = "${join(dir, 'tmp')}"`,
        '[network]',
        'network_backend = "cni"',
        `cni_plugin_dirs = ["${bin}"]`,
        `network_config_dir = "${confDir}"`,
        'default_network = "apps"',
        '',
      ].join('\n'),
    );
    daemon = await startDaemon(L.h);
    // podman's netns files, runc's and libpod's state and libcni's cache stay in this namespace's tmpfs
    holder = await mountNamespace(L.h, [{ tmpfs: '/run' }, { tmpfs: '/var/lib' }]);
  });
  after(async () => {
    if (holder?.running) {
      await podman(['rm', '-f', '-a', '-t', '0']).catch(() => undefined);
      await holder.kill();
    }
    await stopDaemon(daemon);
    // runc's cgroups under the test's own parent
    if (cgroupParent) await removeCgroups(cgroupParent);
    await L?.lab.close();
  });

  function podman(args: readonly string[], timeoutMs = 60_000, input?: string): Promise<ExecResult> {
    if (!holder) throw new Error('no podman mount namespace');
    return L.h.exec(
      ['nsenter', '-t', String(holder.pid), '-m', '--', 'podman', '--root', join(dir, 'root'), '--runroot', join(dir, 'runroot'), '--storage-driver', 'vfs', '--cgroup-manager', 'cgroupfs', ...args],
      { env: { CONTAINERS_CONF: join(dir, 'containers.conf'), TMPDIR: join(dir, 'tmp') }, timeoutMs, ...(input === undefined ? {} : { input }) },
    );
  }
  const ok = async (args: readonly string[]) => {
    const r = await podman(args);
    assert.equal(r.code, 0, `podman ${args.join(' ')}: ${r.stdout}${r.stderr}`);
    return r.stdout.trim();
  };
  const inspect = async (name: string) => (JSON.parse(await ok(['inspect', name])) as PodmanInspect[])[0] as PodmanInspect;
  // an HTTP GET by the container's own busybox (its wget crashes in Debian's busybox-static 1.35: nc)
  const httpIn = async (ctr: string, host: string, port = 80) => {
    const r = await podman(['exec', '-i', ctr, 'nc', '-w', '3', host, String(port)], 30_000, 'GET / HTTP/1.0\r\n\r\n');
    const body = r.stdout.split('\r\n\r\n')[1];
    return r.code === 0 && body !== undefined ? body.trim() : `exit ${r.code}: ${r.stdout}${r.stderr}`.trim();
  };

  test('-p, --ip, --mac-address on a user-defined network; two networks (one dual-stack); IPv6 peer; rm leaves nothing', T, async () => {
    const tableBefore = await berthTable(L.h);
    const veths = async () => (await links(L.h)).map((l) => l.ifname).filter((n) => n.startsWith('veth')).sort();
    const vethsBefore = await veths();
    const common = ['run', '-d', '--cgroup-parent', `/${cgroupParent}`];
    const httpd = ['httpd', '-f', '-p', '80', '-h', '/www'];
    await ok([...common, '--name', 'a', '--network', 'apps', '--ip', '10.78.0.50', '--mac-address', '02:42:0a:4e:00:32', '-p', '8501:80', '--rootfs', join(dir, 'rootfs-a'), ...httpd]);
    await ok([...common, '--name', 'b', '--network', 'apps,dual', '--rootfs', join(dir, 'rootfs-b'), ...httpd]);
    await ok([...common, '--name', 'c', '--network', 'dual', '--rootfs', join(dir, 'rootfs-c'), ...httpd]);
    const [a, b, c] = [await inspect('a'), await inspect('b'), await inspect('c')];
    const ip6C = c.NetworkSettings.Networks.dual?.GlobalIPv6Address ?? '';
    const na = a.NetworkSettings.Networks.apps;
    assert.equal(na?.IPAddress, '10.78.0.50', `--ip: ${JSON.stringify(a.NetworkSettings)}`);
    assert.equal(na?.MacAddress, '02:42:0a:4e:00:32', '--mac-address');
    const ipB = b.NetworkSettings.Networks.apps?.IPAddress ?? '';
    const ip6B = b.NetworkSettings.Networks.dual?.GlobalIPv6Address ?? '';
    assert.match(ipB, /^10\.78\.0\.\d+$/, JSON.stringify(b.NetworkSettings));
    assert.match(ip6B, /^fd00:79::/, JSON.stringify(b.NetworkSettings));
    // the kernel agrees, seen from inside a's netns
    const kernel = await L.h.exec(['nsenter', `--net=/proc/${a.State.Pid}/ns/net`, 'ip', '-o', 'link', 'show', 'eth0']);
    assert.match(kernel.stdout, /02:42:0a:4e:00:32/, kernel.stdout);
    const netInspect = await L.h.berthJson<{ Containers: Record<string, { IPv4Address: string }> }[]>(['network', 'inspect', 'apps', '--format', 'json']);
    assert.equal(Object.keys(netInspect[0]?.Containers ?? {}).length, 2, `berth lists a and b: ${JSON.stringify(netInspect[0]?.Containers)}`);

    const outside = await httpPeerServer(L.ext, [9000]);
    try {
      let last = '';
      assert.ok(await eventually(async () => (last = await httpIn('a', ipB)) === 'podman-b'), `a reaches b on the user-defined network: ${last}`);
      assert.equal(await httpIn('b', '10.78.0.50'), 'podman-a', 'b reaches a');
      assert.equal(await httpIn('b', ip6C), 'podman-c', 'b reaches c over IPv6 on the dual-stack network');
      assert.equal(await httpIn('a', EXT4, 9000), `peer=${H4}`, 'the outside sees the host (NAT)');
      assert.match(await httpIn('b', EXT6, 9000), /^peer=fd99::1$/, 'b reaches the outside over IPv6 through the host');
      assert.equal(await httpGet(L.ext, H4, 8501), 'podman-a', 'ext reaches a\'s published port');
    } finally {
      await outside.kill();
    }

    await ok(['rm', '-f', '-t', '0', 'a', 'b', 'c']);
    for (const net of ['apps', 'dual']) {
      const after = await L.h.berthJson<{ Containers: Record<string, unknown> }[]>(['network', 'inspect', net, '--format', 'json']);
      assert.deepEqual(after[0]?.Containers, {}, `podman rm released the attachments on ${net} in the store the conf names`);
    }
    assert.deepEqual((await berthTable(L.h)).elements, tableBefore.elements, 'no nft element of berth left');
    assert.deepEqual(await veths(), vethsBefore, 'no host veth left');
  });
});
