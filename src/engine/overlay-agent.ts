// The overlay driver's agent (drivers/overlay/agent.ts: etcd watch, mesh, WireGuard keys),
// started by the daemon through the engine: the engine hands it what it needs of the engine.
import { OverlayAgent as DriverAgent, type OverlayAgentHost, type OverlayAgentOptions } from '../drivers/overlay/agent.js';
import type { OverlayCluster } from '../drivers/overlay/cluster.js';
import type { Engine } from './context.js';
import { ensureFirewall, firewallInstalledAny } from '../drivers/bridge/firewall.js';
import { TUNNEL_SUBNET_SETTING } from '../drivers/overlay/tunnel-subnet.js';
import { forgetOverlayNetwork, localOverlayEndpoints, mirrorOverlayNetwork } from './overlay.js';

export { hostIdOf, parseClusterStore, type OverlayAgentOptions } from '../drivers/overlay/agent.js';

export type OverlayAgent = DriverAgent;

function agentHostOf(engine: Engine): OverlayAgentHost {
  return {
    hostNetns: engine.hostNetns,
    paths: engine.paths,
    get cluster(): OverlayCluster | undefined {
      return engine.cluster;
    },
    set cluster(c: OverlayCluster | undefined) {
      engine.cluster = c;
    },
    listNetworks: () => engine.store.listNetworks(),
    hasNetwork: (networkId) => engine.store.findNetwork(networkId)?.id === networkId,
    mirror: (n) => mirrorOverlayNetwork(engine, n),
    forget: (networkId) => forgetOverlayNetwork(engine, networkId),
    localEndpoints: () => localOverlayEndpoints(engine),
    tunnelSubnet: () => engine.store.getSetting(TUNNEL_SUBNET_SETTING),
    setTunnelSubnet: (subnet) => {
      engine.store.setSetting(TUNNEL_SUBNET_SETTING, subnet);
      // re-rendered now (one atomic batch) when berth's table exists; a later install reads the setting
      if (firewallInstalledAny(engine.hostNetns)) ensureFirewall(engine.hostNetns, subnet);
    },
  };
}

/** Check the options, hand the engine the agent (engine.cluster), and join the cluster in the background. */
export const OverlayAgent = {
  start: (engine: Engine, opts: OverlayAgentOptions): Promise<OverlayAgent> => DriverAgent.start(agentHostOf(engine), opts),
};
