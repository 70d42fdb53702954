// A real etcd cluster inside a lab: one `etcd` member per lab host, each running in that host's
// network namespace and listening only on the host's underlay address (client :2379, peer :2380).
// Members are lab background processes (spawned through LabNode.spawn), so Lab.close() kills them
// by PID, and a crashed run's members carry the lab's marker and sit in its namespaces, which is
// what sweepLabs() looks for. Data and logs live in the lab's temp dir (<lab dir>/<host>/etcd*).
//
//   const cluster = await startEtcdCluster(lab, [a, b, c]);   // hosts already plugged into a switch
//   cluster.endpoints            // ['10.99.0.1:2379', …]
//   await cluster.stopMember(0); await cluster.startMember(0);
import { randomBytes } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ExecError } from './exec.js';
import type { BackgroundProcess, Host, Lab } from './lab.js';

export const ETCD_BIN = '/usr/bin/etcd';
export const ETCDCTL_BIN = '/usr/bin/etcdctl';
export const ETCD_CLIENT_PORT = 2379;
export const ETCD_PEER_PORT = 2380;

export interface EtcdClusterOptions {
  /** Address each member listens on, per host; default: the host's first IPv4 from plug(). */
  addresses?: readonly string[];
  /** How long to wait for the cluster (or a restarted member) to report healthy. Default 20 s. */
  readyTimeoutMs?: number;
  /** etcd --log-level. Default warn. */
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface EtcdMember {
  readonly name: string;
  readonly host: Host;
  readonly address: string;
  /** `address:2379`, the form ClusterStore.connect takes. */
  readonly endpoint: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The running process, undefined while stopped. */
  process: BackgroundProcess | undefined;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// etcd 3.4 refuses to start on architectures it does not officially support unless told the
// GOARCH name: amd64 needs nothing; arm64 etc. need ETCD_UNSUPPORTED_ARCH=<goarch>.
const GOARCH: Partial<Record<NodeJS.Architecture, string>> = {
  arm64: 'arm64',
  arm: 'arm',
  ppc64: 'ppc64le',
  s390x: 's390x',
  ia32: '386',
  riscv64: 'riscv64',
};

function archEnv(): Record<string, string> {
  if (process.arch === 'x64') return {};
  const goarch = GOARCH[process.arch];
  return goarch ? { ETCD_UNSUPPORTED_ARCH: goarch } : {};
}

const url = (address: string, port: number) => `http://${address.includes(':') ? `[${address}]` : address}:${port}`;

export class EtcdCluster {
  private constructor(
    readonly lab: Lab,
    readonly members: readonly EtcdMember[],
    /** Unique per cluster, so members never join another lab's cluster. */
    readonly token: string,
    private readonly readyTimeoutMs: number,
    private readonly logLevel: string,
  ) {}

  /** Start one member per host (in parallel, as a static cluster) and wait until all are healthy. */
  static async start(lab: Lab, hosts: readonly Host[], opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
    if (hosts.length === 0) throw new Error('startEtcdCluster: expected at least one host');
    if (opts.addresses && opts.addresses.length !== hosts.length) {
      throw new Error(`startEtcdCluster: ${opts.addresses.length} addresses for ${hosts.length} hosts; give one per host`);
    }
    const members = hosts.map((host, i): EtcdMember => {
      const address = opts.addresses?.[i] ?? host.ipv4();
      const name = `etcd-${host.name}`;
      return {
        name,
        host,
        address,
        endpoint: `${address.includes(':') ? `[${address}]` : address}:${ETCD_CLIENT_PORT}`,
        dataDir: join(lab.dir, host.name, 'etcd'),
        logFile: join(lab.dir, host.name, 'etcd.log'),
        process: undefined,
      };
    });
    const cluster = new EtcdCluster(
      lab,
      members,
      `berth-lab-${lab.tag}-${randomBytes(4).toString('hex')}`,
      opts.readyTimeoutMs ?? 20_000,
      opts.logLevel ?? 'warn',
    );
    await Promise.all(members.map((m) => cluster.spawnMember(m, 'new')));
    await cluster.waitHealthy(members);
    return cluster;
  }

  /** Client endpoints of every member, running or not: `H:2379`. */
  get endpoints(): string[] {
    return this.members.map((m) => m.endpoint);
  }

  /** Client endpoints of the members running now. */
  get runningEndpoints(): string[] {
    return this.members.filter((m) => m.process?.running).map((m) => m.endpoint);
  }

  private member(i: number): EtcdMember {
    const m = this.members[i];
    if (!m) throw new Error(`no etcd member ${i}: this cluster has members 0-${this.members.length - 1}`);
    return m;
  }

  private async spawnMember(m: EtcdMember, state: 'new' | 'existing'): Promise<void> {
    await mkdir(m.dataDir, { recursive: true, mode: 0o700 });
    const initialCluster = this.members.map((o) => `${o.name}=${url(o.address, ETCD_PEER_PORT)}`).join(',');
    const argv = [
      ETCD_BIN,
      '--name', m.name,
      '--data-dir', m.dataDir,
      '--listen-client-urls', url(m.address, ETCD_CLIENT_PORT),
      '--advertise-client-urls', url(m.address, ETCD_CLIENT_PORT),
      '--listen-peer-urls', url(m.address, ETCD_PEER_PORT),
      '--initial-advertise-peer-urls', url(m.address, ETCD_PEER_PORT),
      '--initial-cluster', initialCluster,
      '--initial-cluster-state', state,
      '--initial-cluster-token', this.token,
      // Quiet: warnings and errors go to a file in the lab dir, nothing to the test's output.
      '--logger', 'zap',
      '--log-outputs', m.logFile,
      '--log-level', this.logLevel,
    ];
    // Clear ETCD_* from the caller's environment: etcd reads them as flags and would refuse the
    // duplicates.
    const env: Record<string, string | undefined> = { ...archEnv() };
    for (const k of Object.keys(process.env)) if (k.startsWith('ETCD_') && !(k in env)) env[k] = undefined;
    m.process = await m.host.spawn(argv, { env });
  }

  /** Poll `etcdctl endpoint health` for the given members until all answer, or throw. */
  private async waitHealthy(members: readonly EtcdMember[]): Promise<void> {
    const deadline = Date.now() + this.readyTimeoutMs;
    const from = members[0];
    if (!from) return;
    let last = '';
    while (Date.now() < deadline) {
      for (const m of members) {
        if (m.process && !m.process.running) {
          const r = await m.process.exited;
          throw new Error(`etcd member ${m.name} exited (${r.code ?? r.signal}) while starting; see ${m.logFile}\n${r.stderr.slice(-2000)}`);
        }
      }
      const r = await from.host.exec(
        [ETCDCTL_BIN, '--endpoints', members.map((m) => m.endpoint).join(','), '--dial-timeout', '1s', '--command-timeout', '2s', 'endpoint', 'health'],
        { env: { ETCDCTL_API: '3' }, timeoutMs: 5000 },
      ).catch((e: unknown) => (e instanceof ExecError && e.result ? e.result : undefined));
      if (r?.code === 0) return;
      last = r ? `${r.stdout}${r.stderr}`.trim() : 'etcdctl timed out';
      await sleep(200);
    }
    throw new Error(`etcd members ${members.map((m) => m.name).join(', ')} not healthy after ${this.readyTimeoutMs} ms: ${last}`);
  }

  /** Index of the member that is the raft leader now (asked of the running members). */
  async leaderIndex(): Promise<number> {
    const running = this.members.filter((m) => m.process?.running);
    const from = running[0];
    if (!from) throw new Error('no etcd member is running');
    const r = await from.host.execOk(
      [ETCDCTL_BIN, '--endpoints', running.map((m) => m.endpoint).join(','), '--command-timeout', '2s', 'endpoint', 'status', '-w', 'json'],
      { env: { ETCDCTL_API: '3' }, timeoutMs: 5000 },
    );
    // Member ids are uint64: keep them as strings (JSON numbers would round them).
    const statuses = JSON.parse(r.stdout.replace(/:\s*(\d{10,})/g, ':"$1"')) as {
      Endpoint: string;
      Status: { header: { member_id: string }; leader: string };
    }[];
    const leader = statuses.find((s) => s.Status.leader === s.Status.header.member_id);
    const i = this.members.findIndex((m) => leader && leader.Endpoint.endsWith(m.endpoint));
    if (i < 0) throw new Error(`no leader among ${running.map((m) => m.endpoint).join(', ')}: ${r.stdout.trim()}`);
    return i;
  }

  /** Stop member i by its PID (SIGKILL by default: a crash) and wait until it has exited. */
  async stopMember(i: number, signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    const m = this.member(i);
    const p = m.process;
    if (!p) return;
    m.process = undefined;
    if (signal === 'SIGTERM') await p.kill();
    else {
      p.signal('SIGKILL');
      await p.exited;
    }
  }

  /** Stop every running member. */
  async stopAll(signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): Promise<void> {
    await Promise.all(this.members.map((_, i) => this.stopMember(i, signal)));
  }

  /**
   * Restart member i with its data dir (--initial-cluster-state existing) and wait until it is
   * healthy. With a majority of members stopped, start enough of them before expecting health:
   * pass wait: false for all but the last.
   */
  async startMember(i: number, opts: { wait?: boolean } = {}): Promise<void> {
    const m = this.member(i);
    if (m.process?.running) throw new Error(`etcd member ${m.name} is already running (pid ${m.process.pid})`);
    await this.spawnMember(m, 'existing');
    if (opts.wait ?? true) await this.waitHealthy([m]);
  }

  /** Stop every member. Lab.close() does this too; calling it earlier is fine. */
  async close(): Promise<void> {
    await Promise.all(
      this.members.map(async (m) => {
        await m.process?.kill();
      }),
    );
    for (const m of this.members) m.process = undefined;
  }
}

/** Start a static etcd cluster with one member per host (see EtcdCluster.start). */
export function startEtcdCluster(lab: Lab, hosts: readonly Host[], opts: EtcdClusterOptions = {}): Promise<EtcdCluster> {
  return EtcdCluster.start(lab, hosts, opts);
}
