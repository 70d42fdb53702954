// `network create`, one path for every driver: the generic checks, the driver's plan (options
// typed once, its host checks), then the store by the driver's scope (this host's, or the
// cluster's for swarm-scoped networks), the kernel through the driver, undone on failure.
import { ConflictError, UserError } from '../common/errors.js';
import { checkNetworkName } from '../common/network-name.js';
import type { NetworkDriver, NetworkPlanRequest } from '../drivers/driver.js';
import { driverOf } from '../drivers/registry.js';
import { DEFAULT_POOLS, pickFreeSubnet, pickUlaSubnet, toSubnetConfig, validateSubnetConfigs, type SubnetConfig } from '../ipam/index.js';
import { newId, type NetworkRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { driverContext } from './driver-context.js';
import { checkAgainstHost, hostUsedSubnets } from './host-subnets.js';
import { checkLabels } from './metadata-limits.js';
import {
  berthInterfaceNames, ensureDefaultNetwork, ensureNetworkKernel, explicitSubnets, hostSubnets, isPredefinedNetwork, networkSubnets, parentConflict,
  removeNetworkKernel, type CreateNetworkSpec,
} from './networks.js';
import { createClusterNetwork } from './overlay.js';

/** What the driver's planNetwork gets: the request, and this host's networks as the store has them. */
export function planRequest(engine: Engine, spec: CreateNetworkSpec, id: string, subnets: readonly SubnetConfig[]): NetworkPlanRequest {
  return {
    id,
    name: spec.name,
    options: spec.options,
    internal: spec.internal,
    ipv6: spec.ipv6,
    subnets,
    networks: engine.store.listNetworks(),
    berthInterfaceNames: berthInterfaceNames(engine),
    parentConflict: (request) => parentConflict(engine, request),
  };
}

/** Create a user-defined network: checked first (bad input changes nothing), then made by its driver. */
export async function createNetwork(engine: Engine, spec: CreateNetworkSpec): Promise<NetworkRecord> {
  checkNetworkName(spec.name);
  if (isPredefinedNetwork(spec.name)) throw new ConflictError(`network name "${spec.name}" is reserved for a pre-defined network`);
  const driver = driverOf(spec.driver);
  if (spec.subnets.length === 0 && (spec.gateways.length || spec.ipRanges.length || Object.keys(spec.auxAddresses).length)) {
    throw new UserError('--gateway, --ip-range and --aux-address need a --subnet');
  }
  checkLabels(spec.labels);
  return driver.scope === 'swarm' ? createClusterNetwork(engine, driver, spec) : createLocalNetwork(engine, driver, spec);
}

/**
 * A network in this host's store: the record (subnets picked, the driver's state, host addresses
 * it reserves) in one transaction, then the kernel through the driver; undone if the kernel fails.
 */
async function createLocalNetwork(engine: Engine, driver: NetworkDriver, spec: CreateNetworkSpec): Promise<NetworkRecord> {
  const store = engine.store;
  const explicit = explicitSubnets(spec);
  const id = newId();
  const ctx = driverContext(engine);
  const plan = await driver.planNetwork(ctx, planRequest(engine, spec, id, explicit));
  checkAgainstHost(explicit, await hostUsedSubnets(engine), plan.onLan);
  // the default network is there first and takes the first pool (172.17.0.0/16), as in Docker;
  // made only now that the request is known to be good (bad input changes nothing)
  await ensureDefaultNetwork(engine);
  // explicit subnets were checked against the host above; automatic picks avoid its routes too,
  // unless the network sits on a parent's LAN
  const taken = plan.autoSubnetsAvoidHost ? await hostSubnets(engine) : [];
  store.transaction(() => {
    const subnets = [...explicit];
    const used = networkSubnets(engine);
    if (!subnets.some((s) => !s.subnet.includes(':'))) subnets.unshift({ subnet: pickFreeSubnet(DEFAULT_POOLS, [...taken, ...used]).text });
    if (spec.ipv6 && !subnets.some((s) => s.subnet.includes(':'))) subnets.push({ subnet: pickUlaSubnet([...taken, ...used]).text });
    const net = store.createNetwork({
      id,
      name: spec.name,
      driver: driver.name,
      scope: driver.scope,
      options: plan.options,
      labels: spec.labels,
      internal: plan.internal,
      attachable: spec.attachable,
      ipv6: spec.ipv6,
      interfaceName: plan.interfaceName,
      subnets: validateSubnetConfigs(subnets).map(toSubnetConfig),
    });
    const state = plan.initialState?.(net, (subnet, owner) => store.allocateAddress(id, subnet, owner));
    if (state) store.setNetworkState(id, state);
  });
  try {
    const adopted = await plan.adopt?.(ctx, store.getNetwork(id));
    if (adopted) store.setNetworkState(id, adopted);
    await ensureNetworkKernel(engine, store.getNetwork(id));
  } catch (err) {
    await removeNetworkKernel(engine, store.getNetwork(id)).catch(() => undefined);
    store.deleteNetwork(id);
    throw err;
  }
  return store.getNetwork(id);
}
