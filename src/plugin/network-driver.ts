// Docker's remote NetworkDriver calls (libnetwork drivers/remote) onto berth's engine: parse the
// body, call the use case, answer Docker's shape. Errors become {"Err": …} in server.ts.
import { UserError } from '../common/errors.js';
import type { Engine } from '../engine/context.js';
import { createDockerEndpoint, deleteDockerEndpoint, dockerEndpointInfo, joinDockerEndpoint } from '../engine/docker-endpoints.js';
import { createDockerNetwork, deleteDockerNetwork, type DockerSubnet } from '../engine/docker-networks.js';
import { programDockerPorts, revokeDockerPorts } from '../engine/docker-ports.js';
import type { PortBinding } from '../portmap/index.js';
import {
  CreateEndpointBody, CreateNetworkBody, decode, DiscoveryBody, EndpointIdBody, ExternalConnectivityBody, GenericOptions, JoinBody, NetworkIdBody, PortMapBody,
} from './schemas.js';

/** An answer sent at once, and work the plugin's next call waits for (the server runs one call at a time). */
export class AnswerThenWork {
  constructor(
    readonly answer: Record<string, unknown>,
    /** a rejection is logged: the answer was given */
    readonly work: Promise<void>,
  ) {}
}

export type Handler = (engine: Engine, body: unknown) => Promise<Record<string, unknown> | AnswerThenWork>;

const GENERIC = 'com.docker.network.generic';
const PORTMAP = 'com.docker.network.portmap';
const PROTOS: Record<number, PortBinding['proto']> = { 6: 'tcp', 17: 'udp', 132: 'sctp' };

const strip = (cidr: string) => cidr.split('/')[0] ?? cidr;

function subnetsOf(data: { AddressSpace: string; Pool: string; Gateway: string; AuxAddresses: Record<string, string> }[]): DockerSubnet[] {
  return data.map((d) => ({
    pool: d.Pool,
    addressSpace: d.AddressSpace,
    ...(d.Gateway ? { gateway: d.Gateway } : {}),
    aux: Object.fromEntries(Object.entries(d.AuxAddresses).map(([k, v]) => [k, strip(v)])),
  }));
}

/** A flag of Docker's network options: a JSON boolean, or its text in older dockerds. */
function flag(options: Record<string, unknown>, key: string): boolean {
  const v = options[key];
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  throw new UserError(`invalid Options.${key}: expected true or false, got ${JSON.stringify(v)}`);
}

/** com.docker.network.portmap into berth's bindings (HostPort 0: berth picks one). */
export function portBindingsOf(options: Record<string, unknown>): PortBinding[] {
  return decode(PortMapBody, options[PORTMAP], `Options.${PORTMAP}`).map((p, i) => {
    const proto = PROTOS[p.Proto];
    if (!proto) throw new UserError(`invalid Options.${PORTMAP}[${i}].Proto ${p.Proto}: expected 6 (tcp), 17 (udp) or 132 (sctp)`);
    const range = p.HostPortEnd > p.HostPort && p.HostPort > 0 ? { hostPortRange: [p.HostPort, p.HostPortEnd] as [number, number] } : {};
    return { proto, hostIp: p.HostIP || undefined, hostPort: range.hostPortRange ? undefined : p.HostPort || undefined, containerPort: p.Port, ...range };
  });
}

export const networkDriverCalls: Record<string, Handler> = {
  // Scope local: each host's berth keeps its own records (an overlay's come from etcd, not from
  // Docker's store, so no swarm). Connectivity global, as Docker's own macvlan: berth's overlay
  // and macvlan networks reach beyond this host.
  'NetworkDriver.GetCapabilities': async () => ({ Scope: 'local', ConnectivityScope: 'global' }),

  'NetworkDriver.CreateNetwork': async (engine, body) => {
    const b = decode(CreateNetworkBody, body);
    const options = decode(GenericOptions, b.Options[GENERIC], `Options.${GENERIC}`);
    await createDockerNetwork(engine, {
      dockerId: b.NetworkID,
      options,
      v4: subnetsOf(b.IPv4Data),
      v6: subnetsOf(b.IPv6Data),
      ipv6: flag(b.Options, 'com.docker.network.enable_ipv6'),
      internal: flag(b.Options, 'com.docker.network.internal'),
    });
    return {};
  },
  'NetworkDriver.DeleteNetwork': async (engine, body) => {
    await deleteDockerNetwork(engine, decode(NetworkIdBody, body).NetworkID);
    return {};
  },

  // answered before the endpoint is plugged: dockerd records it meanwhile, Join waits for the plug
  'NetworkDriver.CreateEndpoint': async (engine, body) => {
    const b = decode(CreateEndpointBody, body);
    const { mac, plugged } = createDockerEndpoint(engine, {
      dockerNetworkId: b.NetworkID,
      endpointId: b.EndpointID,
      address: b.Interface?.Address ?? '',
      addressV6: b.Interface?.AddressIPv6 ?? '',
      mac: b.Interface?.MacAddress ?? '',
    });
    // Docker gave the addresses: berth may only add the MAC it was not given
    return new AnswerThenWork({ Interface: mac ? { MacAddress: mac } : {} }, plugged);
  },
  'NetworkDriver.DeleteEndpoint': async (engine, body) => {
    await deleteDockerEndpoint(engine, decode(EndpointIdBody, body).EndpointID);
    return {};
  },
  'NetworkDriver.EndpointOperInfo': async (engine, body) => ({ Value: dockerEndpointInfo(engine, decode(EndpointIdBody, body).EndpointID) }),

  'NetworkDriver.Join': async (engine, body) => {
    const b = decode(JoinBody, body);
    const j = joinDockerEndpoint(engine, b.NetworkID, b.EndpointID, b.SandboxKey);
    return new AnswerThenWork({
      InterfaceName: { SrcName: j.srcName, DstPrefix: 'eth' },
      ...(j.gateway ? { Gateway: j.gateway } : {}),
      ...(j.gatewayV6 ? { GatewayIPv6: j.gatewayV6 } : {}),
      // with a Gateway, dockerd adds no docker_gwbridge leg: berth's bridge is the way out
      StaticRoutes: [],
    }, j.recorded);
  },
  // the veth stays until DeleteEndpoint: dockerd moves it back to the host on leave
  'NetworkDriver.Leave': async (_engine, body) => {
    decode(EndpointIdBody, body);
    return {};
  },
  // the sandbox's ports (-p) on the endpoint that is its way out, as Docker's bridge driver
  'NetworkDriver.ProgramExternalConnectivity': async (engine, body) => {
    const b = decode(ExternalConnectivityBody, body);
    await programDockerPorts(engine, b.NetworkID, b.EndpointID, portBindingsOf(b.Options));
    return {};
  },
  'NetworkDriver.RevokeExternalConnectivity': async (engine, body) => {
    const b = decode(EndpointIdBody, body);
    revokeDockerPorts(engine, b.NetworkID, b.EndpointID);
    return {};
  },
  'NetworkDriver.DiscoverNew': async (_engine, body) => {
    decode(DiscoveryBody, body);
    return {};
  },
  'NetworkDriver.DiscoverDelete': async (_engine, body) => {
    decode(DiscoveryBody, body);
    return {};
  },
};
