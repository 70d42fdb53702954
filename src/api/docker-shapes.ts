// Docker's answer shapes that clients decode strictly: ContainerSummary (GET /containers/json,
// `docker ps`) and SystemInfo (GET /info, `docker info`). Formatting only.
import { cpus, hostname, release, totalmem, type } from 'node:os';
import { UserError } from '../common/errors.js';
import { VERSION } from '../common/version.js';
import type { Container } from '../engine/containers.js';
import type { Engine } from '../engine/context.js';
import type { NetworkFilters } from '../engine/network-filters.js';

/** Docker's units.HumanDuration, as `docker ps` shows ages. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.floor(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(m / 60);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

function statusText(c: Container, now: number): string {
  const since = (t: string | undefined) => now - Date.parse(t ?? c.created);
  if (c.state.status === 'running') return `Up ${humanDuration(since(c.state.startedAt))}`;
  if (c.state.status === 'exited') return `Exited (${c.state.exitCode ?? 0}) ${humanDuration(since(c.state.finishedAt))} ago`;
  return 'Created';
}

interface InspectShape {
  HostConfig: { NetworkMode: string };
  NetworkSettings: { Ports: Record<string, { HostIp: string; HostPort: string }[] | null>; Networks: Record<string, unknown> };
}

/** The container filters `docker ps` can send that berth answers truly. */
const CONTAINER_FILTERS = ['id', 'name', 'status'];

export function checkContainerFilters(f: NetworkFilters): void {
  for (const key of Object.keys(f)) {
    if (!CONTAINER_FILTERS.includes(key)) throw new UserError(`invalid filter '${key}': accepted are ${CONTAINER_FILTERS.join(', ')}`);
  }
}

const anyMatch = (patterns: readonly string[], source: string) =>
  patterns.some((p) => {
    try {
      return p === source || new RegExp(p).test(source);
    } catch {
      return false;
    }
  });

export function containerMatches(c: Container, f: NetworkFilters): boolean {
  if (f.id && !anyMatch(f.id, c.id)) return false;
  if (f.name && !anyMatch(f.name, `/${c.name}`)) return false;
  if (f.status && !f.status.includes(c.state.status)) return false;
  return true;
}

/** Docker's ContainerSummary, built from berth's Docker-shaped inspect of the same container. */
export function containerSummary(c: Container, inspected: Record<string, unknown>, now = Date.now()): Record<string, unknown> {
  const i = inspected as unknown as InspectShape;
  const ports = Object.entries(i.NetworkSettings.Ports).flatMap(([key, bindings]) => {
    const [port, proto] = key.split('/');
    const base = { PrivatePort: Number(port), Type: proto ?? 'tcp' };
    return bindings?.length ? bindings.map((b) => ({ IP: b.HostIp, ...base, PublicPort: Number(b.HostPort) })) : [base];
  });
  return {
    Id: c.id,
    Names: [`/${c.name}`],
    Image: '',
    ImageID: '',
    Command: c.config.cmd.join(' '),
    Created: Math.floor(Date.parse(c.created) / 1000),
    Ports: ports,
    Labels: {},
    State: c.state.status,
    Status: statusText(c, now),
    HostConfig: { NetworkMode: i.HostConfig.NetworkMode },
    NetworkSettings: { Networks: i.NetworkSettings.Networks },
    Mounts: [],
  };
}

/** Docker's SystemInfo with berth's truths: no images, no storage driver, no swarm. */
export function systemInfo(engine: Engine, containers: Container[], apiVersion: string): Record<string, unknown> {
  const count = (s: string) => containers.filter((c) => c.state.status === s).length;
  return {
    ID: '',
    Containers: containers.length,
    ContainersRunning: count('running'),
    ContainersPaused: 0,
    ContainersStopped: containers.length - count('running'),
    Images: 0,
    Driver: '',
    DriverStatus: [],
    Plugins: { Volume: [], Network: ['bridge', 'host', 'macvlan', 'null', 'overlay'], Authorization: null, Log: [] },
    MemoryLimit: false,
    SwapLimit: false,
    CpuCfsPeriod: false,
    CpuCfsQuota: false,
    CPUShares: false,
    CPUSet: false,
    PidsLimit: false,
    OomKillDisable: false,
    IPv4Forwarding: true,
    BridgeNfIptables: true,
    BridgeNfIp6tables: true,
    Debug: false,
    NFd: 0,
    NGoroutines: 0,
    SystemTime: new Date().toISOString(),
    LoggingDriver: '',
    CgroupDriver: '',
    CgroupVersion: '2',
    NEventsListener: 0,
    KernelVersion: release(),
    OperatingSystem: `berth ${VERSION} on ${type()}`,
    OSVersion: '',
    OSType: 'linux',
    Architecture: process.arch === 'x64' ? 'x86_64' : process.arch,
    IndexServerAddress: '',
    RegistryConfig: { AllowNondistributableArtifactsCIDRs: [], AllowNondistributableArtifactsHostnames: [], InsecureRegistryCIDRs: [], IndexConfigs: {}, Mirrors: [] },
    NCPU: cpus().length,
    MemTotal: totalmem(),
    GenericResources: null,
    DockerRootDir: engine.paths.root,
    HttpProxy: '',
    HttpsProxy: '',
    NoProxy: '',
    Name: hostname(),
    Labels: [],
    ExperimentalBuild: false,
    ServerVersion: VERSION,
    Runtimes: {},
    DefaultRuntime: '',
    Swarm: { NodeID: '', NodeAddr: '', LocalNodeState: 'inactive', ControlAvailable: false, Error: '', RemoteManagers: null },
    LiveRestoreEnabled: false,
    Isolation: '',
    InitBinary: '',
    ContainerdCommit: { ID: '', Expected: '' },
    RuncCommit: { ID: '', Expected: '' },
    InitCommit: { ID: '', Expected: '' },
    SecurityOptions: [],
    Warnings: [`berth ${VERSION}: Docker Engine API ${apiVersion} subset for networks and host-program containers; no images, volumes or swarm`],
  };
}
