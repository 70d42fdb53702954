// Shared pieces of the daemon's end-to-end tests (issue 5: REST API and self-repair): start and
// stop `berth daemon` in a lab host, talk HTTP to its unix socket (plain node:http, so status
// codes and headers are seen exactly), run the stock docker CLIs against it, read an SSE
// stream, and look at what berth holds on a host from the outside: the store (read-only), the
// links berth marked (IFLA_IFALIAS), netns mounts and container processes.
import assert from 'node:assert/strict';
import { access, constants, readdir, readFile } from 'node:fs/promises';
import http, { type IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type BackgroundProcess, type ExecResult, type Host, run } from '../lab/index.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- the daemon ------------------------------------------------------------------------------------

export interface Daemon {
  proc: BackgroundProcess;
  /** the unix socket it serves */
  sock: string;
}

export interface StartOptions {
  /** extra `berth daemon` arguments (e.g. more --api listeners); the default socket is always served */
  args?: string[];
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
}

/** The daemon's default socket on a host. */
export function socketOf(h: Host): string {
  return join(h.runDir, 'berth.sock');
}

/** Start `berth daemon` in h; resolves once it listens on its unix socket (and answers /_ping). */
export async function startDaemon(h: Host, opts: StartOptions = {}): Promise<Daemon> {
  const sock = socketOf(h);
  const extra = opts.args ?? [];
  // with no other listener, rely on the default (unix://$BERTH_RUN/berth.sock)
  const proc = await h.spawnBerth(['daemon', ...(extra.length ? ['--api', `unix://${sock}`, ...extra] : [])], { env: opts.env ?? {} });
  const listeners = 1 + extra.filter((a) => a === '--api').length;
  const end = Date.now() + (opts.timeoutMs ?? 30_000);
  while ((proc.stderr().match(/listening on /g) ?? []).length < listeners) {
    if (!proc.running) assert.fail(`berth daemon exited before listening:\n${proc.stderr()}`);
    if (Date.now() > end) assert.fail(`berth daemon did not listen within ${opts.timeoutMs ?? 30_000} ms:\n${proc.stderr()}`);
    await sleep(20);
  }
  const ping = await api(sock, 'GET', '/_ping');
  assert.equal(ping.status, 200, `GET /_ping on a fresh daemon: ${ping.text}`);
  return { proc, sock };
}

/** SIGTERM (SIGKILL after a grace period) and wait for the exit. */
export async function stopDaemon(d: Daemon | undefined): Promise<ExecResult | undefined> {
  return d?.proc.kill(5000);
}

// ---- idle cost ---------------------------------------------------------------------------------------

/** CPU time of pid: user + system, its own and its waited-for children's (an `nft` it ran), in clock ticks (100/s). */
export async function cpuTicks(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]); // fields 14-17
}

/** CPU pid used over ms milliseconds, in % of one core. */
export async function cpuPercent(pid: number, ms: number): Promise<number> {
  const t0 = await cpuTicks(pid);
  const w0 = Date.now();
  await sleep(ms);
  // 100 ticks a second: percent = ticks * 100 / (seconds * 100)
  return ((await cpuTicks(pid)) - t0) / ((Date.now() - w0) / 1000);
}

/**
 * What pid costs idle, in % of one core, over windowMs: measured once it has had a quiet second
 * (below limitPct) after the work that came before (compiling, collecting the garbage of a big
 * request), for at most settleMs. On a loaded CI machine that after-work takes seconds; a cost
 * that lasts (a poll that grows with the state) shows in the window all the same.
 */
export async function idleCpuPercent(pid: number, limitPct: number, o: { settleMs?: number; windowMs?: number } = {}): Promise<number> {
  const end = Date.now() + (o.settleMs ?? 20_000);
  while (Date.now() < end && (await cpuPercent(pid, 1000)) >= limitPct);
  return cpuPercent(pid, o.windowMs ?? 8000);
}

// ---- raw HTTP on the unix socket -------------------------------------------------------------------

export interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
}

/** One request on a fresh connection (no keep-alive: a SIGKILLed daemon must not leave a pooled socket). */
export function api(sock: string, method: string, path: string, body?: unknown, opts: { timeoutMs?: number; rawBody?: string } = {}): Promise<Reply> {
  const payload = opts.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        socketPath: sock,
        method,
        path,
        agent: false,
        headers: { Host: 'docker', ...(payload !== undefined ? { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload) } : {}) },
        timeout: opts.timeoutMs ?? 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer within ${opts.timeoutMs ?? 60_000} ms`)));
    req.on('error', reject);
    req.end(payload);
  });
}

export function parseJson<T = unknown>(r: Reply, what = 'reply'): T {
  try {
    return JSON.parse(r.text) as T;
  } catch (e) {
    assert.fail(`${what} is not JSON (${(e as Error).message}): status ${r.status}, body ${JSON.stringify(r.text.slice(0, 500))}`);
  }
}

/** A Docker-style error: this status, a JSON body {"message": …} matching pattern. */
export function assertApiError(r: Reply, status: number, pattern: RegExp, what: string): void {
  assert.equal(r.status, status, `${what}: status ${r.status}, expected ${status}; body ${r.text}`);
  assert.match(String(r.headers['content-type']), /^application\/json/, `${what}: Content-Type`);
  const body = parseJson<Record<string, unknown>>(r, what);
  assert.deepEqual(Object.keys(body), ['message'], `${what}: the error body is {"message": …}, got ${r.text}`);
  assert.match(String(body.message), pattern, `${what}: message`);
}

// ---- server-sent events ----------------------------------------------------------------------------

export interface SseClient {
  /** every `data:` payload received so far, parsed */
  readonly events: Record<string, unknown>[];
  readonly status: Promise<{ status: number; headers: IncomingHttpHeaders }>;
  waitFor(pred: (e: Record<string, unknown>) => boolean, timeoutMs?: number): Promise<Record<string, unknown>>;
  close(): void;
}

export function sse(sock: string, path = '/events'): SseClient {
  const events: Record<string, unknown>[] = [];
  let buf = '';
  let resolveStatus: (v: { status: number; headers: IncomingHttpHeaders }) => void = () => undefined;
  let rejectStatus: (e: Error) => void = () => undefined;
  const status = new Promise<{ status: number; headers: IncomingHttpHeaders }>((res, rej) => {
    resolveStatus = res;
    rejectStatus = rej;
  });
  status.catch(() => undefined);
  const req = http.request({ socketPath: sock, method: 'GET', path, agent: false }, (res) => {
    resolveStatus({ status: res.statusCode ?? 0, headers: res.headers });
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buf += chunk;
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const data = block
          .split('\n')
          .filter((l) => l.startsWith('data:'))
          .map((l) => l.slice(5).trimStart())
          .join('\n');
        if (data) events.push(JSON.parse(data) as Record<string, unknown>);
      }
    });
    res.on('error', () => undefined);
  });
  req.on('error', (e) => rejectStatus(e));
  req.end();
  return {
    events,
    status,
    async waitFor(pred, timeoutMs = 5000) {
      const end = Date.now() + timeoutMs;
      for (;;) {
        const e = events.find(pred);
        if (e) return e;
        if (Date.now() > end) assert.fail(`no matching event within ${timeoutMs} ms; got ${JSON.stringify(events)}`);
        await sleep(20);
      }
    },
    close() {
      req.destroy();
    },
  };
}

// ---- the docker CLIs ---------------------------------------------------------------------------------

export interface DockerCli {
  path: string;
  /** e.g. "28.2.2" */
  version: string;
  /** short tag for names: "d28", "d20" */
  tag: string;
}

export const DOCKER_CLI_PATHS = ['/usr/local/bin/docker', '/usr/bin/docker'];

/** The docker CLIs installed on this machine, and why each missing one is missing. */
export async function findDockerClis(): Promise<{ present: DockerCli[]; missing: string[] }> {
  const present: DockerCli[] = [];
  const missing: string[] = [];
  for (const path of DOCKER_CLI_PATHS) {
    try {
      await access(path, constants.X_OK);
    } catch {
      missing.push(`${path} is not installed`);
      continue;
    }
    const r = await run([path, '--version'], { timeoutMs: 10_000 }).catch(() => undefined);
    const m = /version (\d+)\.(\d+)\.(\d+)/.exec(r?.stdout ?? '');
    if (!m) {
      missing.push(`${path} does not report a version: ${r?.stdout ?? ''}${r?.stderr ?? ''}`);
      continue;
    }
    const tag = `d${m[1]}`;
    if (present.some((c) => c.tag === tag)) {
      missing.push(`${path} is the same major version (${m[0]}) as another CLI`);
      continue;
    }
    present.push({ path, version: `${m[1]}.${m[2]}.${m[3]}`, tag });
  }
  return { present, missing };
}

/** Run the docker CLI in h against the daemon's socket (its config dir inside the lab, not ~/.docker). */
export function docker(h: Host, cli: DockerCli, sock: string, args: readonly string[]): Promise<ExecResult> {
  return h.exec([cli.path, ...args], {
    timeoutMs: 30_000,
    env: { DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: join(h.lab.dir, `docker-config-${cli.tag}`), DOCKER_CONTEXT: undefined },
  });
}

export async function dockerOk(h: Host, cli: DockerCli, sock: string, args: readonly string[]): Promise<ExecResult> {
  const r = await docker(h, cli, sock, args);
  assert.equal(r.code, 0, `docker ${args.join(' ')} (${cli.path}): exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

// ---- what berth holds, seen from outside -----------------------------------------------------------

export interface StoreContainer {
  id: string;
  name: string;
  state: { status: string; pid?: number; pidStart?: string; childPid?: number; netns?: string };
}
export interface StoreEndpoint {
  id: string;
  networkId: string;
  containerId: string;
  addresses: string[];
}
export interface StoreDump {
  networks: { id: string; name: string; iface: string | null }[];
  containers: StoreContainer[];
  endpoints: StoreEndpoint[];
  allocations: { networkId: string; address: string; owner: string }[];
  ports: { proto: string; hostIp: string; hostPort: number; containerId: string; endpointId: string | null }[];
}

/** Every row berth keeps about networks, containers, endpoints, addresses and ports (read-only). */
export function readStore(h: Host): StoreDump {
  const db = new Database(join(h.rootDir, 'berth.db'), { readonly: true, fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const all = <T>(sql: string) => db.prepare(sql).all() as T[];
    return {
      networks: all<{ id: string; name: string; iface: string | null }>('SELECT id, name, interface AS iface FROM networks ORDER BY name'),
      containers: all<{ id: string; name: string; state: string }>('SELECT id, name, state FROM containers ORDER BY name').map((c) => ({
        id: c.id,
        name: c.name,
        state: JSON.parse(c.state) as StoreContainer['state'],
      })),
      endpoints: all<{ id: string; network_id: string; container_id: string; addresses: string }>(
        'SELECT id, network_id, container_id, addresses FROM endpoints ORDER BY id',
      ).map((e) => ({ id: e.id, networkId: e.network_id, containerId: e.container_id, addresses: JSON.parse(e.addresses) as string[] })),
      allocations: all<{ network_id: string; address: string; owner: string }>('SELECT network_id, address, owner FROM allocations ORDER BY network_id, address').map(
        (a) => ({ networkId: a.network_id, address: a.address, owner: a.owner }),
      ),
      ports: all<{ proto: string; host_ip: string; host_port: number; container_id: string; endpoint_id: string | null }>(
        'SELECT proto, host_ip, host_port, container_id, endpoint_id FROM ports ORDER BY proto, host_ip, host_port',
      ).map((p) => ({ proto: p.proto, hostIp: p.host_ip, hostPort: p.host_port, containerId: p.container_id, endpointId: p.endpoint_id })),
    };
  } finally {
    db.close();
  }
}

/** Field 22 of /proc/PID/stat (start time), or undefined if there is no such process. */
export async function startTimeOf(pid: number): Promise<string | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

export async function parentOf(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    return Number.isInteger(ppid) ? ppid : undefined;
  } catch {
    return undefined;
  }
}

/** A container whose record says running and whose shim is the same live process. */
export async function isRunning(c: StoreContainer): Promise<boolean> {
  if (c.state.status !== 'running' || !c.state.pid) return false;
  const st = await startTimeOf(c.state.pid);
  return st !== undefined && st === c.state.pidStart;
}

export interface BerthLink {
  ifname: string;
  ifalias: string;
  master?: string;
}

/** Links of h that berth marked as its own (IFLA_IFALIAS "berth:…"), from `ip -d -j link`. */
export async function berthLinks(h: Host): Promise<BerthLink[]> {
  const r = await h.execOk(['ip', '-d', '-j', 'link', 'show']);
  return (JSON.parse(r.stdout) as { ifname: string; ifalias?: string; master?: string }[])
    .filter((l) => l.ifalias?.startsWith('berth:'))
    .map((l) => ({ ifname: l.ifname, ifalias: l.ifalias as string, ...(l.master ? { master: l.master } : {}) }));
}

/** Processes whose command line names this host's container directory: the shims and their children. */
export async function containerProcesses(h: Host): Promise<{ pid: number; containerId: string; cmdline: string }[]> {
  const dir = `${join(h.runDir, 'containers')}/`;
  const out: { pid: number; containerId: string; cmdline: string }[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const cmdline = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    const i = cmdline.indexOf(dir);
    if (i < 0) continue;
    const m = /^[0-9a-f]{64}/.exec(cmdline.slice(i + dir.length));
    if (m) out.push({ pid: Number(e), containerId: m[0], cmdline: cmdline.split('\0').join(' ') });
  }
  return out;
}

/**
 * Everything berth holds on h that no running container (or known network) accounts for:
 * addresses, endpoints and ports of containers that are not running, marked links the store does
 * not know (or whose endpoint's container is not running), netns mounts without a running
 * container, and container processes berth does not count as running. Empty when all is well.
 */
export async function leftovers(h: Host): Promise<string[]> {
  const s = readStore(h);
  const running = new Set<string>();
  for (const c of s.containers) if (await isRunning(c)) running.add(c.id);
  const nameOf = (id: string) => `${s.containers.find((c) => c.id === id)?.name ?? '(no record)'} ${id.slice(0, 12)}`;
  const stateOf = (id: string) => JSON.stringify(s.containers.find((c) => c.id === id)?.state ?? null);
  const endpoints = new Map(s.endpoints.map((e) => [e.id, e]));
  const networks = new Set(s.networks.map((n) => n.id));
  const out: string[] = [];
  for (const a of s.allocations) {
    if (a.owner === 'gateway' || a.owner.startsWith('aux:')) continue;
    const ep = endpoints.get(a.owner);
    if (!ep) out.push(`address ${a.address} is allocated to endpoint ${a.owner.slice(0, 12)}, which the store does not have`);
    else if (!running.has(ep.containerId)) out.push(`address ${a.address} is held by container ${nameOf(ep.containerId)}, which is not running (state ${stateOf(ep.containerId)})`);
  }
  for (const e of s.endpoints) {
    if (!running.has(e.containerId)) out.push(`endpoint ${e.id.slice(0, 12)} (${e.addresses.join(', ')}) belongs to container ${nameOf(e.containerId)}, which is not running`);
  }
  for (const p of s.ports) {
    if (!running.has(p.containerId)) out.push(`port ${p.proto}/${p.hostIp}:${p.hostPort} is held by container ${nameOf(p.containerId)}, which is not running`);
  }
  for (const l of await berthLinks(h)) {
    const [, kind, id = ''] = l.ifalias.split(':');
    if (kind === 'network' && !networks.has(id)) out.push(`link ${l.ifname} (${l.ifalias}): no such network in the store`);
    if (kind === 'endpoint') {
      const ep = endpoints.get(id);
      if (!ep) out.push(`link ${l.ifname} (${l.ifalias}): no such endpoint in the store`);
      else if (!running.has(ep.containerId)) out.push(`link ${l.ifname} (${l.ifalias}): its container ${nameOf(ep.containerId)} is not running`);
    }
  }
  const runningNetns = new Set(s.containers.filter((c) => running.has(c.id)).map((c) => c.state.netns));
  let mounts: string[] = [];
  try {
    mounts = await readdir(join(h.runDir, 'netns'));
  } catch {
    // no netns directory yet
  }
  for (const m of mounts) if (!runningNetns.has(join(h.runDir, 'netns', m))) out.push(`netns mount ${m.slice(0, 12)}: no running container owns it`);
  for (const p of await containerProcesses(h)) {
    if (!running.has(p.containerId)) out.push(`process ${p.pid} of container ${nameOf(p.containerId)} runs, but berth does not count the container as running (state ${stateOf(p.containerId)}): ${p.cmdline.slice(0, 200)}`);
  }
  return out;
}

// ---- memory ------------------------------------------------------------------------------------------

/** VmRSS and VmHWM of a process, in KiB. */
export async function memoryOf(pid: number): Promise<{ rssKb: number; hwmKb: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rssKb: field('VmRSS'), hwmKb: field('VmHWM') };
}

/** Poll cond until it returns a truthy value; fails with what() after timeoutMs. */
export async function waitFor<T>(cond: () => Promise<T | undefined | false>, timeoutMs: number, what: () => string, intervalMs = 20): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) assert.fail(`${what()} (waited ${timeoutMs} ms)`);
    await sleep(intervalMs);
  }
}

/**
 * SIGKILL every container of h that berth counts as running: its shim first (so that no exit
 * hook starts), then its PID 1 (which takes its PID namespace along). Only processes the store
 * names and whose start time still matches, i.e. the ones this test started through berth.
 * Lab.close() would get there too, but one SIGTERM grace period per container.
 */
export async function killContainers(h: Host): Promise<void> {
  let s: StoreDump;
  try {
    s = readStore(h);
  } catch {
    return;
  }
  const children: { pid: number; start: string }[] = [];
  for (const c of s.containers) {
    if (!(await isRunning(c)) || !c.state.pid) continue;
    const child = c.state.childPid;
    const childStart = child && (await parentOf(child)) === c.state.pid ? await startTimeOf(child) : undefined;
    try {
      process.kill(c.state.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
    if (child && childStart) children.push({ pid: child, start: childStart });
  }
  for (const c of children) {
    if ((await startTimeOf(c.pid)) !== c.start) continue;
    try {
      process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
}
