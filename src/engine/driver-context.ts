// The context of one driver call (drivers/driver.ts): the engine's kernel handles, and the
// cluster as the overlay driver sees it when the daemon is joined to one.
import type { DriverContext } from '../drivers/driver.js';
import type { Engine } from './context.js';
import { overlayMtu, overlaySpecOf, remoteOf } from './overlay.js';
import { tunnelSubnetOf } from './tunnel-subnet.js';

export function driverContext(engine: Engine): DriverContext {
  const cluster = engine.cluster;
  const tunnelSubnet = tunnelSubnetOf(engine);
  if (!cluster) return { hostNetns: engine.hostNetns, tunnelSubnet };
  return {
    hostNetns: engine.hostNetns,
    tunnelSubnet,
    cluster: {
      overlaySpecOf: (net) => overlaySpecOf(net, cluster),
      overlayMtuOf: (net) => overlayMtu(net, cluster),
      remoteEndpointsOf: (networkId) => cluster.remoteEndpoints(networkId).map(remoteOf),
      ensureEncryption: () => cluster.ensureEncryption(),
    },
  };
}
