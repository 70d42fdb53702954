// The bridge driver behind the one interface: a Linux bridge with its gateway addresses and its
// elements in berth's nft table; endpoints are veth pairs; a NAT-free bridge (-o parent=IF)
// takes over a host NIC whole.
import { setLinkUp, setMaster } from '../../kernel/links.js';
import { withRtnl } from '../../kernel/rtnl.js';
import { readSysctl, sysctls } from '../../kernel/sysctl.js';
import type { EndpointRecord, NetworkRecord } from '../../store/store.js';
import {
  ENDPOINT_ALIAS_PREFIX, type DriverContext, type EndpointCheck, type EndpointProblem, type EndpointUnplug, type HostView, type NetworkDriver, type NetworkProblem,
  type ParentRequest,
} from '../driver.js';
import { attachEndpoint, detachEndpoint, ensureBridge, removeBridge } from './bridge.js';
import { releaseParent } from './bridge-parent.js';
import { publishPorts, removeBridgeRules, unpublishOps, unpublishPorts } from './firewall.js';
import { guardPort, unguardPort, unguardPortWith, type PortGuard } from './spoof-guard.js';
import { canonicalOptions, type BridgeOptions } from './options.js';
import { planBridgeEndpoint, planBridgeNetwork } from './plan.js';
import { bridgeFirewallOf, bridgePortGuardOf, bridgeSpecOf, DEFAULT_BRIDGE_IFNAME, hostIfnameOf, optionsOf, parentStateOf, routedPortsOf } from './spec.js';

/** route_localnet=1 on a bridge (set by berth before issue 11, or by hand). */
function routesLocalnet(ctx: DriverContext, ifname: string): boolean {
  try {
    return readSysctl(ctx.hostNetns, sysctls.routeLocalnet(ifname)) !== '0';
  } catch {
    return false; // the bridge went away meanwhile
  }
}

/** `system check` of a network that is a bridge (bridge and overlay drivers): present, up, addressed, no route_localnet. */
export function bridgeProblem(ctx: DriverContext, net: NetworkRecord, host: HostView): NetworkProblem | undefined {
  const spec = bridgeSpecOf(net);
  const br = host.links.find((l) => l.name === spec.ifname);
  const have = new Set(host.addresses.filter((a) => a.index === br?.index).map((a) => a.cidr));
  const missing = spec.gateways.filter((g) => !have.has(g));
  const localnet = br ? routesLocalnet(ctx, spec.ifname) : false;
  const problem = !br
    ? `bridge ${spec.ifname} is missing`
    : !br.up
      ? `bridge ${spec.ifname} is down`
      : missing.length
        ? `bridge ${spec.ifname} lacks ${missing.join(', ')}`
        : localnet
          ? `bridge ${spec.ifname} routes 127.0.0.0/8 (route_localnet=1: without berth's nft table, containers reach the host's loopback services)`
          : '';
  if (!problem) return undefined;
  if (net.state?.parent && !br) return { problem: `${problem} (a NAT-free bridge: its parent's addresses are not moved back automatically)` };
  return { problem, action: br && br.up && !missing.length ? 'set route_localnet to 0' : 're-created it' };
}

/**
 * `system check` of a veth endpoint: the host end must exist and sit on its network's bridge (a
 * re-created bridge has no ports). bridgeIfname undefined: the network is gone from the store.
 */
export function vethEndpointProblem(ctx: DriverContext, ep: EndpointRecord, bridgeIfname: string | undefined, check: EndpointCheck): EndpointProblem | undefined {
  const veth = check.links.get(hostIfnameOf(ep));
  const bridge = bridgeIfname !== undefined ? check.links.get(bridgeIfname) : undefined;
  if (!veth) return { problem: `veth ${hostIfnameOf(ep)} is missing (reconnect the container to restore it)` };
  if (!bridge || veth.master === bridge.index) return undefined;
  return {
    problem: `veth ${veth.name} is not on bridge ${bridge.name}`,
    action: 'attached it again',
    repair: () =>
      withRtnl(ctx.hostNetns, async (nl) => {
        await setMaster(nl, veth.index, bridge.index);
        await setLinkUp(nl, veth.index);
      }),
  };
}

/**
 * Unplug a veth endpoint: its published ports and anti-spoofing guard in one nft commit (each
 * deleting commit waits ~14 ms), then the veth. Also for an endpoint whose network is gone.
 */
export async function detachVethEndpoint(
  ctx: DriverContext, ep: EndpointRecord, unplug: EndpointUnplug, routed: boolean, guard: PortGuard | undefined,
): Promise<string | undefined> {
  const ports = unplug.ports;
  if (guard) unguardPortWith(ctx.hostNetns, guard, unpublishOps(ports, { routed }), () => unpublishPorts(ctx.hostNetns, ports, { routed }));
  else unpublishPorts(ctx.hostNetns, ports, { routed });
  // a veth deletion waits ~20 ms for the kernel (RCU); when the sandbox's namespace is deleted
  // next, the kernel removes the pair with it in the background instead
  if (unplug.sandboxGoing) return hostIfnameOf(ep);
  await detachEndpoint(ctx.hostNetns, hostIfnameOf(ep));
  return undefined;
}

export const bridgeDriver: NetworkDriver<BridgeOptions> = {
  name: 'bridge',
  scope: 'local',
  usesFirewall: true,
  canonicalOptions,
  optionsOf,
  planNetwork: planBridgeNetwork,
  planEndpoint: (_ctx, net, req) => planBridgeEndpoint(net, req),

  async ensureNetwork(ctx, net) {
    await ensureBridge(ctx.hostNetns, bridgeSpecOf(net), { tunnelSubnet: ctx.tunnelSubnet, firewallChecked: ctx.firewallChecked === true });
  },
  async removeNetwork(ctx, net) {
    const parent = parentStateOf(net);
    const spec = bridgeSpecOf(net);
    if (parent) {
      // the bridge goes with releaseParent, which first gives the NIC its addresses back
      removeBridgeRules(ctx.hostNetns, bridgeFirewallOf(spec));
      await releaseParent(ctx.hostNetns, spec.ifname, parent);
    } else {
      await removeBridge(ctx.hostNetns, spec);
    }
  },

  /** A veth pair (host end on the bridge), the port's anti-spoofing guard, the published ports. */
  async attachEndpoint(ctx, net, ep, plug, undo) {
    const options = optionsOf(net);
    const attached = await attachEndpoint(ctx.hostNetns, {
      bridge: net.interfaceName ?? DEFAULT_BRIDGE_IFNAME,
      netns: plug.netns,
      ifname: ep.interfaceName,
      hostIfname: hostIfnameOf(ep),
      addresses: ep.addresses,
      defaultGateways: [],
      isolated: !options.icc,
      alias: `${ENDPOINT_ALIAS_PREFIX}${ep.id}`,
      ...(options.mtu ? { mtu: options.mtu } : {}),
      ...(ep.mac ? { mac: ep.mac } : {}),
      ...(plug.handOver ? { handOver: true } : {}),
    });
    undo.push(() => detachEndpoint(ctx.hostNetns, attached.hostIfname));
    const guard = bridgePortGuardOf(net, ep);
    if (guard) {
      guardPort(ctx.hostNetns, guard);
      undo.push(() => unguardPort(ctx.hostNetns, guard));
    }
    const routed = routedPortsOf(options);
    publishPorts(ctx.hostNetns, plug.ports, { routed });
    undo.push(() => unpublishPorts(ctx.hostNetns, plug.ports, { routed }));
  },
  detachEndpoint: (ctx, net, ep, unplug) => detachVethEndpoint(ctx, ep, unplug, routedPortsOf(optionsOf(net)), bridgePortGuardOf(net, ep)),

  firewallOf: (net) => bridgeFirewallOf(bridgeSpecOf(net)),
  routedPorts: (net) => routedPortsOf(optionsOf(net)),
  portGuardOf: bridgePortGuardOf,
  mayCarryDefaultRoute: (net, v6) => (v6 ? optionsOf(net).gatewayModeIpv6 : optionsOf(net).gatewayModeIpv4) !== 'isolated',
  dnsAddressesOf: (net) => net.subnets.map((s) => s.gateway).filter((g): g is string => g !== undefined),
  parentOf: (net) => parentStateOf(net)?.parent,
  parentConflict(net, request: ParentRequest) {
    // a NAT-free bridge on the NIC is found enslaved by the next one: only macvlan asks here
    if (request.kind !== 'macvlan' || parentStateOf(net)?.parent !== request.parent) return undefined;
    return `parent interface "${request.parent}" is taken by the NAT-free bridge network "${net.name}"`;
  },

  hostInterfaceOf: (net) => bridgeSpecOf(net).ifname,
  endpointLinkOf: (_net, ep) => ({ kind: 'veth', hostIfname: hostIfnameOf(ep) }),

  networkProblem: async (ctx, net, host) => bridgeProblem(ctx, net, host),
  endpointProblem: async (ctx, net, ep, check) => vethEndpointProblem(ctx, ep, bridgeSpecOf(net).ifname, check),
};

