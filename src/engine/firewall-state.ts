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
  return checkFirewallTables(engine) === 'restored';
}

/**
 * Like restoreFirewallIfMissing; true when berth's tables are known to be there and current
 * afterwards (found so, or put back just now), so a driver setting up a network need not list them again.
 */
export function firewallTablesReady(engine: Engine): boolean {
  return checkFirewallTables(engine) !== 'none';
}

function checkFirewallTables(engine: Engine): 'installed' | 'restored' | 'none' {
  if (firewallTablesInstalled(engine)) return 'installed';
  // no bridge-like network: berth needs no table (and makes none)
  if (!engine.store.listNetworks().some((n) => driverOf(n.driver).usesFirewall)) return 'none';
  restoreFirewall(engine);
  return 'restored';
}
