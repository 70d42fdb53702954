// Records for the driver tests: drivers take a network record and a context, nothing else.
import { DEFAULT_TUNNEL_SUBNET } from '../../src/drivers/overlay/tunnel-subnet.js';
import type { DriverContext, NetworkPlanRequest } from '../../src/drivers/driver.js';
import type { EndpointRecord, NetworkRecord } from '../../src/store/store.js';
import type { Host } from '../lab/index.js';

export function networkRecord(over: Partial<NetworkRecord> & Pick<NetworkRecord, 'id' | 'driver'>): NetworkRecord {
  return {
    name: `net-${over.id.slice(0, 6)}`,
    scope: 'local',
    created: new Date(0).toISOString(),
    options: {},
    labels: {},
    internal: false,
    attachable: false,
    ipv6: false,
    interfaceName: null,
    subnets: [],
    ...over,
  };
}

export function endpointRecord(over: Partial<EndpointRecord> & Pick<EndpointRecord, 'id' | 'networkId'>): EndpointRecord {
  return { containerId: 'c'.repeat(64), interfaceName: 'eth0', mac: null, addresses: [], aliases: [], gwPriority: 0, ...over };
}

export function contextOf(host: Host): DriverContext {
  return { hostNetns: host.netnsPath, tunnelSubnet: DEFAULT_TUNNEL_SUBNET };
}

/** A 64-hex id whose 12-hex prefix names the test's links. */
export function idOf(prefix: string): string {
  return prefix.padEnd(64, '0');
}

/** A planNetwork request as the engine makes it (engine/network-create.ts planRequest), for a lab host. */
export function planRequestOf(over: Partial<NetworkPlanRequest> & Pick<NetworkPlanRequest, 'id'>): NetworkPlanRequest {
  return {
    name: `net-${over.id.slice(0, 6)}`,
    options: {},
    internal: false,
    ipv6: false,
    subnets: [],
    networks: [],
    berthInterfaceNames: ['berth0'],
    parentConflict: () => undefined,
    ...over,
  };
}
