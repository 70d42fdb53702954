// Creating a macvlan network: options and parent checked, the record with the driver's state,
// then the kernel objects; undone if the kernel fails.
import { ConflictError, UserError } from '../common/errors.js';
import type { MacvlanCreatedParent } from '../drivers/macvlan/macvlan.js';
import { canonicalMacvlanOptions, macvlanOptions } from '../drivers/macvlan/options.js';
import type { MacvlanState } from '../drivers/macvlan/spec.js';
import { probeKernelFeatures } from '../kernel/features.js';
import { listLinks } from '../kernel/links.js';
import { withRtnl } from '../kernel/rtnl.js';
import { DEFAULT_POOLS, pickFreeSubnet, pickUlaSubnet, toSubnetConfig, validateSubnetConfigs } from '../ipam/index.js';
import type { NetworkRecord } from '../store/store.js';
import { newId } from '../store/store.js';
import type { Engine } from './context.js';
import { checkAgainstHost, hostUsedSubnets } from './host-subnets.js';
import {
  berthInterfaceNames, ensureDefaultNetwork, ensureNetworkKernel, explicitSubnets, hostSubnets, networkSubnets, parentConflict,
  removeNetworkKernel, type CreateNetworkSpec,
} from './networks.js';
import { checkParentLink } from './parent-link.js';

/**
 * A macvlan network: the record (with the driver's state: the parent, what berth made, the host
 * shim and its addresses) in one transaction, then the kernel objects; undone if the kernel fails.
 * Checked first, so that bad input changes nothing: the options, the parent (exists, or IF.VID on
 * a kernel with 802.1q), and that no other network uses that parent in a conflicting way.
 */
export async function createMacvlanNetwork(engine: Engine, spec: CreateNetworkSpec): Promise<NetworkRecord> {
  const store = engine.store;
  const options = canonicalMacvlanOptions(spec.options);
  const o = macvlanOptions(options);
  const explicit = explicitSubnets(spec);
  if (o.parent && !explicit.some((s) => !s.subnet.includes(':'))) {
    throw new UserError(`-o parent=${o.parent} needs the LAN's --subnet (and its --gateway): containers on a macvlan network take addresses of the parent's LAN`);
  }
  const id = newId();
  const links = await withRtnl(engine.hostNetns, (nl) => listLinks(nl));
  let parent: string;
  let createdParent: MacvlanCreatedParent | undefined;
  if (!o.parent) {
    parent = `mv-${id.slice(0, 12)}`;
    createdParent = { kind: 'bridge' };
  } else {
    parent = o.parent;
    const link = links.find((l) => l.name === o.parent);
    if (link?.master !== undefined) {
      const master = links.find((l) => l.index === link.master)?.name ?? `#${link.master}`;
      throw new ConflictError(`parent interface "${o.parent}" is a port of ${master}: a macvlan parent cannot be enslaved to another device`);
    }
    if (link) checkParentLink(link, 'give a host Ethernet NIC (-o parent=IF), IF.VID for an 802.1q sub-interface, or no parent for an internal network', berthInterfaceNames(engine));
    if (!link && !o.vlan) {
      throw new UserError(`parent interface "${o.parent}" does not exist on this host: give an existing interface (-o parent=IF), IF.VID for an 802.1q sub-interface, or no parent for an internal network`);
    }
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
  const conflict = parentConflict(engine, { kind: 'macvlan', parent, passthru: o.mode === 'passthru' });
  if (conflict) throw conflict;
  checkAgainstHost(explicit, await hostUsedSubnets(engine), o.parent);
  // the default network is there first and takes the first pool, as in Docker (see createNetwork)
  await ensureDefaultNetwork(engine);
  const taken = o.parent ? [] : await hostSubnets(engine);
  const record = store.transaction(() => {
    const subnets = [...explicit];
    const used = networkSubnets(engine);
    if (!subnets.some((s) => !s.subnet.includes(':'))) subnets.unshift({ subnet: pickFreeSubnet(DEFAULT_POOLS, [...taken, ...used]).text });
    if (spec.ipv6 && !subnets.some((s) => s.subnet.includes(':'))) subnets.push({ subnet: pickUlaSubnet([...taken, ...used]).text });
    const net = store.createNetwork({
      id,
      name: spec.name,
      driver: spec.driver,
      scope: 'local',
      options,
      labels: spec.labels,
      // Docker: a macvlan network without a parent is internal
      internal: spec.internal || !o.parent,
      attachable: spec.attachable,
      ipv6: spec.ipv6,
      interfaceName: null,
      subnets: validateSubnetConfigs(subnets).map(toSubnetConfig),
    });
    // the shim holds one address of each subnet, taken from IPAM like a container's
    const shim = o.hostAccess
      ? {
          ifname: `mh-${id.slice(0, 12)}`,
          addresses: net.subnets.map((s) => {
            const a = store.allocateAddress(id, s.subnet, 'host-shim');
            return `${a}/${a.includes(':') ? 128 : 32}`;
          }),
        }
      : undefined;
    const state: MacvlanState = { parent, ...(createdParent ? { createdParent } : {}), ...(shim ? { shim } : {}) };
    store.setNetworkState(id, { macvlan: state });
    return store.getNetwork(id);
  });
  try {
    await ensureNetworkKernel(engine, record);
  } catch (err) {
    await removeNetworkKernel(engine, record).catch(() => undefined);
    store.deleteNetwork(record.id);
    throw err;
  }
  return record;
}
