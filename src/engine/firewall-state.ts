// berth's nft table must hold what the store says at all times: someone flushing the ruleset (a
// firewall reload, `nft flush ruleset`) removes it, and with it NAT, isolation and published
// ports. The daemon notices within its watch interval; this check lets every berth command and
// every network setup notice too, so a host without a daemon is never left without the table,
// and a bridge set up after a flush never reinstalls a table that holds only its own elements.
import { firewallInstalled } from '../drivers/firewall.js';
import type { Engine } from './context.js';
import { restoreFirewall } from './repair.js';

/** Put berth's table back from the store if it is missing; true if it had to. */
export function restoreFirewallIfMissing(engine: Engine): boolean {
  if (firewallInstalled(engine.hostNetns)) return false;
  // no bridge-like network: berth needs no table (and makes none)
  if (!engine.store.listNetworks().some((n) => n.driver !== 'macvlan')) return false;
  restoreFirewall(engine);
  return true;
}
