// This host's copy of the cluster's WireGuard tunnel subnet (drivers/overlay/tunnel-subnet.ts),
// kept in the local store: every render of berth's firewall reads it, with or without a daemon.
import { SystemError } from '../common/errors.js';
import { DEFAULT_TUNNEL_SUBNET, TUNNEL_SUBNET_SETTING, parseTunnelSubnet } from '../drivers/overlay/tunnel-subnet.js';
import type { Engine } from './context.js';

export { parseTunnelSubnet } from '../drivers/overlay/tunnel-subnet.js';

/** The tunnel subnet the firewall guards on this host: the stored copy, else the default. */
export function tunnelSubnetOf(engine: Engine): string {
  const stored = engine.store.getSetting(TUNNEL_SUBNET_SETTING);
  if (stored === undefined) return DEFAULT_TUNNEL_SUBNET;
  try {
    return parseTunnelSubnet(stored, 'stored tunnel subnet');
  } catch (err) {
    // never render the guard for a value that is not one: fail loudly instead
    throw new SystemError(`the store's tunnel subnet ${JSON.stringify(stored)} is not valid (${(err as Error).message}); start the daemon with --tunnel-subnet CIDR to set it again`);
  }
}
