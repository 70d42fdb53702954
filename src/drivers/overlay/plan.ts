// What creating an overlay network checks here before the cluster store records it (the
// options, the cluster at hand, subnets clear of the WireGuard tunnel block, this host able to
// encrypt), and what its endpoints reserve (a MAC from the IPv4 address; egress and published
// ports through the gateway-bridge leg).
import { UserError } from '../../common/errors.js';
import { cidrsOverlap, parseCidr } from '../../ipam/index.js';
import type { NetworkRecord } from '../../store/store.js';
import { macForIpv4 } from '../bridge/bridge.js';
import type { ClusterHandle, DriverContext } from '../driver.js';
import type { EndpointPlan, EndpointPlanRequest, NetworkPlan, NetworkPlanRequest } from '../plan.js';
import { NEEDS_CLUSTER, VNI_OPTION, overlayOptions, type OverlayOptions } from './options.js';

export function clusterOf(ctx: DriverContext): ClusterHandle {
  if (!ctx.cluster) throw new UserError(NEEDS_CLUSTER);
  return ctx.cluster;
}

export async function planOverlayNetwork(ctx: DriverContext, req: NetworkPlanRequest): Promise<NetworkPlan<OverlayOptions>> {
  const typed = overlayOptions(req.options);
  const cluster = clusterOf(ctx);
  const tunnel = parseCidr(ctx.tunnelSubnet);
  for (const s of req.subnets) {
    if (cidrsOverlap(parseCidr(s.subnet), tunnel)) {
      throw new UserError(`subnet ${s.subnet} overlaps ${tunnel.text}, which berth reserves for WireGuard tunnel addresses (the cluster's tunnel subnet); choose another subnet`);
    }
  }
  return {
    // kept as given (overlayOptions refused unknown keys); the VNI is the cluster's to record
    options: Object.fromEntries(Object.entries(req.options).filter(([k]) => k !== VNI_OPTION)),
    typed,
    interfaceName: null,
    internal: req.internal,
    autoSubnetsAvoidHost: true,
    ...(typed.vni !== undefined ? { vni: typed.vni } : {}),
    // WireGuard first: a host that cannot encrypt refuses before anything exists in the cluster
    ...(typed.encrypted ? { prepareHost: async () => void (await cluster.ensureEncryption()) } : {}),
  };
}

/** A veth on the overlay bridge; an IPv4 address gives the MAC, else --mac-address must. */
export async function planOverlayEndpoint(net: NetworkRecord, req: EndpointPlanRequest): Promise<EndpointPlan> {
  return {
    publishes: false,
    ...(net.internal ? { portsDiscarded: `WARNING: Published ports are discarded on internal overlay network "${net.name}"` } : {}),
    gatewayLeg: !net.internal,
    macOf(addresses) {
      const first4 = addresses.find((a) => !a.includes(':'));
      const mac = req.mac ?? (first4 ? macForIpv4(first4) : undefined);
      if (!mac) throw new UserError(`network "${net.name}" has no IPv4 subnet: give --mac-address for the endpoint`);
      return mac;
    },
  };
}
