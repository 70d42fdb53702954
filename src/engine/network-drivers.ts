// The engine's half of the driver registry: the use cases that still differ per driver beyond
// what drivers/driver.ts covers (creating a network checks the host and the store its own way,
// plugging an endpoint reserves in the store its own way), one entry per driver of drivers/registry.ts.
import { SystemError } from '../common/errors.js';
import type { EndpointRecord, NetworkRecord } from '../store/store.js';
import { createBridgeNetwork } from './bridge-networks.js';
import type { Engine } from './context.js';
import { attachBridgeEndpoint, attachMacvlanEndpoint, type AttachRequest, type Undo } from './endpoints.js';
import { createMacvlanNetwork } from './macvlan-networks.js';
import type { CreateNetworkSpec } from './networks.js';
import { attachOverlayEndpoint, createOverlayNetwork } from './overlay.js';

export interface EngineDriverPart {
  createNetwork(engine: Engine, spec: CreateNetworkSpec): Promise<NetworkRecord>;
  /** reserve, plug, and push each step's undo */
  attachEndpoint(engine: Engine, network: NetworkRecord, req: AttachRequest, undo: Undo): Promise<EndpointRecord>;
}

const PARTS: Readonly<Record<string, EngineDriverPart>> = {
  bridge: { createNetwork: createBridgeNetwork, attachEndpoint: attachBridgeEndpoint },
  macvlan: { createNetwork: createMacvlanNetwork, attachEndpoint: attachMacvlanEndpoint },
  overlay: {
    createNetwork: createOverlayNetwork,
    attachEndpoint: attachOverlayEndpoint,
  },
};

/** The engine's part for a driver of the registry (drivers/registry.ts driverOf checks the name first). */
export function engineDriverOf(name: string): EngineDriverPart {
  const part = PARTS[name];
  if (!part) throw new SystemError(`driver "${name}" has no engine part (engine/network-drivers.ts)`);
  return part;
}
