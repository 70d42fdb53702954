// berth's nft table must hold what the store says at all times: someone flushing the ruleset (a
// firewall reload, `nft flush ruleset`) removes it, and with it NAT, isolation and published
// ports. The daemon notices within its watch interval; this check lets every berth command and
// every network setup notice too, so a host without a daemon is never left without the table,
// and a bridge set up after a flush never reinstalls a table that holds only its own elements.
import { driverOf } from '../drivers/registry.js';
import type { Engine } from './context.js';
import { firewallTablesInstalled, restoreFirewall } from './repair.js';

/** Put berth's tables (inet, and bridge for the anti-spoofing guard) back from the store if one is missing; true if it had to. */
export function restoreFirewallIfMissing(engine: Engine): boolean {
  if (firewallTablesInstalled(engine)) return false;
  // no bridge-like network: berth needs no table (and makes none)
  if (!engine.store.listNetworks().some((n) => driverOf(n.driver).usesFirewall)) return false;
  restoreFirewall(engine);
  return true;
}
