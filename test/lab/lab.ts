// Lab topologies for integration tests: hosts (a netns with its own BERTH_ROOT/BERTH_RUN),
// externals (plain peer namespaces) and switches (a bridge in the lab's underlay netns), all
// created inside lab namespaces and all removed by Lab.close(). Nothing here ever adds
// anything to the machine's own network namespace.
import { execFileSync, spawn as spawnChild, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import {
  type ExecOptions,
  type ExecResult,
  DEFAULT_TIMEOUT_MS,
  ExecError,
  formatArgv,
  mergeEnv,
  nsArgv,
  run,
  runIn,
} from './exec.js';
import {
  BERTH_BIN,
  BERTH_CLIENT,
  VIA_CLIENT,
  LAB_ENV_MARKER,
  NETNS_DIR,
  NODE_NAME_RE,
  UNDERLAY_NAME,
  VIA_DAEMON,
  labNetnsName,
  reserveTag,
  suiteNetnsNames,
  suiteNetnsNamesSync,
  tagOfNetns,
} from './names.js';
import {
  type MountEntry,
  isUnder,
  killProcesses,
  killProcessesSync,
  listProcesses,
  listProcessesSync,
  mountsUnder,
  nsfsIds,
  readMountinfo,
  readMountinfoSync,
  selectProcesses,
} from './procfs.js';
import { type PingOptions, ping } from './query.js';

export type { ExecOptions, ExecResult } from './exec.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- background processes -------------------------------------------------------------------

export interface SpawnOptions {
  /** Extra environment, merged over the node's environment. */
  env?: Record<string, string | undefined>;
  cwd?: string;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
}

export interface WaitForOutputOptions {
  timeoutMs?: number;
  stream?: 'stdout' | 'stderr' | 'both';
}

const MAX_CAPTURE = 4 * 1024 * 1024;

/** A process running in the background inside a lab namespace, killed (by PID) at lab close. */
export class BackgroundProcess {
  readonly pid: number;
  /** Settles when the process has exited; never rejects. */
  readonly exited: Promise<ExecResult>;
  private out = '';
  private err = '';
  private done = false;
  private readonly started = Date.now();
  private readonly listeners = new Set<() => void>();

  private constructor(
    readonly argv: readonly string[],
    private readonly child: ChildProcess,
  ) {
    if (child.pid === undefined) throw new Error(`spawn: no PID for ${formatArgv(argv)}`);
    this.pid = child.pid;
    const append = (which: 'out' | 'err') => (chunk: Buffer) => {
      const s = this[which] + chunk.toString('utf8');
      this[which] = s.length > MAX_CAPTURE ? s.slice(s.length - MAX_CAPTURE) : s;
      for (const l of this.listeners) l();
    };
    child.stdout?.on('data', append('out'));
    child.stderr?.on('data', append('err'));
    this.exited = new Promise<ExecResult>((resolve) => {
      child.on('close', (code, signal) => {
        this.done = true;
        for (const l of this.listeners) l();
        resolve({
          argv,
          code,
          signal,
          stdout: this.out,
          stderr: this.err,
          durationMs: Date.now() - this.started,
        });
      });
    });
  }

  /** Start argv; resolves once the process exists, rejects if it cannot be started. */
  static start(argv: readonly string[], env: NodeJS.ProcessEnv, opts: SpawnOptions = {}): Promise<BackgroundProcess> {
    const [file, ...args] = argv;
    if (file === undefined) return Promise.reject(new Error('spawn: empty argv'));
    return new Promise((resolve, reject) => {
      const child = spawnChild(file, args, {
        env,
        cwd: opts.cwd,
        stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      });
      child.once('error', (e: NodeJS.ErrnoException) => reject(new ExecError(argv, `cannot spawn (${e.code ?? e.message})`)));
      child.once('spawn', () => {
        if (opts.input !== undefined && child.stdin) {
          child.stdin.on('error', () => undefined);
          child.stdin.end(opts.input);
        }
        resolve(new BackgroundProcess(argv, child));
      });
    });
  }

  get running(): boolean {
    return !this.done;
  }

  stdout(): string {
    return this.out;
  }

  stderr(): string {
    return this.err;
  }

  /** Wait until the output matches pattern; resolves with the matched text. */
  waitForOutput(pattern: RegExp | string, opts: WaitForOutputOptions = {}): Promise<string> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const stream = opts.stream ?? 'both';
    const text = () => (stream === 'stdout' ? this.out : stream === 'stderr' ? this.err : `${this.out}\n${this.err}`);
    const match = (): string | undefined => {
      const t = text();
      if (typeof pattern === 'string') return t.includes(pattern) ? pattern : undefined;
      return pattern.exec(t)?.[0];
    };
    return new Promise((resolve, reject) => {
      const finish = (fn: () => void) => {
        clearTimeout(timer);
        this.listeners.delete(check);
        fn();
      };
      const fail = (why: string) =>
        finish(() =>
          reject(
            new ExecError(this.argv, `${why} while waiting for output ${String(pattern)}`, {
              argv: this.argv,
              code: this.child.exitCode,
              signal: this.child.signalCode,
              stdout: this.out,
              stderr: this.err,
              durationMs: Date.now() - this.started,
            }),
          ),
        );
      const check = () => {
        const m = match();
        if (m !== undefined) finish(() => resolve(m));
        else if (this.done) fail('process exited');
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  /** Send one signal to the process (by PID), if it is still running. */
  signal(sig: NodeJS.Signals): void {
    // Our own child: until 'close' has fired it is unreaped, so the PID is still this process.
    if (!this.done) this.child.kill(sig);
  }

  /** SIGTERM, then SIGKILL after graceMs; resolves when the process has exited. */
  async kill(graceMs = 1500): Promise<ExecResult> {
    if (!this.done) {
      this.signal('SIGTERM');
      const t = await Promise.race([this.exited, sleep(graceMs).then(() => undefined)]);
      if (t === undefined) this.signal('SIGKILL');
    }
    const r = await Promise.race([this.exited, sleep(5000).then(() => undefined)]);
    if (r === undefined) throw new Error(`process ${this.pid} (${formatArgv(this.argv)}) did not exit after SIGKILL`);
    return r;
  }
}

// ---- nodes ----------------------------------------------------------------------------------

export type NodeKind = 'host' | 'external' | 'underlay';

export interface PlugOptions {
  /** Interface name inside the node, e.g. "eth0" (at most 15 characters). */
  ifname: string;
  /** Address(es) in CIDR form, e.g. "10.99.0.1/24", "fd99::1/64" (IPv6 ones are added nodad). */
  address?: string | readonly string[];
  /** Default gateway(s) to add in the node through this interface (one per family). */
  gateway?: string | readonly string[];
  mac?: string;
  mtu?: number;
}

export interface Plug {
  readonly node: LabNode;
  readonly switch: Switch;
  readonly ifname: string;
  /** The switch-side veth, a port of the switch bridge in the underlay namespace. */
  readonly port: string;
  readonly addresses: readonly string[];
}

/** A lab network namespace the harness created: something to run commands in. */
export class LabNode {
  readonly nsName: string;
  readonly netnsPath: string;
  readonly plugs: Plug[] = [];

  constructor(
    readonly lab: Lab,
    readonly kind: NodeKind,
    readonly name: string,
  ) {
    this.nsName = labNetnsName(lab.tag, name);
    this.netnsPath = join(NETNS_DIR, this.nsName);
  }

  /** Environment added to everything run in this node. */
  protected nodeEnv(): Record<string, string> {
    return { [LAB_ENV_MARKER]: this.lab.tag };
  }

  /** Run argv inside this node's network namespace (nsenter --net, shared mount namespace). */
  async exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    this.lab.assertOpen();
    return runIn(this, argv, { ...opts, env: { ...this.nodeEnv(), ...opts.env } });
  }

  /** exec() that throws unless the command exits 0. */
  execOk(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(argv, { ...opts, check: true });
  }

  /** Start argv in the background inside this node; it is killed by PID when the lab closes. */
  async spawn(argv: readonly string[], opts: SpawnOptions = {}): Promise<BackgroundProcess> {
    this.lab.assertOpen();
    const full = await nsArgv(this, argv);
    const p = await BackgroundProcess.start(full, mergeEnv(this.nodeEnv(), opts.env), opts);
    this.lab.track(p);
    return p;
  }

  /** True if every echo request to addr is answered (see query.ping). */
  ping(addr: string, opts: PingOptions = {}): Promise<boolean> {
    return ping(this, addr, opts);
  }

  /** Plain addresses this node got from plug(), optionally of one family or one interface. */
  addresses(opts: { family?: 4 | 6; ifname?: string } = {}): string[] {
    return this.plugs
      .filter((p) => opts.ifname === undefined || p.ifname === opts.ifname)
      .flatMap((p) => p.addresses)
      .map((a) => a.split('/')[0] ?? a)
      .filter((a) => opts.family === undefined || (opts.family === 6) === a.includes(':'));
  }

  /** First IPv4 address given by plug() (of ifname if given); throws if none. */
  ipv4(ifname?: string): string {
    const a = this.addresses({ family: 4, ifname })[0];
    if (a === undefined) throw new Error(`${this.name} has no IPv4 address${ifname ? ` on ${ifname}` : ''}`);
    return a;
  }

  /** First IPv6 address given by plug() (of ifname if given); throws if none. */
  ipv6(ifname?: string): string {
    const a = this.addresses({ family: 6, ifname })[0];
    if (a === undefined) throw new Error(`${this.name} has no IPv6 address${ifname ? ` on ${ifname}` : ''}`);
    return a;
  }
}

/** A berth host: a netns with its own BERTH_ROOT and BERTH_RUN. */
export class Host extends LabNode {
  readonly rootDir: string;
  readonly runDir: string;
  readonly env: { readonly BERTH_ROOT: string; readonly BERTH_RUN: string };

  constructor(lab: Lab, name: string) {
    super(lab, 'host', name);
    this.rootDir = join(lab.dir, name, 'root');
    this.runDir = join(lab.dir, name, 'run');
    this.env = { BERTH_ROOT: this.rootDir, BERTH_RUN: this.runDir };
  }

  protected override nodeEnv(): Record<string, string> {
    return { ...super.nodeEnv(), ...this.env };
  }

  /**
   * argv that runs the berth CLI: bin/berth of this repository with this node's node binary, or,
   * when the suite runs via the daemon (VIA_DAEMON) or the client without one (VIA_CLIENT), the
   * thin client dist/berth.
   */
  berthArgv(args: readonly string[]): string[] {
    return VIA_DAEMON || VIA_CLIENT ? [BERTH_CLIENT, ...args] : [process.execPath, BERTH_BIN, ...args];
  }

  /** Run `berth args…` on this host (its netns, its BERTH_ROOT/BERTH_RUN). */
  berth(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.exec(this.berthArgv(args), opts);
  }

  /** berth() that throws unless it exits 0. */
  berthOk(args: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.berth(args, { ...opts, check: true });
  }

  /** berthOk() and parse stdout as JSON (pass --format json in args where the command needs it). */
  async berthJson<T = unknown>(args: readonly string[], opts: ExecOptions = {}): Promise<T> {
    const r = await this.berthOk(args, opts);
    try {
      return JSON.parse(r.stdout) as T;
    } catch (e) {
      throw new ExecError(r.argv, `berth output is not JSON (${(e as Error).message})`, r);
    }
  }

  /** Start `berth args…` in the background on this host (e.g. `berth daemon`). */
  spawnBerth(args: readonly string[], opts: SpawnOptions = {}): Promise<BackgroundProcess> {
    return this.spawn(this.berthArgv(args), opts);
  }
}

/** A peer namespace outside every berth host: an internet stand-in, a remote client, a resolver. */
export class External extends LabNode {
  constructor(lab: Lab, name: string) {
    super(lab, 'external', name);
  }
}

const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const CIDR_RE = /^[0-9A-Fa-f:.]+\/[0-9]{1,3}$/;
const MAC_RE = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;

function list(v: string | readonly string[] | undefined): string[] {
  return v === undefined ? [] : typeof v === 'string' ? [v] : [...v];
}

/** An underlay L2 segment: a Linux bridge in the lab's underlay namespace. */
export class Switch {
  readonly bridge: string;
  readonly plugs: Plug[] = [];

  constructor(
    readonly lab: Lab,
    readonly name: string,
    /** The underlay namespace holding the bridge (and every switch of this lab). */
    readonly underlay: LabNode,
  ) {
    this.bridge = `sw-${name}`.slice(0, 15);
  }

  /** Run argv in the underlay namespace (e.g. tcpdump on the bridge). */
  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    return this.underlay.exec(argv, opts);
  }

  /** Connect node to this switch with a veth pair: ifname in the node, a bridge port here. */
  async plug(node: LabNode, opts: PlugOptions): Promise<Plug> {
    this.lab.assertOpen();
    if (node.lab !== this.lab) throw new Error(`plug: ${node.name} belongs to another lab`);
    if (node.kind === 'underlay') throw new Error('plug: cannot plug the underlay namespace into itself');
    if (!IFNAME_RE.test(opts.ifname)) throw new Error(`plug: invalid interface name "${opts.ifname}" (1-15 of [A-Za-z0-9_.-])`);
    const addresses = list(opts.address);
    for (const a of addresses) if (!CIDR_RE.test(a)) throw new Error(`plug: invalid address "${a}": expected CIDR, e.g. 10.99.0.1/24`);
    if (opts.mac !== undefined && !MAC_RE.test(opts.mac)) throw new Error(`plug: invalid MAC "${opts.mac}"`);
    const port = `p${this.lab.nextPortId()}-${node.name}`.slice(0, 15);
    // Created from inside the underlay namespace, the peer moved straight into the node: the
    // pair never exists in the machine's own namespace.
    await this.underlay.execOk(['ip', 'link', 'add', port, 'type', 'veth', 'peer', 'name', opts.ifname, 'netns', node.nsName]);
    await this.underlay.execOk(['ip', 'link', 'set', port, 'alias', `${node.name}:${opts.ifname}`]);
    await this.underlay.execOk(['ip', 'link', 'set', port, 'master', this.bridge, 'up']);
    if (opts.mac) await node.execOk(['ip', 'link', 'set', opts.ifname, 'address', opts.mac]);
    if (opts.mtu) {
      await this.underlay.execOk(['ip', 'link', 'set', port, 'mtu', String(opts.mtu)]);
      await node.execOk(['ip', 'link', 'set', opts.ifname, 'mtu', String(opts.mtu)]);
    }
    await node.execOk(['ip', 'link', 'set', opts.ifname, 'up']);
    for (const a of addresses) {
      await node.execOk(['ip', 'addr', 'add', a, 'dev', opts.ifname, ...(a.includes(':') ? ['nodad'] : [])]);
    }
    for (const gw of list(opts.gateway)) {
      await node.execOk(['ip', gw.includes(':') ? '-6' : '-4', 'route', 'add', 'default', 'via', gw, 'dev', opts.ifname]);
    }
    const plug: Plug = { node, switch: this, ifname: opts.ifname, port, addresses };
    this.plugs.push(plug);
    node.plugs.push(plug);
    return plug;
  }
}

// ---- the lab --------------------------------------------------------------------------------

export interface LabOptions {
  /** Free text recorded in the lab's owner.json (e.g. the test name), for debugging leftovers. */
  label?: string;
}

const openLabs = new Set<Lab>();
let exitHandlersInstalled = false;

function installExitHandlers(): void {
  if (exitHandlersInstalled) return;
  exitHandlersInstalled = true;
  process.on('exit', () => {
    for (const lab of [...openLabs]) lab.emergencyCleanupSync();
  });
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const handler = () => {
      for (const lab of [...openLabs]) lab.emergencyCleanupSync();
      process.removeListener(sig, handler);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, handler);
  }
}

/**
 * One test's lab: a run tag, a temp dir, and every namespace and process created through it.
 * Always close it (`try { … } finally { await lab.close() }`, or use withLab).
 */
export class Lab {
  private readonly nodes = new Map<string, LabNode>();
  private readonly switches = new Map<string, Switch>();
  private readonly procs = new Set<BackgroundProcess>();
  /** Netns names to delete at close, recorded before each is created. */
  private readonly netnsNames = new Set<string>();
  private underlayNode: Promise<LabNode> | undefined;
  private closing: Promise<void> | undefined;
  private portSeq = 0;

  private constructor(
    /** 4 hex digits, in every netns name of this lab: bt<tag>-<name>. */
    readonly tag: string,
    /** The lab's temp dir: owner.json and <host>/{root,run}. */
    readonly dir: string,
  ) {}

  static async create(opts: LabOptions = {}): Promise<Lab> {
    const { tag, dir } = await reserveTag(opts.label);
    const lab = new Lab(tag, dir);
    openLabs.add(lab);
    installExitHandlers();
    return lab;
  }

  get closed(): boolean {
    return this.closing !== undefined;
  }

  assertOpen(): void {
    if (this.closing) throw new Error(`lab ${this.tag} is closed`);
  }

  /** The netns name this lab gives `name`: bt<tag>-<name>. */
  nsName(name: string): string {
    return labNetnsName(this.tag, name);
  }

  nextPortId(): number {
    return ++this.portSeq;
  }

  /** Hosts and externals created so far, by name. */
  node(name: string): LabNode | undefined {
    return this.nodes.get(name);
  }

  get hosts(): Host[] {
    return [...this.nodes.values()].filter((n): n is Host => n instanceof Host);
  }

  track(p: BackgroundProcess): void {
    this.procs.add(p);
    void p.exited.then(() => this.procs.delete(p));
  }

  private claimName(name: string, what: string): void {
    this.assertOpen();
    if (!NODE_NAME_RE.test(name)) {
      throw new Error(`invalid ${what} name "${name}": 1-20 characters of [a-z0-9-], starting with a letter`);
    }
    if (name === UNDERLAY_NAME) throw new Error(`invalid ${what} name "${name}": reserved for the lab's underlay namespace`);
    if (this.nodes.has(name)) throw new Error(`lab ${this.tag} already has a node named "${name}"`);
  }

  /** Create the netns bt<tag>-<name> with lo up. */
  private async addNetns(node: LabNode): Promise<void> {
    this.netnsNames.add(node.nsName);
    await runOkRoot(['ip', 'netns', 'add', node.nsName]);
    await node.execOk(['ip', 'link', 'set', 'lo', 'up']);
  }

  async createHost(name: string): Promise<Host> {
    this.claimName(name, 'host');
    const host = new Host(this, name);
    this.nodes.set(name, host);
    await mkdir(host.rootDir, { recursive: true });
    await mkdir(host.runDir, { recursive: true });
    await this.addNetns(host);
    return host;
  }

  async createExternal(name: string): Promise<External> {
    this.claimName(name, 'external');
    const ext = new External(this, name);
    this.nodes.set(name, ext);
    await this.addNetns(ext);
    return ext;
  }

  /** The underlay namespace bt<tag>-lab, created on first use. */
  underlay(): Promise<LabNode> {
    this.assertOpen();
    this.underlayNode ??= (async () => {
      const node = new LabNode(this, 'underlay', UNDERLAY_NAME);
      await this.addNetns(node);
      return node;
    })();
    return this.underlayNode;
  }

  async createSwitch(name: string): Promise<Switch> {
    this.assertOpen();
    if (!/^[a-z][a-z0-9-]{0,11}$/.test(name)) {
      throw new Error(`invalid switch name "${name}": 1-12 characters of [a-z0-9-], starting with a letter`);
    }
    if (this.switches.has(name)) throw new Error(`lab ${this.tag} already has a switch named "${name}"`);
    const underlay = await this.underlay();
    const sw = new Switch(this, name, underlay);
    this.switches.set(name, sw);
    await underlay.execOk(['ip', 'link', 'add', sw.bridge, 'type', 'bridge', 'stp_state', '0', 'mcast_snooping', '0']);
    await underlay.execOk(['ip', 'link', 'set', sw.bridge, 'up']);
    return sw;
  }

  /** Names of every netns of this lab that exists now. */
  async existingNetns(): Promise<string[]> {
    return (await suiteNetnsNames()).filter((n) => tagOfNetns(n) === this.tag || this.netnsNames.has(n));
  }

  /**
   * Delete everything: tracked processes, any other process inside the lab's namespaces (or
   * carrying its marker), mounts under its temp dir (berth's netns bind mounts), its namespaces,
   * its temp dir. Idempotent; safe after a partial setup. Throws after trying everything if
   * anything could not be removed.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const errors: string[] = [];
    const attempt = async (what: string, fn: () => Promise<unknown>) => {
      try {
        await fn();
      } catch (e) {
        errors.push(`${what}: ${(e as Error).message}`);
      }
    };
    await Promise.all([...this.procs].map((p) => attempt(`kill ${p.pid}`, () => p.kill())));
    await attempt('kill processes inside the lab', () => this.killInside());
    await attempt('unmount', async () => {
      const left = await unmountUnder(this.dir);
      if (left.length) throw new Error(`still mounted: ${left.map((m) => m.mountPoint).join(', ')}`);
    });
    const names = new Set([...this.netnsNames, ...(await this.existingNetns())]);
    for (const name of names) await attempt(`delete netns ${name}`, () => deleteNetns(name));
    await attempt(`remove ${this.dir}`, () => removeLabDir(this.dir));
    openLabs.delete(this);
    if (errors.length) throw new Error(`lab ${this.tag}: cleanup incomplete:\n  ${errors.join('\n  ')}`);
  }

  /** Namespace ids of the lab: its /run/netns entries and nsfs mounts under its dir. */
  private labNsIds(mounts: readonly MountEntry[]): Set<string> {
    return nsfsIds(
      mounts,
      (m) => isUnder(m.mountPoint, this.dir) || (isUnder(m.mountPoint, NETNS_DIR) && tagOfNetns(m.mountPoint.slice(NETNS_DIR.length + 1)) === this.tag),
    );
  }

  private async killInside(): Promise<void> {
    for (let round = 0; round < 5; round++) {
      const ids = this.labNsIds(await readMountinfo());
      const victims = selectProcesses(await listProcesses(LAB_ENV_MARKER), { nsIds: ids, tags: new Set([this.tag]) });
      if (victims.length === 0) return;
      const stubborn = await killProcesses(victims);
      if (stubborn.length && round === 4) {
        throw new Error(`processes survive SIGKILL: ${stubborn.map((p) => `${p.pid} (${p.comm})`).join(', ')}`);
      }
    }
  }

  /** Last-resort synchronous cleanup from process exit/signal handlers. */
  emergencyCleanupSync(): void {
    if (!openLabs.has(this)) return;
    openLabs.delete(this);
    try {
      const mounts = readMountinfoSync();
      const ids = this.labNsIds(mounts);
      killProcessesSync(selectProcesses(listProcessesSync(LAB_ENV_MARKER), { nsIds: ids, tags: new Set([this.tag]) }));
      for (const m of mountsUnder(mounts, this.dir)) {
        try {
          execFileSync('umount', ['--lazy', m.mountPoint], { stdio: 'ignore', timeout: 5000 });
        } catch {
          /* best effort */
        }
      }
      const names = new Set([...this.netnsNames, ...suiteNetnsNamesSync().filter((n) => tagOfNetns(n) === this.tag)]);
      for (const name of names) {
        try {
          execFileSync('ip', ['netns', 'delete', name], { stdio: 'ignore', timeout: 5000 });
        } catch {
          /* best effort */
        }
      }
      if (mountsUnder(readMountinfoSync(), this.dir).length === 0) rmSync(this.dir, { recursive: true, force: true });
    } catch {
      /* best effort: sweepLabs() finishes the job */
    }
  }
}

// ---- helpers shared with sweep ------------------------------------------------------------------

/** Commands that act on /run/netns itself (ip netns add/delete), run from the harness's namespace. */
function runOkRoot(argv: readonly string[]): Promise<ExecResult> {
  if (argv[0] !== 'ip' || argv[1] !== 'netns' || !['add', 'delete'].includes(argv[2] ?? '')) {
    throw new Error(`refusing ${formatArgv(argv)}: only "ip netns add|delete" run outside lab namespaces`);
  }
  return run(argv, { check: true });
}

/** Delete /run/netns/<name>; success if it is already gone. */
export async function deleteNetns(name: string): Promise<void> {
  if (!(await suiteNetnsNames()).includes(name)) return;
  try {
    await runOkRoot(['ip', 'netns', 'delete', name]);
  } catch (e) {
    if ((await suiteNetnsNames()).includes(name)) throw e;
  }
}

/** Lazily unmount every mount at or under dir, deepest first. Returns the mounts still there. */
export async function unmountUnder(dir: string): Promise<MountEntry[]> {
  for (const m of mountsUnder(await readMountinfo(), dir)) {
    await run(['umount', '--lazy', m.mountPoint]);
  }
  return mountsUnder(await readMountinfo(), dir);
}

/** rm -rf a lab temp dir, refusing while anything is mounted under it (rm would cross into it). */
export async function removeLabDir(dir: string): Promise<void> {
  const left = mountsUnder(await readMountinfo(), dir);
  if (left.length) throw new Error(`not removing ${dir}: still mounted under it: ${left.map((m) => m.mountPoint).join(', ')}`);
  await rm(dir, { recursive: true, force: true });
}

// ---- functional spelling ------------------------------------------------------------------------

/** Create a lab, run fn, close the lab whatever happens. */
export async function withLab<T>(fn: (lab: Lab) => Promise<T>, opts: LabOptions = {}): Promise<T> {
  const lab = await Lab.create(opts);
  let result: T;
  try {
    result = await fn(lab);
  } catch (e) {
    // Report a cleanup failure, but do not let it mask the test's own failure.
    await lab.close().catch((ce: unknown) => console.error(`withLab: ${ce instanceof Error ? ce.message : String(ce)}`));
    throw e;
  }
  await lab.close();
  return result;
}

export const createHost = (lab: Lab, name: string): Promise<Host> => lab.createHost(name);
export const createExternal = (lab: Lab, name: string): Promise<External> => lab.createExternal(name);
export const createSwitch = (lab: Lab, name: string): Promise<Switch> => lab.createSwitch(name);
