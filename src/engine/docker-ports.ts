// Published ports of Docker's endpoints on berth networks (issue 14), in Docker's order: dockerd
// programs them with ProgramExternalConnectivity on the endpoint that gives its sandbox the way
// out (after Join; again on another endpoint when that one leaves), and revokes them with
// RevokeExternalConnectivity. Each binding is a map element in berth's nft table, and the host's
// own connections (127.0.0.1) go through a relay, as for CNI sandboxes.
import { NotFoundError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import { publishPorts, unpublishPorts } from '../drivers/bridge/firewall.js';
import { driverOf } from '../drivers/registry.js';
import type { PortBinding } from '../portmap/index.js';
import type { Engine } from './context.js';
import { findDockerEndpoint } from './docker-endpoints.js';
import { getDockerNetwork } from './docker-networks.js';
import { driverContext } from './driver-context.js';
import { pickBindings, reserveBindings, toPublished } from './endpoints.js';
import { checkHostPortFree } from './host-ports.js';
import { publishFileText, startEndpointRelay, stopEndpointRelay } from './port-relay.js';

/** NetworkDriver.ProgramExternalConnectivity: publish the sandbox's ports on this endpoint. Replayed: nothing new. */
export async function programDockerPorts(engine: Engine, dockerNetworkId: string, endpointId: string, publish: readonly PortBinding[]): Promise<void> {
  const net = getDockerNetwork(engine, dockerNetworkId);
  const ep = findDockerEndpoint(engine, endpointId);
  if (!ep || ep.networkId !== net.id) throw new NotFoundError(`endpoint ${endpointId.slice(0, 12)} is not on network ${dockerNetworkId.slice(0, 12)}`);
  const store = engine.store;
  if (!publish.length || store.listPorts({ endpointId: ep.id }).length) return;
  const driver = driverOf(net.driver);
  const ctx = driverContext(engine);
  // a driver without published ports (macvlan, overlay) drops them, as Docker's own macvlan does
  const plan = await driver.planEndpoint(ctx, net, { publish: publish.length });
  const bindings = await pickBindings(engine, plan, publish);
  if (!bindings.length) return;
  store.transaction(() => reserveBindings(engine, net, ep, bindings));
  const ports = store.listPorts({ endpointId: ep.id });
  const routed = driver.routedPorts(net);
  try {
    for (const b of bindings) await checkHostPortFree(b.proto, b.hostIp, b.hostPort);
    publishPorts(ctx.hostNetns, ports.map(toPublished), { routed });
    trace('docker ports: published');
    if (publishFileText(ports)) startEndpointRelay(engine, ep.id, ports);
  } catch (err) {
    unpublishPorts(ctx.hostNetns, ports.map(toPublished), { routed });
    store.releasePorts({ endpointId: ep.id });
    throw err;
  }
}

/** NetworkDriver.RevokeExternalConnectivity: the endpoint's ports go (the endpoint stays). Gone already: success. */
export function revokeDockerPorts(engine: Engine, dockerNetworkId: string, endpointId: string): void {
  const ep = findDockerEndpoint(engine, endpointId);
  const net = ep ? engine.store.findNetwork(ep.networkId) : undefined;
  if (!ep || !net) return;
  getDockerNetwork(engine, dockerNetworkId);
  const ports = engine.store.listPorts({ endpointId: ep.id });
  if (!ports.length) return;
  stopEndpointRelay(engine, ep.id);
  unpublishPorts(driverContext(engine).hostNetns, ports.map(toPublished), { routed: driverOf(net.driver).routedPorts(net) });
  engine.store.releasePorts({ endpointId: ep.id });
}
