// Docker's container-create body (the networking parts) into a RunSpec. Every container the
// API starts is detached: there is no attached stdio over this API.
import { UserError } from '../common/errors.js';
import type { NetworkMode, RunSpec } from '../engine/containers.js';
import { expandPortSpecs, parseExposeSpec, parsePublishSpec, type PortSpec } from '../portmap/index.js';

const obj = (x: unknown): Record<string, unknown> => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : {});
const strings = (x: unknown): string[] => (Array.isArray(x) ? x.filter((s): s is string => typeof s === 'string') : []);

function networkMode(value: string): NetworkMode {
  if (value === '' || value === 'default' || value === 'bridge') return { kind: 'bridge' };
  if (value === 'host' || value === 'none') return { kind: value };
  if (value.startsWith('container:')) return { kind: 'container', ref: value.slice('container:'.length) };
  return { kind: 'network', ref: value };
}

export function runSpecFromRequest(body: unknown, name: string | undefined): RunSpec {
  const b = obj(body);
  const cmd = strings(b.Cmd);
  if (!cmd.length) throw new UserError('Cmd is required: the program to run and its arguments');
  const host = obj(b.HostConfig);
  const mode = networkMode(typeof host.NetworkMode === 'string' ? host.NetworkMode : '');
  // PortBindings: {"80/tcp": [{"HostIp": "", "HostPort": "8080"}]}
  const specs: PortSpec[] = Object.entries(obj(host.PortBindings)).flatMap(([port, bindings]) =>
    (Array.isArray(bindings) ? bindings : [{}]).map((bnd) => {
      const { HostIp, HostPort } = obj(bnd);
      const ip = typeof HostIp === 'string' && HostIp ? (HostIp.includes(':') ? `[${HostIp}]:` : `${HostIp}:`) : '';
      const hp = typeof HostPort === 'string' ? HostPort : '';
      return parsePublishSpec(ip || hp ? `${ip}${hp}:${port}` : port);
    }),
  );
  const exposed = Object.keys(obj(b.ExposedPorts)).flatMap(parseExposeSpec);
  const endpoint = obj(obj(obj(b.NetworkingConfig).EndpointsConfig)[mode.kind === 'network' ? mode.ref : 'bridge']);
  const ipam = obj(endpoint.IPAMConfig);
  return {
    ...(name ? { name } : {}),
    cmd,
    detach: true,
    rm: host.AutoRemove === true,
    network: mode,
    ...(typeof b.Hostname === 'string' && b.Hostname ? { hostname: b.Hostname } : {}),
    publish: expandPortSpecs(specs, exposed, host.PublishAllPorts === true),
    exposed,
    dns: strings(host.Dns),
    ...(typeof b.MacAddress === 'string' && b.MacAddress ? { mac: b.MacAddress.toLowerCase() } : {}),
    ...(typeof ipam.IPv4Address === 'string' && ipam.IPv4Address ? { ip: ipam.IPv4Address } : {}),
    ...(typeof ipam.IPv6Address === 'string' && ipam.IPv6Address ? { ip6: ipam.IPv6Address } : {}),
    aliases: strings(endpoint.Aliases),
    ...(typeof endpoint.GwPriority === 'number' ? { gwPriority: endpoint.GwPriority } : {}),
  };
}
