// `network create -o` options: the bridge driver's live in drivers/bridge/options.ts (re-exported
// here for the engine's callers); KEY=VALUE flag parsing is the front ends' and the engine's.
import { UserError, quote } from '../common/errors.js';

export { optionCanonicalizer } from '../drivers/options.js';
export { bridgeOptions, canonicalOptions, type BridgeOptions, type GatewayMode } from '../drivers/bridge/options.js';

/**
 * `KEY=VALUE` strings (repeatable flags) into a map; a missing '=' is an error naming the flag,
 * except for the keys in bareKeys, which Docker spells alone (`-o encrypted`): value "".
 */
export function keyValues(flag: string, items: readonly string[], opts: { bareKeys?: readonly string[] } = {}): Record<string, string> {
  const out: Record<string, string> = {};
  const bare = opts.bareKeys ?? [];
  for (const item of items) {
    if (bare.includes(item)) {
      out[item] = '';
      continue;
    }
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UserError(`invalid ${flag} ${quote(item)}: expected KEY=VALUE${bare.length ? ` (or ${bare.join(', ')} alone)` : ''}`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}
