// Shared pieces of the real-runtime CNI tests (cni-libcni, cni-podman, cni-containerd) and of
// bench/cni: the libcni client (test/tools/cnitool, built offline from Debian's libcni), a CNI_PATH
// holding the reference plugins and berth-cni, conflists, a busybox-static root filesystem, and an
// HTTP server that tells a client which address it came from (NAT shows as the host's address).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, readdir, rename, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LabNode, REPO_ROOT, run } from '../lab/index.js';

export const REFERENCE_PLUGINS = '/usr/lib/cni';
export const BUSYBOX = '/bin/busybox';
const CNITOOL_SRC = join(REPO_ROOT, 'test', 'tools', 'cnitool');
const GOCODE = '/usr/share/gocode';

/** Why a test cannot run here, or undefined when it can. */
export function missing(paths: Record<string, string>): string | undefined {
  for (const [what, path] of Object.entries(paths)) if (!existsSync(path)) return `${what} is missing (${path})`;
  return undefined;
}

/** Why cnitool cannot be built here (no go, no Debian libcni), or undefined. */
export function cnitoolMissing(): string | undefined {
  const go = ['/usr/bin/go', '/usr/lib/go/bin/go'].find((p) => existsSync(p));
  if (!go) return 'no go compiler (apt-get install golang-go): the libcni client cannot be built';
  return missing({ "Debian's libcni (golang-github-appc-cni-dev)": join(GOCODE, 'src/github.com/containernetworking/cni/libcni') });
}

/**
 * Build test/tools/cnitool offline (GO111MODULE=off, GOPROXY=off, GOPATH over /usr/share/gocode)
 * into $TMPDIR/berth-cnitool/<hash of the source>/cnitool, once per source version.
 */
export async function buildCnitool(): Promise<string> {
  const why = cnitoolMissing();
  if (why) throw new Error(why);
  const source = await readFile(join(CNITOOL_SRC, 'main.go'));
  const hash = createHash('sha256').update(source).digest('hex').slice(0, 16);
  const base = join(tmpdir(), 'berth-cnitool');
  const out = join(base, hash, 'cnitool');
  if (existsSync(out)) return out;
  const gopath = join(base, hash, 'gopath');
  await mkdir(join(gopath, 'src', 'cnitool'), { recursive: true, mode: 0o700 });
  await writeFile(join(gopath, 'src', 'cnitool', 'main.go'), source);
  const tmp = `${out}.${process.pid}`;
  await run(['go', 'build', '-o', tmp, '.'], {
    cwd: join(gopath, 'src', 'cnitool'),
    env: { GO111MODULE: 'off', GOPATH: `${gopath}:${GOCODE}`, GOPROXY: 'off', GOFLAGS: '', GOCACHE: join(base, 'gocache'), HOME: base },
    check: true,
    timeoutMs: 120_000,
  });
  await rename(tmp, out);
  return out;
}

/** A CNI_PATH: every reference plugin, and berth-cni as "berth" (the native one: the daemon when it answers). */
export async function cniBinDir(dir: string, berth = join(REPO_ROOT, 'dist', 'berth-cni')): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  for (const p of await readdir(REFERENCE_PLUGINS)) await symlink(join(REFERENCE_PLUGINS, p), join(dir, p));
  await symlink(berth, join(dir, 'berth'));
  return dir;
}

export type PluginConf = Record<string, unknown> & { type: string };

/** Write NAME.conflist into dir. */
export async function writeConflist(dir: string, name: string, cniVersion: string, plugins: PluginConf[]): Promise<string> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const path = join(dir, `${name}.conflist`);
  await writeFile(path, `${JSON.stringify({ cniVersion, name, plugins }, null, 2)}\n`, { mode: 0o644 });
  return path;
}

/**
 * A root filesystem of Debian's busybox-static: /bin/busybox and a link per applet, the
 * directories a runtime mounts over, and /www/index.html holding `page` (for `httpd -h /www`).
 */
export async function busyboxRootfs(dir: string, page: string): Promise<string> {
  for (const d of ['bin', 'etc', 'proc', 'sys', 'dev', 'tmp', 'run', 'www', 'root']) await mkdir(join(dir, d), { recursive: true, mode: 0o755 });
  await writeFile(join(dir, 'bin', 'busybox'), await readFile(BUSYBOX), { mode: 0o755 });
  await chmod(join(dir, 'bin', 'busybox'), 0o755);
  const applets = (await run([BUSYBOX, '--list'], { check: true })).stdout.split('\n').filter((a) => /^[\w.[-]+$/.test(a) && a !== 'busybox');
  for (const a of applets) await symlink('busybox', join(dir, 'bin', a)).catch(() => undefined);
  await writeFile(join(dir, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(join(dir, 'etc', 'group'), 'root:x:0:\n');
  await writeFile(join(dir, 'www', 'index.html'), `${page}\n`);
  return dir;
}

/** Remove a directory tree, ignoring a missing one. */
export const rmTree = (dir: string) => rm(dir, { recursive: true, force: true });

/**
 * HTTP server on every port given: answers each request with "peer=ADDR" (IPv4-mapped shown as
 * IPv4), so a client behind NAT learns the address it was translated to. Prints "listening PORT".
 */
export const HTTP_PEER_SERVER = [
  "const http=require('http');const norm=a=>String(a).replace(/^::ffff:/,'');",
  'for(const p of process.argv.slice(1)){',
  "http.createServer((q,r)=>{const m='peer='+norm(q.socket.remoteAddress)+'\\n';process.stdout.write(m);r.end(m);})",
  ".listen({port:Number(p),host:'::'},()=>process.stdout.write('listening '+p+'\\n'));}",
].join('');

/** Start HTTP_PEER_SERVER in node on ports; resolves once it listens on all. */
export async function httpPeerServer(node: LabNode, ports: readonly number[]) {
  const p = await node.spawn([process.execPath, '-e', HTTP_PEER_SERVER, ...ports.map(String)]);
  for (const port of ports) await p.waitForOutput(new RegExp(`listening ${port}\\b`));
  return p;
}

/** HTTP GET from node (a lab node or a netns path via its exec) with busybox-free node; the body or "ERR CODE". */
export const HTTP_GET = [
  "const http=require('http');const [host,port]=process.argv.slice(1);",
  "const q=http.get({host,port:Number(port),path:'/',timeout:3000},r=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>{process.stdout.write(b);process.exit(0);});});",
  "q.on('timeout',()=>{process.stdout.write('ERR ETIMEDOUT\\n');process.exit(1);});",
  "q.on('error',e=>{process.stdout.write('ERR '+e.code+'\\n');process.exit(1);});",
].join('');

/** GET http://addr:port/ from node (addr may be IPv6, unbracketed); the body, trimmed. */
export async function httpGet(node: LabNode, addr: string, port: number): Promise<string> {
  const r = await node.exec([process.execPath, '-e', HTTP_GET, addr, String(port)], { timeoutMs: 15_000 });
  return `${r.stdout}${r.stderr}`.trim();
}

/** Poll fn until it returns true (e.g. a server inside a container answering); false on timeout. */
export async function eventually(fn: () => Promise<boolean>, timeoutMs = 10_000, everyMs = 200): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Rules of the host's iptables (the reference portmap and firewall plugins' side) naming any of words. */
export async function iptablesMentions(node: LabNode, words: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const tool of ['iptables-save', 'ip6tables-save']) {
    const r = await node.exec([tool]);
    assert.equal(r.code, 0, `${tool}: ${r.stderr}`);
    out.push(...r.stdout.split('\n').filter((l) => l.startsWith('-A') && words.some((w) => l.includes(w))));
  }
  return out;
}

/** One step of a private mount namespace's setup: a tmpfs, a directory (inside a tmpfs), a bind mount. */
export type MountStep = { tmpfs: string } | { mkdir: string } | { bind: [string, string] };

const MOUNT_HOLDER = [
  "const {spawnSync}=require('child_process');const fs=require('fs');",
  "const ok=(a)=>{const r=spawnSync('mount',a,{stdio:'inherit'});if(r.status!==0){console.log('mount failed '+a.join(' '));process.exit(1);}};",
  'for(const s of JSON.parse(process.argv[1])){',
  "if(s.tmpfs)ok(['-t','tmpfs','-o','mode=755','berth-runtime',s.tmpfs]);else if(s.mkdir)fs.mkdirSync(s.mkdir,{recursive:true});else ok(['--bind',s.bind[0],s.bind[1]]);}",
  "console.log('ready');setInterval(()=>{},1<<30);",
].join('');

/**
 * A process holding a private mount namespace in node (set up by steps), for a runtime whose
 * paths are fixed (/run/containerd, /etc/cni/net.d, /opt/cni/bin, /var/lib/cni): enter it with
 * `nsenter -t PID -m`. Killing it (the lab does, by PID) ends the namespace and its mounts.
 */
export async function mountNamespace(node: LabNode, steps: readonly MountStep[]) {
  const p = await node.spawn(['unshare', '-m', '--propagation', 'private', process.execPath, '-e', MOUNT_HOLDER, JSON.stringify(steps)]);
  await p.waitForOutput(/^(ready|mount failed.*)$/m, { timeoutMs: 10_000 });
  if (!p.stdout().includes('ready')) throw new Error(`private mount namespace: ${p.stdout()}${p.stderr()}`);
  return p;
}

/** Remove the cgroup directories a runtime made under parent, in every v1 hierarchy (and the unified one). */
export async function removeCgroups(parent: string): Promise<void> {
  const walk = async (dir: string): Promise<void> => {
    for (const c of await readdir(dir, { withFileTypes: true }).catch(() => [])) if (c.isDirectory()) await walk(join(dir, c.name));
    await rmdir(dir).catch(() => undefined);
  };
  for (const h of await readdir('/sys/fs/cgroup').catch(() => [])) {
    const p = join('/sys/fs/cgroup', h, parent);
    if (existsSync(p)) await walk(p);
  }
}

/**
 * An OCI image archive (oci-layout, index.json, one layer) of rootfs, named `name` for
 * `ctr image import`: what `docker save` would give, made without a registry or a builder.
 */
export async function ociImageTar(rootfs: string, work: string, name: string, cmd: readonly string[]): Promise<string> {
  const layout = join(work, 'layout');
  const blobs = join(layout, 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  const blob = async (data: Buffer) => {
    const digest = createHash('sha256').update(data).digest('hex');
    await writeFile(join(blobs, digest), data);
    return { digest: `sha256:${digest}`, size: data.length };
  };
  const layerTar = join(work, 'layer.tar');
  await run(['tar', '--numeric-owner', '--owner=0', '--group=0', '-C', rootfs, '-cf', layerTar, '.'], { check: true });
  const layerData = await readFile(layerTar);
  const layer = await blob(layerData);
  const config = await blob(
    Buffer.from(
      JSON.stringify({
        architecture: 'amd64',
        os: 'linux',
        config: { Cmd: cmd, Env: ['PATH=/bin'] },
        rootfs: { type: 'layers', diff_ids: [layer.digest] },
      }),
    ),
  );
  const manifest = await blob(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.manifest.v1+json',
        config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
        layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
      }),
    ),
  );
  const tag = name.split(':').pop() ?? 'latest';
  await writeFile(join(layout, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await writeFile(
    join(layout, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [
        {
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          ...manifest,
          annotations: { 'io.containerd.image.name': name, 'org.opencontainers.image.ref.name': tag },
          platform: { architecture: 'amd64', os: 'linux' },
        },
      ],
    }),
  );
  const out = join(work, 'image.tar');
  await run(['tar', '-C', layout, '-cf', out, '.'], { check: true });
  return out;
}

/**
 * The warm CNI engines serving a socket (src/cni/warm-engine.ts): live processes whose argv is
 * `... --serve-engine <sock> <idle seconds>`.
 */
export async function cniEnginePids(sock: string): Promise<number[]> {
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const argv = (await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '')).split('\0');
    const i = argv.indexOf('--serve-engine');
    if (i < 0 || argv[i + 1] !== sock) continue;
    // a zombie (killed, not yet reaped by whoever adopted it) serves nothing
    if (/\) Z /.test(await readFile(`/proc/${e}/stat`, 'utf8').catch(() => ''))) continue;
    pids.push(Number(e));
  }
  return pids;
}
