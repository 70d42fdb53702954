// berth's nft table must hold what the store says at all times: someone flushing the ruleset (a
// firewall reload, `nft flush ruleset`) removes it, and with it NAT, isolation and published
// ports. The daemon notices within its watch interval; this check lets every berth command and
// every network setup notice too, so a host without a daemon is never left without the table,
// and a bridge set up after a flush never reinstalls a table that holds only its own elements.
import { firewallInstalled } from '../drivers/bridge/firewall.js';
import { spoofGuardInstalled } from '../drivers/bridge/spoof-guard.js';
import { driverOf } from '../drivers/registry.js';
import { observeNftCommits } from '../kernel/nft/apply.js';
import { NftGeneration } from '../kernel/nft/generation.js';
import type { Engine } from './context.js';
import { FirewallCache } from './firewall-cache.js';
import { desiredPortGuards, restoreFirewall } from './repair.js';
import { tunnelSubnetOf } from './tunnel-subnet.js';

const caches = new WeakMap<Engine, FirewallCache | null>();

/**
 * The engine's cache of the tables' state by ruleset generation (firewall-cache.ts), watching
 * every commit of this process in the engine's namespace; null if the generation cannot be read
 * here (then every check lists the tables, as before).
 */
function cacheOf(engine: Engine): FirewallCache | null {
  let cache = caches.get(engine);
  if (cache !== undefined) return cache;
  try {
    const gen = NftGeneration.open(engine.hostNetns);
    const c = new FirewallCache(() => {
      try {
        return gen.read();
      } catch {
        return undefined;
      }
    });
    observeNftCommits({
      before: (netns) => void (netns === engine.hostNetns && c.commitStarts()),
      after: (netns, ops, ok) => void (netns === engine.hostNetns && c.commitEnded(ops, ok)),
    });
    cache = c;
  } catch {
    cache = null;
  }
  caches.set(engine, cache);
  return cache;
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
  const cache = cacheOf(engine);
  const at = cache?.generation();
  // nothing committed since both tables were found current (or only berth's own element batches)
  if (cache?.currentAt(at)) return 'installed';
  if (firewallInstalled(engine.hostNetns, tunnelSubnetOf(engine))) {
    // both tables listed and current: known until another commit; the bridge table may be
    // missing only while no port is guarded, and that is looked at again on every check
    if (spoofGuardInstalled(engine.hostNetns)) {
      cache?.seen(at);
      return 'installed';
    }
    if (desiredPortGuards(engine).length === 0) return 'installed';
  }
  cache?.forget();
  // no bridge-like network: berth needs no table (and makes none)
  if (!engine.store.listNetworks().some((n) => driverOf(n.driver).usesFirewall)) return 'none';
  restoreFirewall(engine);
  return 'restored';
}
