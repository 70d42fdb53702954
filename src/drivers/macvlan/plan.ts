// What creating a macvlan network checks on the host (the parent NIC, or IF.VID on a kernel with
// 802.1q) and records (the parent, what berth makes, the host shim and its addresses); what an
// endpoint reserves (a passthru child takes its parent whole, and its MAC).
import { ConflictError, UserError } from '../../common/errors.js';
import { probeKernelFeatures } from '../../kernel/features.js';
import { listLinks } from '../../kernel/links.js';
import { withRtnl } from '../../kernel/rtnl.js';
import type { NetworkRecord } from '../../store/store.js';
import { macForIpv4 } from '../bridge/bridge.js';
import type { DriverContext } from '../driver.js';
import { checkParentLink } from '../parent-link.js';
import type { EndpointPlan, EndpointPlanRequest, NetworkPlan, NetworkPlanRequest } from '../plan.js';
import { linkMac, type MacvlanCreatedParent } from './macvlan.js';
import { canonicalMacvlanOptions, macvlanOptions, macvlanOptionsOf, type MacvlanOptions } from './options.js';
import { macvlanStateOf, type MacvlanState } from './spec.js';

const ACCEPTED = 'give an existing interface (-o parent=IF), IF.VID for an 802.1q sub-interface, or no parent for an internal network';

export async function planMacvlanNetwork(ctx: DriverContext, req: NetworkPlanRequest): Promise<NetworkPlan<MacvlanOptions>> {
  const options = canonicalMacvlanOptions(req.options);
  const o = macvlanOptions(options);
  if (o.parent && !req.subnets.some((s) => !s.subnet.includes(':'))) {
    throw new UserError(`-o parent=${o.parent} needs the LAN's --subnet (and its --gateway): containers on a macvlan network take addresses of the parent's LAN`);
  }
  const links = await withRtnl(ctx.hostNetns, (nl) => listLinks(nl));
  let parent: string;
  let createdParent: MacvlanCreatedParent | undefined;
  if (!o.parent) {
    parent = `mv-${req.id.slice(0, 12)}`;
    createdParent = { kind: 'bridge' };
  } else {
    parent = o.parent;
    const link = links.find((l) => l.name === o.parent);
    if (link?.master !== undefined) {
      const master = links.find((l) => l.index === link.master)?.name ?? `#${link.master}`;
      throw new ConflictError(`parent interface "${o.parent}" is a port of ${master}: a macvlan parent cannot be enslaved to another device`);
    }
    if (link) checkParentLink(link, 'give a host Ethernet NIC (-o parent=IF), IF.VID for an 802.1q sub-interface, or no parent for an internal network', req.berthInterfaceNames);
    if (!link && !o.vlan) throw new UserError(`parent interface "${o.parent}" does not exist on this host: ${ACCEPTED}`);
    if (!link && o.vlan) {
      const base = o.vlan.link;
      if (!links.some((l) => l.name === base)) {
        throw new UserError(`-o parent=${o.parent}: its base interface "${base}" does not exist on this host; give IF.VID with an existing IF`);
      }
      if (!(await probeKernelFeatures()).vlan) {
        throw new UserError(`-o parent=${o.parent} asks for an 802.1q sub-interface (VLAN ${o.vlan.vid} on ${base}), but this kernel has no 802.1q support (link kind "vlan"): give an untagged parent interface, or create ${o.parent} on a host whose kernel has 802.1q`);
      }
      createdParent = { kind: 'vlan', ...o.vlan };
    }
  }
  const conflict = req.parentConflict({ kind: 'macvlan', parent, passthru: o.mode === 'passthru' });
  if (conflict) throw conflict;
  return {
    options,
    typed: o,
    interfaceName: null,
    // Docker: a macvlan network without a parent is internal
    internal: req.internal || !o.parent,
    ...(o.parent ? { onLan: o.parent } : {}),
    autoSubnetsAvoidHost: !o.parent,
    initialState(net, reserve) {
      // the shim holds one address of each subnet, taken from IPAM like a container's
      const shim = o.hostAccess
        ? {
            ifname: `mh-${net.id.slice(0, 12)}`,
            addresses: net.subnets.map((s) => {
              const a = reserve(s.subnet, 'host-shim');
              return `${a}/${a.includes(':') ? 128 : 32}`;
            }),
          }
        : undefined;
      const state: MacvlanState = { parent, ...(createdParent ? { createdParent } : {}), ...(shim ? { shim } : {}) };
      return { macvlan: state };
    },
  };
}

/**
 * A macvlan child: no published ports (the container is reached at its own address: a warning
 * says so, as Docker discards -p where it cannot publish); passthru takes the parent whole (one
 * endpoint) and, unless told otherwise, its MAC.
 */
export async function planMacvlanEndpoint(ctx: DriverContext, net: NetworkRecord, req: EndpointPlanRequest): Promise<EndpointPlan> {
  const o = macvlanOptionsOf(net);
  const st = macvlanStateOf(net);
  const passthru = o.mode === 'passthru';
  const parentMac = passthru && !req.mac ? await linkMac(ctx.hostNetns, st.parent) : undefined;
  return {
    publishes: false,
    portsDiscarded: `WARNING: Published ports are discarded on macvlan network "${net.name}": the container is reached at its own address`,
    gatewayLeg: false,
    ...(passthru
      ? {
          exclusive: (holder: string) =>
            `macvlan network "${net.name}" is in passthru mode and its parent ${st.parent} is taken whole by container "${holder}": a second container cannot join`,
        }
      : {}),
    macOf(addresses) {
      const first4 = addresses.find((a) => !a.includes(':'));
      return req.mac ?? parentMac ?? (first4 ? macForIpv4(first4) : null);
    },
  };
}
