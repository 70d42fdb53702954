// A real dockerd (Debian docker.io 20.10) in a lab host, driving berth's network plugin
// (issue 14). Recipe from research/feasibility.md section 1: dockerd runs in the host's netns in
// a private mount namespace with a fresh sysfs and the cgroup hierarchies mounted again; every
// path it writes is unique (data/exec root, pidfile, socket, key file, cgroup parent), except the
// plugin directory /run/docker/plugins, where the berth daemon's socket gets a unique name; the
// helper removes what it made there. Images come from Debian's busybox-static by `docker import`.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, symlinkSync, copyFileSync, writeFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type BackgroundProcess, type ExecResult, type Host, run } from '../lab/index.js';
import { startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';
import { basicLab, type BasicLab } from './helpers.js';

export const DOCKERD = '/usr/sbin/dockerd';
export const DOCKER_CLI = '/usr/bin/docker';
export const BUSYBOX = '/bin/busybox';
export const PLUGIN_DIR = '/run/docker/plugins';
const CGROUP_CONTROLLERS = ['cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'blkio', 'pids'];

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Why dockerd cannot run here, or undefined. */
export function dockerMissing(): string | undefined {
  for (const p of [DOCKERD, DOCKER_CLI, '/usr/bin/containerd', '/usr/sbin/runc', BUSYBOX]) if (!existsSync(p)) return `${p} is not installed (apt-get install docker.io busybox-static)`;
  if (!existsSync('/sys/fs/cgroup/devices')) return 'the devices cgroup (v1) is not mounted: dockerd 20.10 needs it';
  return undefined;
}

// Mounts in dockerd's private mount namespace: a sysfs of the lab host's netns, the cgroup v1
// hierarchies again (a fresh sysfs hides them). The script's only input is "$@" (argv).
const WRAP = [
  'set -e',
  'mount -t sysfs sysfs /sys',
  'mount -t tmpfs -o mode=755 berth-lab-cgroup /sys/fs/cgroup',
  `for c in ${CGROUP_CONTROLLERS.join(' ')}; do mkdir -p /sys/fs/cgroup/$c; mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c; done`,
  'mkdir -p /sys/fs/cgroup/systemd; mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd',
  'exec "$@"',
].join('\n');

export interface Dockerd {
  h: Host;
  proc: BackgroundProcess;
  dir: string;
  sock: string;
  cgroupParent: string;
  /** the berth plugin's socket for this lab (unique name) and the driver name docker uses */
  pluginSock: string;
  driver: string;
}

/**
 * kill -9 dockerd and the containerd it started (a crash of the Docker service); the containers'
 * shims and processes live on. containerd's pidfile goes too: a containerd killed with its parent
 * may stay a zombie here (nothing reaps it), which the next dockerd would take for a live one.
 */
export async function killDockerd(d: Dockerd): Promise<void> {
  const kids = descendants(d.proc.pid);
  process.kill(d.proc.pid, 'SIGKILL');
  for (const pid of kids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await d.proc.exited;
  rmSync(join(d.dir, 'exec', 'containerd', 'containerd.pid'), { force: true });
}

/** Every process of d's: its containers' (in its cgroups) and any whose argv names its directory (shims, a killed dockerd's containerd). */
function sweepDockerdProcesses(d: Dockerd): void {
  const pids = new Set<number>();
  const procs = join('/sys/fs/cgroup/pids', d.cgroupParent);
  const walk = (dir: string) => {
    try {
      for (const line of readFileSync(join(dir, 'cgroup.procs'), 'utf8').split('\n')) if (/^\d+$/.test(line)) pids.add(Number(line));
      for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) walk(join(dir, e.name));
    } catch {
      // no such cgroup
    }
  };
  walk(procs);
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0').some((a) => a.includes(`${d.dir}/`))) pids.add(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}

export interface DockerdOptions {
  /** --live-restore: containers keep running while dockerd is down */
  liveRestore?: boolean;
}

/** The plugin socket and driver name for a lab host: unique per lab, so labs never share one. */
export function pluginNameFor(h: Host): { driver: string; sock: string } {
  const driver = `berth-${h.lab.tag}-${h.name}`;
  return { driver, sock: join(PLUGIN_DIR, `${driver}.sock`) };
}

/** Which of /run/docker, /run/docker/plugins exist before a test: the cleanup removes only the others. */
export function pluginDirsBefore(): string[] {
  return ['/run/docker', PLUGIN_DIR].filter((d) => existsSync(d));
}

/** Remove the plugin socket and the plugin directories the test made (only if empty). */
export function cleanPluginDirs(sock: string, existedBefore: readonly string[]): void {
  rmSync(sock, { force: true });
  for (const d of [PLUGIN_DIR, '/run/docker']) {
    if (existedBefore.includes(d) || !existsSync(d)) continue;
    try {
      if (readdirSync(d).length === 0) rmdirSync(d);
    } catch {
      // not ours to force
    }
  }
}

/** Start dockerd in h; resolves once `docker version` answers. */
export async function startDockerd(h: Host, name = 'dockerd', opts: DockerdOptions = {}): Promise<Dockerd> {
  const dir = join(h.lab.dir, `${h.name}-${name}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const sock = join(dir, 'docker.sock');
  const config = join(dir, 'daemon.json');
  // dockerd's trust key would go to /etc/docker/key.json (a daemon.json key in 20.10, not a flag)
  writeFileSync(config, `${JSON.stringify({ 'deprecated-key-path': join(dir, 'key.json') })}\n`, { mode: 0o600 });
  const cgroupParent = `/berth-lab-${h.lab.tag}-${h.name}-${name}`;
  const { driver, sock: pluginSock } = pluginNameFor(h);
  const argv = [
    'unshare', '--mount', '--propagation', 'private', '--', 'sh', '-c', WRAP, 'dockerd-wrap',
    DOCKERD,
    '--config-file', config,
    '--data-root', join(dir, 'data'),
    '--exec-root', join(dir, 'exec'),
    '--pidfile', join(dir, 'docker.pid'),
    '-H', `unix://${sock}`,
    '--cgroup-parent', cgroupParent,
    // no docker0 (berth's default network or the test's subnets must not meet Docker's 172.17/16),
    // no iptables: Docker's FORWARD policy DROP would also drop berth's bridged traffic
    '--bridge', 'none',
    '--iptables=false',
    '--ip-masq=false',
    '--log-level', 'warn',
    ...(opts.liveRestore ? ['--live-restore'] : []),
  ];
  const proc = await h.spawn(argv);
  const end = Date.now() + 60_000;
  for (;;) {
    if (!proc.running) assert.fail(`dockerd exited:\n${proc.stderr()}`);
    if (existsSync(sock)) {
      // a dockerd restoring after a kill may hold the call: that one times out, the loop goes on
      const r = await h.exec([DOCKER_CLI, '-H', `unix://${sock}`, 'version', '--format', '{{.Server.Version}}'], { timeoutMs: 10_000 }).catch(() => undefined);
      if (r?.code === 0) break;
    }
    if (Date.now() > end) assert.fail(`dockerd did not answer within 60 s:\n${proc.stderr()}`);
    await sleep(100);
  }
  return { h, proc, dir, sock, cgroupParent, pluginSock, driver };
}

/** The docker CLI against d (its own config dir). */
export function dockerCmd(d: Dockerd, args: readonly string[], timeoutMs = 60_000): Promise<ExecResult> {
  return d.h.exec([DOCKER_CLI, ...args], { timeoutMs, env: { DOCKER_HOST: `unix://${d.sock}`, DOCKER_CONFIG: join(d.dir, 'cli-config'), DOCKER_CONTEXT: undefined } });
}

export async function dockerOk(d: Dockerd, args: readonly string[], timeoutMs?: number): Promise<string> {
  const r = await dockerCmd(d, args, timeoutMs);
  assert.equal(r.code, 0, `docker ${args.join(' ')}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r.stdout.trim();
}

/** A busybox image from Debian's busybox-static: one static binary and its applet links, imported. */
export async function importBusybox(d: Dockerd, tag = 'berth-busybox:latest'): Promise<string> {
  const root = join(d.dir, 'rootfs');
  for (const sub of ['bin', 'etc', 'tmp', 'proc', 'sys', 'dev']) mkdirSync(join(root, sub), { recursive: true });
  copyFileSync(BUSYBOX, join(root, 'bin', 'busybox'));
  const list = await run([BUSYBOX, '--list'], { check: true });
  for (const applet of list.stdout.split('\n').map((s) => s.trim()).filter((s) => /^[a-z0-9_.[-]+$/.test(s) && s !== 'busybox')) {
    if (!existsSync(join(root, 'bin', applet))) symlinkSync('busybox', join(root, 'bin', applet));
  }
  const tar = join(d.dir, 'busybox.tar');
  await run(['tar', '-C', root, '-cf', tar, '.'], { check: true });
  await dockerOk(d, ['import', tar, tag]);
  rmSync(root, { recursive: true, force: true });
  return tag;
}

/** Every process whose parent chain leads to pid (containerd, shims, container processes). */
function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      parent.set(Number(name), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const [child, pp] of parent) {
      if (pp !== p || out.includes(child)) continue;
      out.push(child);
      walk(child);
    }
  };
  walk(pid);
  return out;
}

/**
 * Stop d: remove its containers, SIGTERM dockerd (it stops its containerd), then SIGKILL any of
 * its descendants still there (by PID, found before), remove its cgroup directories.
 */
export async function stopDockerd(d: Dockerd | undefined): Promise<void> {
  if (!d) return;
  if (d.proc.running) {
    const ids = (await dockerCmd(d, ['ps', '-aq'], 30_000)).stdout.split('\n').filter(Boolean);
    if (ids.length) await dockerCmd(d, ['rm', '-f', ...ids], 60_000);
  }
  const kids = d.proc.running ? descendants(d.proc.pid) : [];
  await d.proc.kill(15_000);
  for (const pid of kids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  sweepDockerdProcesses(d);
  await sleep(200);
  removeCgroups(d.cgroupParent);
}

function removeCgroups(parent: string): void {
  for (const c of [...CGROUP_CONTROLLERS, 'systemd']) {
    const top = join('/sys/fs/cgroup', c, parent);
    if (!existsSync(top)) continue;
    // deepest first: a cgroup directory is removed with rmdir once empty
    const dirs: string[] = [];
    const walk = (p: string) => {
      dirs.push(p);
      for (const e of readdirSync(p, { withFileTypes: true })) if (e.isDirectory()) walk(join(p, e.name));
    };
    try {
      walk(top);
      for (const p of dirs.reverse()) if (statSync(p).isDirectory()) rmdirSync(p);
    } catch {
      // a task still in it: left for the sweep, reported by the root snapshot
    }
  }
}

// ---- the lab every Docker plugin test builds -------------------------------------------------------

export interface PluginLab {
  L: BasicLab;
  berthd: Daemon | undefined;
  d: Dockerd;
  img: string;
  /** the driver name for `docker network create -d` (the plugin socket's name) */
  driver: string;
  /** (re)start the berth daemon with the plugin */
  startBerth(): Promise<Daemon>;
  close(): Promise<void>;
}

/** basicLab's h and ext, a berth daemon serving the plugin on h, dockerd on h, the busybox image. */
export async function pluginLab(label: string): Promise<PluginLab> {
  const dirsBefore = pluginDirsBefore();
  const L = await basicLab(label);
  const { sock, driver } = pluginNameFor(L.h);
  const env = process.env.BERTH_TRACE ? { env: { BERTH_TRACE: '1' } } : {};
  const lab: Partial<PluginLab> & { L: BasicLab; driver: string } = { L, driver, berthd: undefined };
  lab.startBerth = async () => {
    const b = await startDaemon(L.h, { args: ['--docker-plugin', sock], ...env });
    await b.proc.waitForOutput('docker plugin listening', { stream: 'stderr', timeoutMs: 10_000 });
    lab.berthd = b;
    return b;
  };
  lab.close = async () => {
    if (process.env.BERTH_TRACE) console.error(lab.berthd?.proc.stderr());
    await stopDockerd(lab.d).catch((e: Error) => console.error(`stop dockerd: ${e.message}`));
    await stopDaemon(lab.berthd);
    cleanPluginDirs(sock, dirsBefore);
    await L.lab.close();
  };
  try {
    await lab.startBerth();
    lab.d = await startDockerd(L.h);
    lab.img = await importBusybox(lab.d);
  } catch (e) {
    await lab.close();
    throw e;
  }
  return lab as PluginLab;
}

/** An HTTP GET with busybox nc (busybox-static's wget crashes resolving without glibc's NSS modules). */
export const httpGet = (addr: string, port: number): string[] => ['sh', '-c', 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | timeout 5 busybox nc "$0" "$1"', addr, String(port)];

/** Links of Docker endpoints on the host: veth host ends and sandbox ends back in the host (bth…). */
export async function dockerEndpointLinks(h: Host): Promise<{ name: string; index: number }[]> {
  const out = (await h.execOk(['ip', '-o', 'link'])).stdout;
  return [...out.matchAll(/^(\d+): ((?:veth[0-9a-f]{7}|bth[0-9a-f]{12}))[@:]/gm)].map((m) => ({ index: Number(m[1]), name: m[2] ?? '' }));
}
