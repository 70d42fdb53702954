// What creating a bridge network checks on the host (its bridge name, a NAT-free bridge's parent
// NIC) and what its endpoints reserve (a MAC from the IPv4 address, published ports).
import { randomBytes } from 'node:crypto';
import { ConflictError, UserError } from '../../common/errors.js';
import { findLink } from '../../kernel/links.js';
import { withRtnl } from '../../kernel/rtnl.js';
import type { NetworkRecord } from '../../store/store.js';
import { NETWORK_ALIAS_PREFIX, type DriverContext } from '../driver.js';
import { checkParentLink } from '../parent-link.js';
import type { EndpointPlan, EndpointPlanRequest, NetworkPlan, NetworkPlanRequest } from '../plan.js';
import { macForIpv4 } from './bridge.js';
import { adoptParent } from './bridge-parent.js';
import { bridgeOptions, canonicalOptions, type BridgeOptions } from './options.js';
import { optionsOf } from './spec.js';

/** A locally administered unicast MAC (02:42 like Docker's, then random). */
export function randomMac(): string {
  return ['02', '42', ...[...randomBytes(4)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

export async function planBridgeNetwork(ctx: DriverContext, req: NetworkPlanRequest): Promise<NetworkPlan<BridgeOptions>> {
  const options = canonicalOptions(req.options);
  const bridge = bridgeOptions(options, req.internal);
  const ifname = bridge.bridgeName ?? `br-${req.id.slice(0, 12)}`;
  const parent = bridge.parent;
  if (parent && !req.subnets.some((s) => !s.subnet.includes(':'))) {
    throw new UserError(`-o parent=${parent} needs the LAN's --subnet and --gateway`);
  }
  if (req.networks.some((n) => n.interfaceName === ifname)) {
    throw new ConflictError(`bridge name "${ifname}" is already used by another berth network`);
  }
  const [parentLink, ifnameTaken] = await withRtnl(ctx.hostNetns, async (nl) => [parent ? await findLink(nl, parent) : undefined, await findLink(nl, ifname)] as const);
  if (parent && !parentLink) throw new UserError(`parent interface "${parent}" does not exist on this host`);
  if (parentLink) checkParentLink(parentLink, 'a NAT-free bridge takes over a host Ethernet NIC on the LAN (-o parent=IF)', req.berthInterfaceNames);
  const conflict = parent ? req.parentConflict({ kind: 'nat-free-bridge', parent }) : undefined;
  if (conflict) throw conflict;
  if (parent && parentLink?.master) throw new ConflictError(`parent interface "${parent}" is already enslaved to another device`);
  if (ifnameTaken) throw new ConflictError(`an interface named "${ifname}" already exists on this host: choose another bridge name`);
  return {
    options: { ...options, 'com.docker.network.bridge.name': ifname },
    typed: bridge,
    interfaceName: ifname,
    internal: req.internal,
    ...(parent ? { onLan: parent } : {}),
    // a NAT-free bridge's explicit subnet *is* a subnet of the host; automatic picks still avoid the host's
    autoSubnetsAvoidHost: true,
    ...(parent
      ? {
          /** the bridge takes over its parent NIC first: addresses and routes move onto it */
          adopt: async (c: DriverContext, net: NetworkRecord) => ({
            parent: await adoptParent(c.hostNetns, ifname, parent, { ...(bridge.mtu ? { mtu: bridge.mtu } : {}), alias: `${NETWORK_ALIAS_PREFIX}${net.id}` }),
          }),
        }
      : {}),
  };
}

/** A veth endpoint: published ports (none from an internal network, as in Docker), a MAC the anti-spoofing guard knows. */
export async function planBridgeEndpoint(net: NetworkRecord, req: EndpointPlanRequest): Promise<EndpointPlan> {
  const options = optionsOf(net);
  return {
    publishes: !net.internal,
    ...(options.hostBindingIpv4 ? { defaultHostIp: options.hostBindingIpv4 } : {}),
    gatewayLeg: false,
    macOf(addresses) {
      const first4 = addresses.find((a) => !a.includes(':'));
      // IPv6-only: a random MAC chosen here rather than by the kernel, so the store knows it (anti-spoofing)
      return req.mac ?? (first4 ? macForIpv4(first4) : randomMac());
    },
  };
}
