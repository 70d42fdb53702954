// berth's nft table must hold what the store says at all times: someone flushing the ruleset (a
// firewall reload, `nft flush ruleset`) removes it, and with it NAT, isolation and published
// ports. The daemon notices within its watch interval; this check lets every berth command and
// every network setup notice too, so a host without a daemon is never left without the table,
// and a bridge set up after a flush never reinstalls a table that holds only its own elements.
import { driverOf } from '../drivers/registry.js';
import { NftGeneration } from '../kernel/nft/generation.js';
import type { Engine } from './context.js';
import { firewallInstalled } from '../drivers/bridge/firewall.js';
import { spoofGuardInstalled } from '../drivers/bridge/spoof-guard.js';
import { desiredPortGuards, restoreFirewall } from './repair.js';

// The kernel bumps the ruleset generation on every nft commit: while it is what it was just before
// berth's tables were listed, they are still as listed. A `berth run` checks when it starts and
// again when it sets up the default network; the second check then costs one netlink round trip
// instead of listing two chains through libnftables. Only what the kernel holds is remembered;
// whether the store needs the bridge table is asked each time. (Engines act in the namespace
// berth runs in: one reader per process, opened on first use.)
let generation: NftGeneration | null | undefined;
let listed: { at: number; inet: boolean; bridge: boolean } | undefined;

function readGeneration(): number | undefined {
  if (generation === undefined) {
    try {
      generation = NftGeneration.open();
    } catch {
      generation = null; // no generation to go by: every check lists the tables
    }
  }
  try {
    return generation?.read();
  } catch {
    return undefined;
  }
}

/** firewallTablesInstalled (repair.ts), with the listings skipped while the generation stands still. */
function tablesInstalled(engine: Engine): boolean {
  // read before listing: a change after this read moves the generation, and the next check lists again
  const at = readGeneration();
  if (at === undefined || listed?.at !== at) {
    const inet = firewallInstalled(engine.hostNetns);
    listed = { at: at ?? NaN, inet, bridge: inet && spoofGuardInstalled(engine.hostNetns) };
  }
  return listed.inet && (listed.bridge || desiredPortGuards(engine).length === 0);
}

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
  if (tablesInstalled(engine)) return 'installed';
  // no bridge-like network: berth needs no table (and makes none)
  if (!engine.store.listNetworks().some((n) => driverOf(n.driver).usesFirewall)) return 'none';
  restoreFirewall(engine);
  return 'restored';
}
