// Checking what goes into the store, so every Store implementation rejects the same values with
// the same messages before touching any state.
import { UserError } from '../common/errors.js';
import { checkNetworkName } from '../common/network-name.js';
import { parseAddress, parseCidr, toSubnetConfig, validateSubnetConfigs } from '../ipam/index.js';
import {
  newId,
  type ContainerRecord,
  type EndpointRecord,
  type NetworkRecord,
  type NetworkScope,
  type NewContainer,
  type NewEndpoint,
  type NewNetwork,
  type PortProto,
  type PortRecord,
} from './store.js';

const HEX_ID = /^[0-9a-f]{64}$/;
// Docker's container name rule: at least two characters.
const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{1,127}$/;
// CNI runtimes pass their own container ids: letters, digits, '_', '.', '-'.
const RUNTIME_CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/;
const DRIVER = /^[a-z][a-z0-9_-]{0,31}$/;
// Linux accepts up to IFNAMSIZ-1 = 15 bytes, no '/', ':' or whitespace.
const INTERFACE_NAME = /^(?!\.{1,2}$)[A-Za-z0-9_.-]{1,15}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const ALIAS = /^[A-Za-z0-9_.-]{1,255}$/;
const OWNER = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$/;
const SCOPES: readonly NetworkScope[] = ['local', 'swarm', 'global'];
const PROTOS: readonly PortProto[] = ['tcp', 'udp', 'sctp'];

function check(ok: boolean, what: string, value: unknown, accepted: string): void {
  if (!ok) throw new UserError(`invalid ${what} ${JSON.stringify(value)}: ${accepted}`);
}

export function checkId(id: string, what: string): string {
  check(HEX_ID.test(id), what, id, 'expected 64 lowercase hex digits');
  return id;
}

export function checkOwner(owner: string): string {
  check(OWNER.test(owner), 'address owner', owner, "expected an endpoint id, 'gateway' or 'aux:NAME'");
  return owner;
}

export function checkInterfaceName(name: string, what = 'interface name'): string {
  check(INTERFACE_NAME.test(name), what, name, "use 1-15 letters, digits, '_', '.', '-'");
  return name;
}

function checkCreated(created: string | undefined): string {
  if (created === undefined) return new Date().toISOString();
  check(!Number.isNaN(Date.parse(created)), 'creation time', created, 'expected an ISO 8601 time');
  return created;
}

function checkStringMap(map: Record<string, string>, what: string): Record<string, string> {
  for (const [key, value] of Object.entries(map)) {
    check(key !== '' && typeof value === 'string', what, key, 'expected KEY=VALUE with a non-empty key');
  }
  return { ...map };
}

function checkPort(port: number, what: string): number {
  check(Number.isInteger(port) && port >= 1 && port <= 65535, what, port, 'expected a port number from 1 to 65535');
  return port;
}

/** Validate and normalise a new network; subnets come back canonical, IPv4 first, gateways filled in. */
export function checkNewNetwork(network: NewNetwork): NetworkRecord {
  checkNetworkName(network.name);
  check(DRIVER.test(network.driver), 'network driver', network.driver, 'expected a driver name like bridge, overlay, macvlan');
  check(SCOPES.includes(network.scope), 'network scope', network.scope, `expected one of ${SCOPES.join(', ')}`);
  const subnets = validateSubnetConfigs(network.subnets)
    .sort((a, b) => a.cidr.family - b.cidr.family)
    .map(toSubnetConfig);
  return {
    id: checkId(network.id ?? newId(), 'network id'),
    name: network.name,
    driver: network.driver,
    scope: network.scope,
    created: checkCreated(network.created),
    options: checkStringMap(network.options, 'network option'),
    labels: checkStringMap(network.labels, 'network label'),
    internal: network.internal,
    attachable: network.attachable,
    ipv6: network.ipv6,
    interfaceName: network.interfaceName === null ? null : checkInterfaceName(network.interfaceName),
    subnets,
  };
}

export function checkNewContainer(container: NewContainer): ContainerRecord {
  check(CONTAINER_NAME.test(container.name), 'container name', container.name,
    "use 2-128 letters, digits, '_', '.', '-', starting with a letter or digit");
  return {
    id: checkId(container.id ?? newId(), 'container id'),
    name: container.name,
    created: checkCreated(container.created),
    config: container.config ?? null,
    state: container.state ?? null,
  };
}

/** `address/prefix` in canonical form; the address may have host bits (it is an interface address). */
function checkInterfaceAddress(text: string): string {
  const slash = text.indexOf('/');
  check(slash > 0, 'endpoint address', text, 'expected ADDRESS/PREFIX like 172.18.0.2/16 or fd00::2/64');
  const { prefix } = parseCidr(text, 'endpoint address', 'mask');
  return `${parseAddress(text.slice(0, slash), 'endpoint address').text}/${prefix}`;
}

export function checkNewEndpoint(endpoint: NewEndpoint): EndpointRecord {
  check(RUNTIME_CONTAINER_ID.test(endpoint.containerId), 'container id', endpoint.containerId,
    "expected letters, digits, '_', '.', '-'");
  const mac = endpoint.mac === null ? null : endpoint.mac.toLowerCase();
  if (mac !== null) check(MAC.test(mac), 'MAC address', endpoint.mac, 'expected six hex pairs like 02:42:ac:11:00:02');
  for (const alias of endpoint.aliases) {
    check(ALIAS.test(alias), 'network alias', alias, "use letters, digits, '_', '.', '-' (at most 255)");
  }
  return {
    id: checkId(endpoint.id ?? newId(), 'endpoint id'),
    networkId: checkId(endpoint.networkId, 'network id'),
    containerId: endpoint.containerId,
    interfaceName: checkInterfaceName(endpoint.interfaceName),
    mac,
    addresses: endpoint.addresses.map(checkInterfaceAddress),
    aliases: [...endpoint.aliases],
    gwPriority: endpoint.gwPriority ?? 0,
  };
}

export function checkProto(proto: string): PortProto {
  check((PROTOS as readonly string[]).includes(proto), 'protocol', proto, `expected one of ${PROTOS.join(', ')}`);
  return proto as PortProto;
}

export function checkHostPort(proto: string, hostIp: string, hostPort: number): [PortProto, string, number] {
  return [checkProto(proto), parseAddress(hostIp, 'host ip').text, checkPort(hostPort, 'host port')];
}

export function checkPortRecord(port: PortRecord): PortRecord {
  const [proto, hostIp, hostPort] = checkHostPort(port.proto, port.hostIp, port.hostPort);
  check(RUNTIME_CONTAINER_ID.test(port.containerId), 'container id', port.containerId,
    "expected letters, digits, '_', '.', '-'");
  return {
    proto,
    hostIp,
    hostPort,
    containerId: port.containerId,
    endpointId: port.endpointId === null ? null : checkId(port.endpointId, 'endpoint id'),
    targetIp: parseAddress(port.targetIp, 'target ip').text,
    targetPort: checkPort(port.targetPort, 'target port'),
  };
}
