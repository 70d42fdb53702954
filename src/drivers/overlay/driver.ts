// The overlay driver behind the one interface: per network a bridge and a VXLAN device, its
// endpoints veths on that bridge; networks and addresses live in the cluster store (scope
// swarm), reached by the engine. Kernel-wise the bridge is internal: no NAT, no gateway route
// (egress and published ports go through the gateway bridge, a bridge network).
import { attachEndpoint, detachEndpoint } from '../bridge/bridge.js';
import { bridgeProblem, vethEndpointProblem } from '../bridge/driver.js';
import { bridgeSpecOf, hostIfnameOf } from '../bridge/spec.js';
import { ENDPOINT_ALIAS_PREFIX, type NetworkDriver } from '../driver.js';
import { isEncrypted, overlayOptions, overlayOptionsOf, type OverlayOptions } from './options.js';
import { clusterOf, planOverlayEndpoint, planOverlayNetwork } from './plan.js';
import { ensureOverlayNetwork, overlayNames, removeOverlayNetwork, syncRemoteEndpoints } from './overlay.js';

export const overlayDriver: NetworkDriver<OverlayOptions> = {
  name: 'overlay',
  scope: 'swarm',
  usesFirewall: true,
  // checked as given: overlayOptions refuses unknown keys, and the record keeps them as given
  canonicalOptions: (raw) => (overlayOptions(raw), raw),
  optionsOf: overlayOptionsOf,
  planNetwork: planOverlayNetwork,
  planEndpoint: (_ctx, net, req) => planOverlayEndpoint(net, req),

  /** Bridge and VXLAN device; a freshly made device gets the remote entries at once. */
  async ensureNetwork(ctx, net) {
    const cluster = clusterOf(ctx);
    if (isEncrypted(net)) await cluster.ensureEncryption();
    // the engine may have found berth's nft table current just now: not listed again
    const created = await ensureOverlayNetwork(ctx.hostNetns, cluster.overlaySpecOf(net), { tunnelSubnet: ctx.tunnelSubnet, firewallChecked: ctx.firewallChecked === true });
    if (created) await syncRemoteEndpoints(ctx.hostNetns, net.id, cluster.remoteEndpointsOf(net.id));
  },
  async removeNetwork(ctx, net) {
    // the spec's addresses only matter to the firewall elements, which are keyed by bridge name and subnets
    await removeOverlayNetwork(ctx.hostNetns, {
      networkId: net.id, vni: 0, gateways: [], subnets: net.subnets.map((s) => s.subnet), local: '', mtu: 0, alias: overlayNames(net.id).bridge,
    });
  },

  /** A veth into the overlay bridge, at the overlay's MTU (published ports go to the gateway-bridge leg). */
  async attachEndpoint(ctx, net, ep, plug, undo) {
    const attached = await attachEndpoint(ctx.hostNetns, {
      bridge: overlayNames(net.id).bridge,
      netns: plug.netns,
      ifname: ep.interfaceName,
      hostIfname: hostIfnameOf(ep),
      addresses: ep.addresses,
      defaultGateways: [],
      alias: `${ENDPOINT_ALIAS_PREFIX}${ep.id}`,
      mtu: clusterOf(ctx).overlayMtuOf(net),
      ...(plug.handOver ? { handOver: true } : {}),
      ...(ep.mac ? { mac: ep.mac } : {}),
    });
    undo.push(() => detachEndpoint(ctx.hostNetns, attached.hostIfname));
  },
  async detachEndpoint(ctx, _net, ep) {
    await detachEndpoint(ctx.hostNetns, hostIfnameOf(ep));
    return undefined;
  },

  firewallOf(net) {
    const s = bridgeSpecOf(net);
    // an overlay bridge is internal, without NAT (overlay.ts)
    return { bridge: s.ifname, subnets: s.subnets ?? [], nat4: [], nat6: [], internal: true, inbound: s.inbound };
  },
  // published ports go to the gateway-bridge leg, a bridge network
  routedPorts: () => false,
  // the anti-spoofing table guards bridge networks' ports only
  portGuardOf: () => undefined,
  // the container's default route goes through its gateway-bridge leg
  mayCarryDefaultRoute: () => false,
  dnsAddressesOf: (net) => net.subnets.map((s) => s.gateway).filter((g): g is string => g !== undefined),
  parentOf: () => undefined,
  parentConflict: () => undefined,

  hostInterfaceOf: (net) => bridgeSpecOf(net).ifname,
  endpointLinkOf: (_net, ep) => ({ kind: 'veth', hostIfname: hostIfnameOf(ep) }),

  networkProblem: async (ctx, net, host) => bridgeProblem(ctx, net, host),
  endpointProblem: async (ctx, net, ep, check) => vethEndpointProblem(ctx, ep, bridgeSpecOf(net).ifname, check),
};
