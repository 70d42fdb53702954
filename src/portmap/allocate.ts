// Picking host ports for bindings, and showing published ports the way `docker port` and
// `docker inspect` do. No I/O: whoever calls says which ports are taken.
import { ConflictError, UserError } from '../common/errors.js';
import { formatPortRange, type ExposedPort, type PortBinding, type Proto } from './spec.js';

/** Linux's default ip_local_port_range, which Docker draws random host ports from. */
export const EPHEMERAL_PORT_RANGE: readonly [number, number] = [32768, 60999];

/** Whether `port` is already in use for this protocol on this host address (undefined = all). */
export type PortTaken = (proto: Proto, hostIp: string | undefined, port: number) => boolean;

/** A binding whose host port is known, on a concrete host address (`0.0.0.0`, `::`, `10.0.0.1`…). */
export interface PublishedPort {
  hostIp: string;
  hostPort: number;
  containerPort: number;
  proto: Proto;
}

/** `10.0.0.1:8080`, `[::]:8080` (Go's net.JoinHostPort). */
export function formatHostAddress(hostIp: string, port: number): string {
  return hostIp.includes(':') ? `[${hostIp}]:${port}` : `${hostIp}:${port}`;
}

function bindingTarget(binding: PortBinding): string {
  return `${binding.containerPort}/${binding.proto} on ${binding.hostIp ?? 'all host addresses'}`;
}

/**
 * The host port for a binding. A fixed port is returned if free. An explicit range is filled from
 * its start, as Docker does; the ephemeral range is scanned from a random offset, wrapping, so
 * concurrent runs seldom race for the same port. `random` is injectable for tests.
 */
export function pickHostPort(
  binding: PortBinding,
  isTaken: PortTaken,
  range: readonly [number, number] = EPHEMERAL_PORT_RANGE,
  random: () => number = Math.random,
): number {
  const { hostIp, hostPort, proto } = binding;
  if (hostPort !== undefined) {
    if (!isTaken(proto, hostIp, hostPort)) return hostPort;
    throw new ConflictError(
      `cannot publish ${bindingTarget(binding)}: host port ${hostPort}/${proto} is already allocated; choose another host port or omit it for a random one`,
    );
  }

  const [first, last] = binding.hostPortRange ?? range;
  if (!(Number.isInteger(first) && Number.isInteger(last) && 1 <= first && first <= last && last <= 65535)) {
    throw new UserError(`invalid host port range ${first}-${last}: expected START-END with 1 <= START <= END <= 65535`);
  }
  const size = last - first + 1;
  const offset = binding.hostPortRange ? 0 : Math.floor(random() * size) % size;
  for (let i = 0; i < size; i++) {
    const port = first + ((offset + i) % size);
    if (!isTaken(proto, hostIp, port)) return port;
  }
  throw new ConflictError(
    `cannot publish ${bindingTarget(binding)}: every host port in ${formatPortRange([first, last])} is taken; ` +
      `free one, or publish on another host port range or address`,
  );
}

/** One `docker port` line: `80/tcp -> 0.0.0.0:8080`, `80/tcp -> [::]:8080`. */
export function formatBinding(published: PublishedPort): string {
  return `${published.containerPort}/${published.proto} -> ${formatHostAddress(published.hostIp, published.hostPort)}`;
}

/** Compare digit runs by value and the rest by code unit, like the sortorder.NaturalLess docker/cli uses. */
function naturalCompare(a: string, b: string): number {
  const as = a.match(/[0-9]+|[^0-9]+/g) ?? [];
  const bs = b.match(/[0-9]+|[^0-9]+/g) ?? [];
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const x = as[i] ?? '';
    const y = bs[i] ?? '';
    if (x === y) continue;
    const bothNumbers = /^[0-9]/.test(x) && /^[0-9]/.test(y);
    if (bothNumbers && Number(x) !== Number(y)) return Number(x) - Number(y);
    return x < y ? -1 : 1;
  }
  return as.length - bs.length;
}

/** All `docker port CTR` lines, in docker's (natural) order. */
export function formatBindings(published: PublishedPort[]): string[] {
  return published.map(formatBinding).sort(naturalCompare);
}

export interface InspectPortBinding {
  HostIp: string;
  HostPort: string;
}

/** `NetworkSettings.Ports`: exposed-but-unpublished ports map to null. */
export type InspectPortMap = Record<string, InspectPortBinding[] | null>;

export function inspectPortMap(published: PublishedPort[], exposed: ExposedPort[]): InspectPortMap {
  const ports = new Map<string, InspectPortBinding[] | null>();
  for (const { port, proto } of exposed) if (!ports.has(`${port}/${proto}`)) ports.set(`${port}/${proto}`, null);
  for (const p of published) {
    const key = `${p.containerPort}/${p.proto}`;
    const list = ports.get(key) ?? [];
    list.push({ HostIp: p.hostIp, HostPort: `${p.hostPort}` });
    ports.set(key, list);
  }
  // Go's encoding/json writes map keys sorted, so Docker prints "443/tcp" before "80/tcp".
  return Object.fromEntries([...ports].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}
