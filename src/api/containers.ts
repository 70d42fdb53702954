// Docker's container-create body (the networking parts) into a RunSpec. Every container the
// API starts is detached: there is no attached stdio over this API. The body is decoded against
// its schema first; what berth cannot honour (an image, environment, mounts…) is refused
// before anything runs, never silently ignored.
import { isIP } from 'node:net';
import { UserError } from '../common/errors.js';
import { checkUnicastMac } from '../common/mac.js';
import type { RunSpec } from '../engine/containers.js';
import { parseNetworkMode } from '../engine/network-mode.js';
import { expandPortSpecs, parseExposeSpec, parsePublishSpec, type PortSpec } from '../portmap/index.js';
import { ContainerCreateBody, decodeBody, isDefault, refuseUnsupported } from './schemas.js';

const list = (x: string | string[] | null | undefined): string[] => (x === null || x === undefined ? [] : typeof x === 'string' ? [x] : x);

export function runSpecFromRequest(body: unknown, name: string | undefined): RunSpec {
  const b = decodeBody(ContainerCreateBody, body, 'container create');
  const host = b.HostConfig ?? {};
  if (b.Image) {
    throw new UserError(`container create: Image ${JSON.stringify(b.Image)} cannot be honoured: berth has no images and runs host programs; leave Image unset and give Cmd (a program on this host)`);
  }
  const restart = host.RestartPolicy?.Name;
  refuseUnsupported('container create', {
    Domainname: b.Domainname,
    User: b.User,
    Env: b.Env,
    WorkingDir: b.WorkingDir,
    Tty: b.Tty,
    OpenStdin: b.OpenStdin,
    Labels: b.Labels,
    Volumes: b.Volumes,
    'HostConfig.DnsOptions': host.DnsOptions,
    'HostConfig.DnsSearch': host.DnsSearch,
    'HostConfig.ExtraHosts': host.ExtraHosts,
    'HostConfig.Binds': host.Binds,
    'HostConfig.Links': host.Links,
    'HostConfig.Privileged': host.Privileged,
    'HostConfig.PidMode': host.PidMode,
    'HostConfig.IpcMode': host.IpcMode,
    'HostConfig.UTSMode': host.UTSMode,
    'HostConfig.CapAdd': host.CapAdd,
    'HostConfig.RestartPolicy.Name': restart === 'no' ? undefined : restart,
  });
  // Docker runs Entrypoint followed by Cmd
  const cmd = [...list(b.Entrypoint), ...list(b.Cmd)];
  if (!cmd.length) throw new UserError('Cmd is required: the program to run and its arguments');
  for (const [i, d] of (host.Dns ?? []).entries()) {
    if (!isIP(d)) throw new UserError(`invalid container create body: HostConfig.Dns[${i}] is ${JSON.stringify(d)}; expected an IP address`);
  }
  // Docker's empty NetworkMode is the default network
  const mode = parseNetworkMode(host.NetworkMode || 'default');
  // PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
  const specs: PortSpec[] = Object.entries(host.PortBindings ?? {}).flatMap(([port, bindings]) =>
    (bindings ?? [{}]).map((bnd) => {
      const HostIp = bnd.HostIp ?? '';
      const hp = bnd.HostPort ?? '';
      const ip = HostIp ? (HostIp.includes(':') ? `[${HostIp}]:` : `${HostIp}:`) : '';
      return parsePublishSpec(ip || hp ? `${ip}${hp}:${port}` : port);
    }),
  );
  const exposed = Object.keys(b.ExposedPorts ?? {}).flatMap(parseExposeSpec);
  const endpoints = b.NetworkingConfig?.EndpointsConfig ?? {};
  const key = mode.kind === 'network' ? mode.ref : mode.kind === 'container' ? undefined : mode.kind;
  // one network at create, as berth runs it: settings for any other would be silently dropped
  const others = Object.entries(endpoints).filter(([k, v]) => k !== key && !(mode.kind === 'bridge' && k === 'default') && !isDefault(v));
  if (others.length) {
    throw new UserError(`container create: NetworkingConfig.EndpointsConfig has settings for ${others.map(([k]) => JSON.stringify(k)).join(', ')}, but the container joins ${JSON.stringify(host.NetworkMode || 'bridge')} (HostConfig.NetworkMode); connect it to other networks afterwards with POST /networks/{id}/connect`);
  }
  const endpoint = (key !== undefined ? endpoints[key] : undefined) ?? (mode.kind === 'bridge' ? endpoints.default : undefined) ?? {};
  const ipam = endpoint.IPAMConfig ?? {};
  refuseUnsupported('container create', {
    'EndpointConfig.Links': endpoint.Links,
    'EndpointConfig.DriverOpts': endpoint.DriverOpts,
    'EndpointConfig.IPAMConfig.LinkLocalIPs': ipam.LinkLocalIPs,
  });
  // MacAddress moved into the endpoint settings in API 1.44; checked here, named as the body names it
  const mac = b.MacAddress ? checkUnicastMac(b.MacAddress, 'MacAddress') : endpoint.MacAddress ? checkUnicastMac(endpoint.MacAddress, 'EndpointConfig.MacAddress') : undefined;
  return {
    ...(name ? { name } : {}),
    cmd,
    detach: true,
    rm: host.AutoRemove === true,
    network: mode,
    ...(b.Hostname ? { hostname: b.Hostname } : {}),
    publish: expandPortSpecs(specs, exposed, host.PublishAllPorts === true),
    exposed,
    dns: host.Dns ?? [],
    ...(mac ? { mac } : {}),
    ...(ipam.IPv4Address ? { ip: ipam.IPv4Address } : {}),
    ...(ipam.IPv6Address ? { ip6: ipam.IPv6Address } : {}),
    aliases: endpoint.Aliases ?? [],
    ...(typeof endpoint.GwPriority === 'number' ? { gwPriority: endpoint.GwPriority } : {}),
  };
}
