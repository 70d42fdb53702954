// WireGuard devices: the kernel's `wireguard` link kind where the kernel has it, else a
// `wireguard-go` process per device (a tun device; this machine's kernel has no wireguard).
// Configuration goes through `wg` (wireguard-tools) over argv; state is read with `wg show IF
// dump` (tab-separated, made for machines). Private keys reach `wg` only as a file path (0600),
// never on a command line.
//
// wireguard-go pitfalls handled here (shared/research/encryption.md): it runs in the foreground
// (-f) with its output in a file (background mode keeps the caller's pipe open); its UAPI
// socket lives in the shared /var/run/wireguard, so names must differ across namespaces; a
// SIGKILL leaves a stale socket; `ip netns del` does not stop it: it is stopped by PID.
import { execFile, spawn } from 'node:child_process';
import { createPrivateKey, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SystemError, UserError } from '../common/errors.js';
import { BERTH_SOCKBUF } from '../common/package.js';
import { validateIfName } from '../common/ifname.js';
import { deleteLink, findLink, getLink } from './links.js';
import type { NetnsTarget } from './netns.js';
import { nlaNested, nlaString } from './nla.js';
import { withRtnl } from './rtnl.js';

export type WireGuardImplementation = 'kernel' | 'wireguard-go';

const UAPI_DIR = '/var/run/wireguard';
const WG_KEY = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;
const TOOL_TIMEOUT_MS = 10_000;
const START_TIMEOUT_MS = 5_000;
const STOP_TIMEOUT_MS = 2_000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- keys ---------------------------------------------------------------------------------------

export interface WireGuardKeyPair {
  /** base64, 32 bytes, as `wg genkey` prints */
  privateKey: string;
  publicKey: string;
}

const b64url = (s: string): string => Buffer.from(s, 'base64url').toString('base64');

/** A new Curve25519 key pair, made in-process (no `wg genkey` child: the key stays in memory). */
export function generateKeyPair(): WireGuardKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  const priv = privateKey.export({ format: 'jwk' }).d;
  const pub = publicKey.export({ format: 'jwk' }).x;
  if (!priv || !pub) throw new SystemError('x25519 key generation gave no key material');
  return { privateKey: b64url(priv), publicKey: b64url(pub) };
}

export function checkWireGuardKey(key: string, what: string): string {
  if (!WG_KEY.test(key)) throw new UserError(`invalid ${what} ${JSON.stringify(key.slice(0, 60))}: expected 44 characters of base64 (as \`wg pubkey\` prints)`);
  return key;
}

/** The public key of a base64 private key. */
export function publicKeyOf(privateKey: string): string {
  const raw = Buffer.from(checkWireGuardKey(privateKey, 'WireGuard private key'), 'base64');
  // PKCS#8 wrapping of a raw X25519 private key (RFC 8410)
  const key = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b656e04220420', 'hex'), raw]), format: 'der', type: 'pkcs8' });
  const x = createPublicKey(key).export({ format: 'jwk' }).x;
  if (!x) throw new SystemError('cannot derive a WireGuard public key');
  return b64url(x);
}

/** Write a private key file, mode 0600 (directory 0700), replacing any old one atomically. */
export function writePrivateKeyFile(file: string, privateKey: string): void {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, `${checkWireGuardKey(privateKey, 'WireGuard private key')}\n`, { mode: 0o600 });
  renameSync(tmp, file);
}

export function readPrivateKeyFile(file: string): string | undefined {
  if (!existsSync(file)) return undefined;
  return checkWireGuardKey(readFileSync(file, 'utf8').trim(), `WireGuard private key in ${file}`);
}

// ---- tools --------------------------------------------------------------------------------------

function findBinary(name: string): string | undefined {
  for (const dir of ['/usr/bin', '/usr/sbin', '/usr/local/bin', '/usr/local/sbin', '/bin', '/sbin']) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function wireguardGoPath(): string | undefined {
  return findBinary('wireguard-go');
}

let wgBinary: string | undefined;
function wgPath(): string {
  wgBinary ??= findBinary('wg');
  if (!wgBinary) throw new SystemError('the `wg` tool is missing: install wireguard-tools');
  return wgBinary;
}

/** argv run inside netns (nsenter execs the program: the PID is the program's own). */
function inNetns(netns: NetnsTarget | null, argv: readonly string[]): string[] {
  if (netns === null) return [...argv];
  const path = typeof netns === 'number' ? `/proc/${process.pid}/fd/${netns}` : netns;
  return [findBinary('nsenter') ?? 'nsenter', `--net=${path}`, ...argv];
}

function runTool(argv: readonly string[]): Promise<string> {
  const [bin, ...args] = argv as [string, ...string[]];
  return new Promise((resolve, reject) => {
    execFile(bin, args, { timeout: TOOL_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 1 << 24 }, (err, stdout, stderr) => {
      // argv never holds a key (private keys are passed as a file path)
      if (err) reject(new SystemError(`${argv.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

function wg(netns: NetnsTarget | null, args: readonly string[]): Promise<string> {
  return runTool(inNetns(netns, [wgPath(), ...args]));
}

// ---- configuration ------------------------------------------------------------------------------

export interface WireGuardPeer {
  publicKey: string;
  /** `IP:PORT` or `[IPv6]:PORT` */
  endpoint: string;
  /** CIDRs routed to this peer inside the tunnel */
  allowedIps: string[];
  /** seconds; 0 = off */
  persistentKeepalive: number;
}

export interface WireGuardDump {
  publicKey: string;
  listenPort: number;
  peers: (WireGuardPeer & { latestHandshake: number; rxBytes: number; txBytes: number })[];
}

/** Private key (from a 0600 file) and/or listen port of a device (a port set again rebinds its socket). */
export async function configureDevice(netns: NetnsTarget | null, ifname: string, opts: { privateKeyFile?: string; listenPort?: number }): Promise<void> {
  validateIfName(ifname);
  const args = ['set', ifname];
  if (opts.listenPort !== undefined) args.push('listen-port', String(opts.listenPort));
  if (opts.privateKeyFile !== undefined) args.push('private-key', opts.privateKeyFile);
  if (args.length > 2) await wg(netns, args);
}

/**
 * Add/replace peers and remove others in one `wg set` call: a peer's key change (old key
 * removed, new one added with the same allowed IPs) is one step.
 */
export async function setPeers(netns: NetnsTarget | null, ifname: string, change: { put: readonly WireGuardPeer[]; remove: readonly string[] }): Promise<void> {
  validateIfName(ifname);
  if (!change.put.length && !change.remove.length) return;
  const args = ['set', ifname];
  for (const key of change.remove) args.push('peer', checkWireGuardKey(key, 'WireGuard public key'), 'remove');
  for (const p of change.put) {
    args.push(
      'peer', checkWireGuardKey(p.publicKey, 'WireGuard public key'),
      'endpoint', p.endpoint,
      // `wg set … allowed-ips` replaces the peer's list (not added to what was there)
      'allowed-ips', p.allowedIps.join(','),
      'persistent-keepalive', p.persistentKeepalive ? String(p.persistentKeepalive) : 'off',
    );
  }
  await wg(netns, args);
}

/** The device's state. (The dump's first line holds the private key: it is parsed, never kept or logged.) */
export async function dumpDevice(netns: NetnsTarget | null, ifname: string): Promise<WireGuardDump> {
  validateIfName(ifname);
  const lines = (await wg(netns, ['show', ifname, 'dump'])).split('\n').filter((l) => l !== '');
  const [head, ...rest] = lines.map((l) => l.split('\t'));
  if (!head || head.length < 4) throw new SystemError(`wg show ${ifname} dump: unexpected output`);
  const num = (s: string | undefined) => (s === undefined || s === 'off' ? 0 : Number(s));
  return {
    publicKey: head[1] ?? '',
    listenPort: num(head[2]),
    peers: rest.map((f) => ({
      publicKey: f[0] ?? '',
      endpoint: f[2] === '(none)' ? '' : (f[2] ?? ''),
      allowedIps: f[3] === '(none)' || !f[3] ? [] : f[3].split(','),
      latestHandshake: num(f[4]),
      rxBytes: num(f[5]),
      txBytes: num(f[6]),
      persistentKeepalive: num(f[7]),
    })),
  };
}

// ---- devices ------------------------------------------------------------------------------------

export interface WireGuardDeviceSpec {
  ifname: string;
  /** where a wireguard-go device keeps `<ifname>.pid` and `<ifname>.log` */
  runDir: string;
}

function startTimeOf(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z' || fields[0] === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

const pidFile = (spec: WireGuardDeviceSpec) => join(spec.runDir, `${spec.ifname}.pid`);
const uapiSocket = (ifname: string) => join(UAPI_DIR, `${ifname}.sock`);

/** The wireguard-go process serving the device, if it still runs (same PID and start time). */
export function wireguardGoProcess(spec: WireGuardDeviceSpec): number | undefined {
  try {
    const [pid, start] = readFileSync(pidFile(spec), 'utf8').trim().split(' ');
    if (!pid || !start || !/^[0-9]+$/.test(pid)) return undefined;
    return startTimeOf(Number(pid)) === start ? Number(pid) : undefined;
  } catch {
    return undefined;
  }
}

async function linkExists(netns: NetnsTarget | null, ifname: string): Promise<boolean> {
  return withRtnl(netns, async (nl) => (await findLink(nl, ifname)) !== undefined);
}

async function startWireguardGo(netns: NetnsTarget | null, spec: WireGuardDeviceSpec): Promise<number> {
  const bin = wireguardGoPath();
  if (!bin) throw new SystemError('wireguard-go is not installed and this kernel has no wireguard module: install the wireguard-go package');
  mkdirSync(spec.runDir, { recursive: true, mode: 0o700 });
  // a socket left by a SIGKILLed process (none of ours runs: the caller stopped it)
  rmSync(uapiSocket(spec.ifname), { force: true });
  const log = join(spec.runDir, `${spec.ifname}.log`);
  const fd = openSync(log, 'a', 0o600);
  let pid: number | undefined;
  try {
    const [cmd, ...args] = inNetns(netns, [bin, '-f', spec.ifname]) as [string, ...string[]];
    // stdio to a file and unref'd: it outlives a crashed daemon (the next start adopts it by
    // PID). Not detached (no setsid): a session of its own is a scheduling autogroup of its
    // own, which on a busy host halved its throughput (BENCHMARKS.md, issue 16); in the
    // daemon's session it is scheduled like the daemon, and a terminal's Ctrl-C, which stops
    // the daemon and with it the device anyway, stops it too.
    const child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: { ...process.env, LOG_LEVEL: 'error' } });
    child.on('error', () => undefined);
    child.unref();
    pid = child.pid;
  } finally {
    closeSync(fd);
  }
  if (!pid) throw new SystemError(`cannot start ${bin} for ${spec.ifname} (see ${log})`);
  const start = startTimeOf(pid);
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (start !== undefined && Date.now() < deadline && startTimeOf(pid) === start) {
    if (existsSync(uapiSocket(spec.ifname)) && (await linkExists(netns, spec.ifname))) {
      writeFileSync(pidFile(spec), `${pid} ${start}\n`, { mode: 0o600 });
      return pid;
    }
    await sleep(20);
  }
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
  const tail = existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n').slice(-5).join(' | ') : '';
  throw new SystemError(`wireguard-go did not bring up ${spec.ifname} within ${START_TIMEOUT_MS} ms${tail ? `: ${tail}` : ''}`);
}

/**
 * Make the device exist: a kernel wireguard link, or a running wireguard-go (adopted by PID if
 * one of ours runs already, started again if it died). True when it was (re)made now: it then
 * has no key, port, address or peers.
 */
export async function ensureDevice(netns: NetnsTarget | null, spec: WireGuardDeviceSpec, impl: WireGuardImplementation): Promise<boolean> {
  validateIfName(spec.ifname);
  if (impl === 'kernel') {
    return withRtnl(netns, async (nl) => {
      if (await findLink(nl, spec.ifname)) return false;
      // IFLA_LINKINFO { IFLA_INFO_KIND "wireguard" }, NLM_F_CREATE | NLM_F_EXCL
      await nl.call(`create wireguard link ${spec.ifname}`, (s) =>
        s.newLink({}, { ifname: spec.ifname, linkinfo: nlaNested(1, [nlaString(1, 'wireguard')]) }, { flags: 0x600 }),
      );
      await getLink(nl, spec.ifname);
      return true;
    });
  }
  if (wireguardGoProcess(spec) !== undefined && (await linkExists(netns, spec.ifname))) return false;
  await stopDevice(netns, spec, impl);
  await startWireguardGo(netns, spec);
  return true;
}

/**
 * What wireguard-go's UDP sockets get (the kernel doubles it): Debian 12's wireguard-go keeps
 * the 208 KiB default, which overflows at a few hundred Mbit/s (newer ones set 7 MiB
 * themselves). 4 MiB measured 1.4–1.6× the throughput of the default (BENCHMARKS.md, issue 16).
 */
export const WIREGUARD_GO_SOCKET_BUFFER = 4 << 20;

/**
 * Set the receive and send buffers of the device's wireguard-go UDP sockets
 * (dist/berth-sockbuf: SO_RCVBUFFORCE through pidfd_getfd; no sysctl changes). Its sockets are
 * made again when the device goes up or its port changes: call this after those. Returns how
 * many sockets were set.
 */
export async function raiseSocketBuffers(spec: WireGuardDeviceSpec, bytes = WIREGUARD_GO_SOCKET_BUFFER): Promise<number> {
  const pid = wireguardGoProcess(spec);
  if (pid === undefined) throw new SystemError(`no wireguard-go of ours serves ${spec.ifname}`);
  // a new device binds its sockets when it sees its link go up, a moment after `ip link set up`
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const out = (await runTool([BERTH_SOCKBUF, String(pid), String(bytes)])).trim();
    if (!/^[0-9]+$/.test(out)) throw new SystemError(`${BERTH_SOCKBUF}: unexpected output ${JSON.stringify(out.slice(0, 80))}`);
    if (Number(out) > 0) return Number(out);
    if (Date.now() > deadline) throw new SystemError(`wireguard-go for ${spec.ifname} opened no UDP socket within ${START_TIMEOUT_MS} ms`);
    await sleep(20);
  }
}

/** Remove the device: stop its wireguard-go by PID (SIGTERM, then SIGKILL), delete the link. Idempotent. */
export async function stopDevice(netns: NetnsTarget | null, spec: WireGuardDeviceSpec, impl: WireGuardImplementation): Promise<void> {
  validateIfName(spec.ifname);
  if (impl === 'wireguard-go') {
    const pid = wireguardGoProcess(spec);
    if (pid !== undefined) {
      const start = startTimeOf(pid);
      const gone = () => startTimeOf(pid) !== start;
      const kill = (sig: NodeJS.Signals) => {
        try {
          process.kill(pid, sig);
        } catch {
          /* gone */
        }
      };
      kill('SIGTERM');
      const deadline = Date.now() + STOP_TIMEOUT_MS;
      while (!gone() && Date.now() < deadline) await sleep(20);
      if (!gone()) {
        kill('SIGKILL');
        while (!gone() && Date.now() < deadline + STOP_TIMEOUT_MS) await sleep(20);
      }
    }
    rmSync(pidFile(spec), { force: true });
    // our device's socket only: the name is this host's, and no process of ours serves it now
    rmSync(uapiSocket(spec.ifname), { force: true });
  }
  await withRtnl(netns, (nl) => deleteLink(nl, spec.ifname));
}
