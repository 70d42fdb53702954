// Creating a bridge network: options and parent checked, subnets picked, the record, then the
// kernel (a NAT-free bridge first takes over its parent NIC); undone if the kernel fails.
import { ConflictError, UserError } from '../common/errors.js';
import { adoptParent } from '../drivers/bridge/bridge-parent.js';
import { bridgeOptions, canonicalOptions } from '../drivers/bridge/options.js';
import { NETWORK_ALIAS_PREFIX } from '../drivers/driver.js';
import { findLink } from '../kernel/links.js';
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

export async function createBridgeNetwork(engine: Engine, spec: CreateNetworkSpec): Promise<NetworkRecord> {
  const store = engine.store;
  const bridgeDriverName = spec.driver;
  const options = canonicalOptions(spec.options);
  const bridge = bridgeOptions(options, spec.internal);
  const explicit = explicitSubnets(spec);
  const id = newId();
  const ifname = bridge.bridgeName ?? `br-${id.slice(0, 12)}`;
  if (bridge.parent && !explicit.some((s) => !s.subnet.includes(':'))) {
    throw new UserError(`-o parent=${bridge.parent} needs the LAN's --subnet and --gateway`);
  }
  if (store.listNetworks().some((n) => n.interfaceName === ifname)) {
    throw new ConflictError(`bridge name "${ifname}" is already used by another berth network`);
  }
  const [taken, hostUsed, parentExists, ifnameTaken] = await Promise.all([
    hostSubnets(engine),
    hostUsedSubnets(engine),
    bridge.parent ? withRtnl(engine.hostNetns, (nl) => findLink(nl, bridge.parent as string)) : Promise.resolve(undefined),
    withRtnl(engine.hostNetns, (nl) => findLink(nl, ifname)),
  ]);
  if (bridge.parent && !parentExists) throw new UserError(`parent interface "${bridge.parent}" does not exist on this host`);
  if (parentExists) checkParentLink(parentExists, 'a NAT-free bridge takes over a host Ethernet NIC on the LAN (-o parent=IF)', berthInterfaceNames(engine));
  const conflict = bridge.parent ? parentConflict(engine, { kind: 'nat-free-bridge', parent: bridge.parent }) : undefined;
  if (conflict) throw conflict;
  if (bridge.parent && parentExists?.master) throw new ConflictError(`parent interface "${bridge.parent}" is already enslaved to another device`);
  if (ifnameTaken) throw new ConflictError(`an interface named "${ifname}" already exists on this host: choose another bridge name`);
  checkAgainstHost(explicit, hostUsed, bridge.parent);
  // the default network is there first and takes the first pool (172.17.0.0/16), as in Docker;
  // made only now that the request is known to be good (bad input changes nothing)
  await ensureDefaultNetwork(engine);

  const record = store.transaction(() => {
    const subnets = [...explicit];
    const used = networkSubnets(engine);
    // explicit subnets were checked against the host above (a NAT-free bridge's subnet *is* a
    // subnet of the host); the host's routes also rule out automatic picks
    if (!subnets.some((s) => !s.subnet.includes(':'))) {
      subnets.unshift({ subnet: pickFreeSubnet(DEFAULT_POOLS, [...taken, ...used]).text });
    }
    if (spec.ipv6 && !subnets.some((s) => s.subnet.includes(':'))) subnets.push({ subnet: pickUlaSubnet([...taken, ...used]).text });
    return store.createNetwork({
      id,
      name: spec.name,
      driver: bridgeDriverName,
      scope: 'local',
      options: { ...options, 'com.docker.network.bridge.name': ifname },
      labels: spec.labels,
      internal: spec.internal,
      attachable: spec.attachable,
      ipv6: spec.ipv6,
      interfaceName: ifname,
      subnets: validateSubnetConfigs(subnets).map(toSubnetConfig),
    });
  });
  try {
    if (bridge.parent) {
      const state = await adoptParent(engine.hostNetns, ifname, bridge.parent, { ...(bridge.mtu ? { mtu: bridge.mtu } : {}), alias: `${NETWORK_ALIAS_PREFIX}${record.id}` });
      store.setNetworkState(record.id, { parent: state });
    }
    await ensureNetworkKernel(engine, record);
  } catch (err) {
    await removeNetworkKernel(engine, store.getNetwork(record.id)).catch(() => undefined);
    store.deleteNetwork(record.id);
    throw err;
  }
  return store.getNetwork(record.id);
}

