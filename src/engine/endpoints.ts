// Endpoints: a sandbox's leg on a network (address, veth, published ports), attached with an
// undo log and released idempotently. Used by `berth run` and by the CNI front end.
import { SystemError } from '../common/errors.js';
import { attachEndpoint, detachEndpoint, macForIpv4 } from '../drivers/bridge.js';
import { publishPorts, unpublishPorts, type PublishedPort } from '../drivers/firewall.js';
import type { PortBinding } from '../portmap/index.js';
import type { EndpointRecord, NetworkRecord, PortRecord } from '../store/store.js';
import { newId } from '../store/store.js';
import type { Engine } from './context.js';
import { checkHostPortFree, pickPort } from './host-ports.js';

/** What run undoes if a later step fails, newest first. */
export class Undo {
  private steps: (() => Promise<void> | void)[] = [];
  push(step: () => Promise<void> | void): void {
    this.steps.unshift(step);
  }
  async run(): Promise<void> {
    for (const step of this.steps) {
      try {
        await step();
      } catch {
        // keep undoing: one failed step must not leave the rest behind
      }
    }
  }
}

export function hostIfnameOf(ep: EndpointRecord): string {
  return `veth${ep.id.slice(0, 7)}`;
}

function toPublished(p: PortRecord): PublishedPort {
  return { proto: p.proto, hostIp: p.hostIp, hostPort: p.hostPort, targetIp: p.targetIp, targetPort: p.targetPort };
}

export interface AttachRequest {
  containerId: string;
  /** the sandbox's network namespace */
  netns: string;
  /** name inside the sandbox */
  ifname: string;
  publish: PortBinding[];
  mac?: string;
}

/**
 * Plug a sandbox into a bridge network: an address, a veth pair, published ports. Each step
 * pushes its undo, so the caller can roll everything back if a later step fails.
 */
export async function attachBridgeEndpoint(engine: Engine, network: NetworkRecord, req: AttachRequest, undo: Undo): Promise<EndpointRecord> {
  const { containerId, netns, ifname, publish, mac } = req;
  const store = engine.store;
  const subnet = network.subnets.find((s) => !s.subnet.includes(':'));
  if (!subnet) throw new SystemError(`network "${network.name}" has no IPv4 subnet`);
  const prefix = subnet.subnet.split('/')[1];
  const endpointId = newId();
  // host ports are checked against host processes before anything is reserved
  const bindings = await Promise.all(publish.map(async (b) => ({ ...b, hostPort: await pickPort(engine, b) })));
  const ep = store.transaction(() => {
    const address = store.allocateAddress(network.id, subnet.subnet, endpointId);
    const rec = store.createEndpoint({
      id: endpointId,
      networkId: network.id,
      containerId,
      interfaceName: ifname,
      mac: mac ?? macForIpv4(address),
      addresses: [`${address}/${prefix}`],
      aliases: [],
    });
    for (const b of bindings) {
      store.reservePort({
        proto: b.proto,
        hostIp: b.hostIp ?? '0.0.0.0',
        hostPort: b.hostPort,
        containerId,
        endpointId,
        targetIp: address,
        targetPort: b.containerPort,
      });
    }
    return rec;
  });
  undo.push(() => void store.deleteEndpoint(endpointId));
  for (const b of bindings) await checkHostPortFree(b.proto, b.hostIp, b.hostPort);
  const attached = await attachEndpoint(engine.hostNetns, {
    bridge: network.interfaceName ?? 'berth0',
    netns,
    ifname,
    hostIfname: hostIfnameOf(ep),
    addresses: ep.addresses,
    defaultGateways: subnet.gateway ? [subnet.gateway] : [],
    ...(ep.mac ? { mac: ep.mac } : {}),
  });
  undo.push(() => detachEndpoint(engine.hostNetns, attached.hostIfname));
  const ports = store.listPorts({ endpointId }).map(toPublished);
  publishPorts(engine.hostNetns, ports);
  undo.push(() => unpublishPorts(engine.hostNetns, ports));
  return ep;
}

/** Unpublish, unplug and forget a container's endpoints (all, or the one called ifname). Idempotent. */
export async function releaseEndpoints(engine: Engine, containerId: string, ifname?: string): Promise<void> {
  const store = engine.store;
  for (const ep of store.listEndpoints({ containerId })) {
    if (ifname !== undefined && ep.interfaceName !== ifname) continue;
    unpublishPorts(engine.hostNetns, store.listPorts({ endpointId: ep.id }).map(toPublished));
    await detachEndpoint(engine.hostNetns, hostIfnameOf(ep));
    store.deleteEndpoint(ep.id);
  }
  if (ifname === undefined) store.releasePorts({ containerId });
}
