// Docker's `-p` / `--expose` / `-P` syntax as typed values. Parsing follows go-connections'
// nat.ParsePortSpec (what `docker run -p` uses), but rejects what Docker lets through by accident
// (container port 0, `80-90-100`, unknown --expose protocols) and names the bad value in errors.
import { UserError } from '../common/errors.js';
import { parseAddress } from '../ipam/index.js';

export type Proto = 'tcp' | 'udp' | 'sctp';

/** Inclusive [first, last] port range; a single port is [p, p]. */
export type PortRange = [number, number];

/** One `-p` value. */
export interface PortSpec {
  /** Canonical address text; undefined = every address (Docker's empty HostIp). */
  hostIp: string | undefined;
  /** undefined = a random host port per container port. */
  hostPortRange: PortRange | undefined;
  containerPortRange: PortRange;
  proto: Proto;
}

/** One container port from `--expose` (or an image's EXPOSE). */
export interface ExposedPort {
  port: number;
  proto: Proto;
}

/** One container port bound to a host port, before host ports are picked. */
export interface PortBinding {
  hostIp: string | undefined;
  /** undefined = pick one (within hostPortRange when set, else the ephemeral range). */
  hostPort: number | undefined;
  /** `-p 8000-8010:80`: pick one free port from this range. */
  hostPortRange?: PortRange;
  containerPort: number;
  proto: Proto;
}

export const PUBLISH_FORMS = '[IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/tcp|udp|sctp]';
export const EXPOSE_FORMS = 'PORT[-END][/tcp|udp|sctp]';
const PORT_FORMS = 'a port from 1 to 65535';

const quote = (text: string): string => JSON.stringify(text);
const inWhole = (part: string, whole: string): string => (part === whole ? '' : ` in ${quote(whole)}`);

export function rangeLength([first, last]: PortRange): number {
  return last - first + 1;
}

/** `80` or `8000-8010`. */
export function formatPortRange([first, last]: PortRange): string {
  return first === last ? `${first}` : `${first}-${last}`;
}

/** Docker lowercases the protocol and defaults an empty one (`80/`) to tcp. */
function parseProto(text: string, whole: string): Proto {
  const proto = text === '' ? 'tcp' : text.toLowerCase();
  if (proto === 'tcp' || proto === 'udp' || proto === 'sctp') return proto;
  throw new UserError(`invalid proto ${quote(text)} in ${quote(whole)}: expected tcp, udp or sctp`);
}

function parsePort(text: string, whole: string): number {
  // Base-10 digits only; leading zeros are fine, as in Docker ("0080" is 80).
  const port = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!(port >= 1 && port <= 65535)) {
    throw new UserError(`invalid port ${quote(text)}${inWhole(text, whole)}: expected ${PORT_FORMS}`);
  }
  return port;
}

function parsePortRange(text: string, whole: string): PortRange {
  if (!text.includes('-')) {
    const port = parsePort(text, whole);
    return [port, port];
  }
  const ends = /^([0-9]+)-([0-9]+)$/.exec(text);
  if (!ends) {
    throw new UserError(`invalid port range ${quote(text)}${inWhole(text, whole)}: expected START-END, each ${PORT_FORMS}`);
  }
  const range: PortRange = [parsePort(ends[1] ?? '', whole), parsePort(ends[2] ?? '', whole)];
  if (range[1] < range[0]) {
    throw new UserError(
      `invalid port range ${quote(text)}${inWhole(text, whole)}: it ends before it starts; expected START-END with START <= END`,
    );
  }
  return range;
}

function parseHostIp(text: string, whole: string): string {
  try {
    return parseAddress(text, 'host IP').text;
  } catch (cause) {
    throw new UserError(
      `invalid publish spec ${quote(whole)}: host IP ${quote(text)} is not an IPv4 or IPv6 address; ` +
        `expected ${PUBLISH_FORMS} (IPv6 in brackets, like [::1]:8080:80)`,
      { cause },
    );
  }
}

/** Split `[IP:][HOST:]CONTAINER`, parsing the IP; absent parts are undefined or ''. */
function splitPublishSpec(text: string): { hostIp: string | undefined; hostPart: string; containerPart: string } {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    const rest = close < 0 ? [] : text.slice(close + 1).split(':');
    if (rest.length !== 3 || rest[0] !== '') {
      throw new UserError(
        `invalid publish spec ${quote(text)}: a bracketed IP must be followed by :HOST_PORT:CONTAINER_PORT ` +
          `(like [::1]:8080:80, or [::1]::80 for a random host port); expected ${PUBLISH_FORMS}`,
      );
    }
    return { hostIp: parseHostIp(text.slice(1, close), text), hostPart: rest[1] ?? '', containerPart: rest[2] ?? '' };
  }
  // As Docker: the last ':' part is the container port, the one before it the host port, and
  // everything earlier the IP, so even unbracketed IPv6 (`::1:8080:80`) parses.
  const parts = text.split(':');
  const containerPart = parts.pop() ?? '';
  const hostPart = parts.pop() ?? '';
  const ipPart = parts.join(':');
  return { hostIp: ipPart === '' ? undefined : parseHostIp(ipPart, text), hostPart, containerPart };
}

/** Parse one `-p` value. */
export function parsePublishSpec(text: string): PortSpec {
  const { hostIp, hostPart, containerPart } = splitPublishSpec(text);
  const slash = containerPart.indexOf('/');
  const containerText = slash < 0 ? containerPart : containerPart.slice(0, slash);
  const proto = parseProto(slash < 0 ? '' : containerPart.slice(slash + 1), text);
  if (containerText === '') {
    throw new UserError(`invalid publish spec ${quote(text)}: no container port; expected ${PUBLISH_FORMS}`);
  }
  const containerPortRange = parsePortRange(containerText, text);
  // An empty host port, or 0, asks for a random one (`IP::80`, `0:80`).
  const hostPortRange = /^0*$/.test(hostPart) ? undefined : parsePortRange(hostPart, text);

  // For one container port a longer host range is a pool to pick from; otherwise lengths must match.
  if (hostPortRange && rangeLength(containerPortRange) > 1 && rangeLength(hostPortRange) !== rangeLength(containerPortRange)) {
    throw new UserError(
      `invalid publish spec ${quote(text)}: host ports ${formatPortRange(hostPortRange)} (${rangeLength(hostPortRange)}) and ` +
        `container ports ${formatPortRange(containerPortRange)} (${rangeLength(containerPortRange)}) differ in length; ` +
        `expected ranges of equal length, or one container port to take any free host port of the range`,
    );
  }
  return { hostIp, hostPortRange, containerPortRange, proto };
}

/** The canonical `-p` text of a spec; parsePublishSpec(formatPortSpec(s)) deep-equals s. */
export function formatPortSpec(spec: PortSpec): string {
  const ip = spec.hostIp === undefined ? '' : spec.hostIp.includes(':') ? `[${spec.hostIp}]` : spec.hostIp;
  const host = spec.hostPortRange ? formatPortRange(spec.hostPortRange) : '';
  const prefix = ip !== '' ? `${ip}:${host}:` : host !== '' ? `${host}:` : '';
  return `${prefix}${formatPortRange(spec.containerPortRange)}/${spec.proto}`;
}

/** Parse one `--expose` value into the container ports it names. */
export function parseExposeSpec(text: string): ExposedPort[] {
  if (text.includes(':')) {
    throw new UserError(
      `invalid expose spec ${quote(text)}: expected ${EXPOSE_FORMS}; --expose takes container ports only, use -p to publish on the host`,
    );
  }
  const slash = text.indexOf('/');
  const portText = slash < 0 ? text : text.slice(0, slash);
  if (portText === '') throw new UserError(`invalid expose spec ${quote(text)}: no port; expected ${EXPOSE_FORMS}`);
  const proto = parseProto(slash < 0 ? '' : text.slice(slash + 1), text);
  const [first, last] = parsePortRange(portText, text);
  return Array.from({ length: last - first + 1 }, (_, i) => ({ port: first + i, proto }));
}

function bindingKey(b: PortBinding): string {
  return JSON.stringify([b.hostIp ?? null, b.hostPort ?? null, b.hostPortRange ?? null, b.containerPort, b.proto]);
}

/**
 * One binding per container port of every spec, in order, identical ones dropped (the same
 * container port on several host ports stays). With publishAll (`-P`), every exposed port that no
 * spec binds gets a random host port, as Docker does.
 */
export function expandPortSpecs(specs: PortSpec[], exposed: ExposedPort[], publishAll: boolean): PortBinding[] {
  const bindings: PortBinding[] = [];
  const seen = new Set<string>();
  const add = (binding: PortBinding): void => {
    const key = bindingKey(binding);
    if (seen.has(key)) return;
    seen.add(key);
    bindings.push(binding);
  };

  for (const spec of specs) {
    const { hostIp, hostPortRange, containerPortRange, proto } = spec;
    const pickFromRange = hostPortRange !== undefined && rangeLength(hostPortRange) !== rangeLength(containerPortRange);
    for (let i = 0; i < rangeLength(containerPortRange); i++) {
      const containerPort = containerPortRange[0] + i;
      if (pickFromRange) add({ hostIp, hostPort: undefined, hostPortRange: [...hostPortRange], containerPort, proto });
      else add({ hostIp, hostPort: hostPortRange ? hostPortRange[0] + i : undefined, containerPort, proto });
    }
  }

  if (publishAll) {
    const bound = new Set(bindings.map((b) => `${b.containerPort}/${b.proto}`));
    for (const { port, proto } of exposed) {
      if (!bound.has(`${port}/${proto}`)) add({ hostIp: undefined, hostPort: undefined, containerPort: port, proto });
    }
  }
  return bindings;
}
