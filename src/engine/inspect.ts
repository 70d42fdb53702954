// `berth inspect` in Docker's JSON shape (the fields that matter for networking).
import { inspectPortMap, type PublishedPort } from '../portmap/index.js';
import type { PortRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { liveStatus, type Container } from './container-types.js';

const toPublished = (p: PortRecord): PublishedPort => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.targetPort, proto: p.proto });

export function inspectContainer(engine: Engine, c: Container): Record<string, unknown> {
  const store = engine.store;
  const status = liveStatus(c);
  const endpoints = store.listEndpoints({ containerId: c.id });
  const ports = store.listPorts({ containerId: c.id });
  const networks: Record<string, unknown> = {};
  for (const ep of endpoints) {
    const net = store.findNetwork(ep.networkId);
    const subnet = net?.subnets.find((s) => !s.subnet.includes(':'));
    const v4 = ep.addresses.find((a) => !a.includes(':'));
    const v6 = ep.addresses.find((a) => a.includes(':'));
    networks[net?.name ?? ep.networkId] = {
      Aliases: ep.aliases.length ? ep.aliases : null,
      NetworkID: ep.networkId,
      EndpointID: ep.id,
      Gateway: subnet?.gateway ?? '',
      IPAddress: v4?.split('/')[0] ?? '',
      IPPrefixLen: Number(v4?.split('/')[1] ?? 0),
      IPv6Gateway: '',
      GlobalIPv6Address: v6?.split('/')[0] ?? '',
      GlobalIPv6PrefixLen: Number(v6?.split('/')[1] ?? 0),
      MacAddress: ep.mac ?? '',
      DNSNames: null,
    };
  }
  const first = Object.values(networks)[0] as Record<string, unknown> | undefined;
  const running = status === 'running';
  return {
    Id: c.id,
    Created: c.created,
    Path: c.config.cmd[0],
    Args: c.config.cmd.slice(1),
    State: {
      Status: status,
      Running: running,
      Paused: false,
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: running ? (c.state.childPid ?? 0) : 0,
      ExitCode: c.state.exitCode ?? 0,
      Error: c.state.networkNote ?? '',
      StartedAt: c.state.startedAt ?? '0001-01-01T00:00:00Z',
      FinishedAt: c.state.finishedAt ?? '0001-01-01T00:00:00Z',
    },
    Name: `/${c.name}`,
    HostConfig: {
      NetworkMode: c.config.networkMode,
      AutoRemove: c.config.rm,
      PortBindings: Object.fromEntries(
        c.config.publish.map((b) => [`${b.containerPort}/${b.proto}`, [{ HostIp: b.hostIp ?? '', HostPort: b.hostPort ? `${b.hostPort}` : '' }]]),
      ),
      Dns: c.config.dns,
    },
    Config: {
      Hostname: c.config.hostname,
      Cmd: c.config.cmd,
      ExposedPorts: Object.fromEntries(
        [...c.config.exposed.map((e) => `${e.port}/${e.proto}`), ...c.config.publish.map((b) => `${b.containerPort}/${b.proto}`)].map((k) => [k, {}]),
      ),
      ...(c.config.rootfs ? { Rootfs: c.config.rootfs } : {}),
    },
    NetworkSettings: {
      SandboxID: c.state.netns ? c.id : '',
      SandboxKey: running ? (c.state.netns ?? '') : '',
      Ports: inspectPortMap(ports.map(toPublished), c.config.exposed),
      Gateway: first?.Gateway ?? '',
      IPAddress: first?.IPAddress ?? '',
      IPPrefixLen: first?.IPPrefixLen ?? 0,
      MacAddress: first?.MacAddress ?? '',
      Networks: networks,
    },
  };
}
