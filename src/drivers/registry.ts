// The one place that maps a driver's name to its implementation. Adding a driver is a folder
// under drivers/ and one line here.
import { UserError } from '../common/errors.js';
import type { NetworkScope } from '../store/store.js';
import { bridgeDriver } from './bridge/driver.js';
import type { NetworkDriver } from './driver.js';
import { macvlanDriver } from './macvlan/driver.js';
import { overlayDriver } from './overlay/driver.js';

const DRIVERS: ReadonlyMap<string, NetworkDriver> = new Map<string, NetworkDriver>([
  [bridgeDriver.name, bridgeDriver],
  [macvlanDriver.name, macvlanDriver],
  [overlayDriver.name, overlayDriver],
]);

/** The driver of the default network (and of `network create` without -d). */
export const DEFAULT_DRIVER = bridgeDriver.name;

export const DRIVER_NAMES: readonly string[] = [...DRIVERS.keys()];

export function findDriver(name: string): NetworkDriver | undefined {
  return DRIVERS.get(name);
}

/** The driver called name; unknown names are the user's mistake (`network create -d`). */
export function driverOf(name: string): NetworkDriver {
  const driver = DRIVERS.get(name);
  if (!driver) throw new UserError(`network driver "${name}" is not supported: expected one of ${DRIVER_NAMES.join(', ')}`);
  return driver;
}

/** The scope of a driver's networks (Docker's Scope): local unless the driver says otherwise. */
export function scopeOfDriver(name: string): NetworkScope {
  return DRIVERS.get(name)?.scope ?? 'local';
}

/** A network that lives in the cluster store (its addresses too), not only in this host's. */
export function isClusterNetwork(net: { driver: string }): boolean {
  return DRIVERS.get(net.driver)?.scope === 'swarm';
}
