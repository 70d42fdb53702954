// `-o KEY=VALUE` options shared by every driver: canonical keys (Docker's), short aliases, and
// an error for any unknown key, never a silent ignore.
import { UserError, quote } from '../common/errors.js';

/**
 * A driver's `-o KEY=VALUE` reader: keys (canonical key → short aliases) into canonical keys;
 * an unknown key is an error that lists the accepted ones.
 */
export function optionCanonicalizer(
  driver: string,
  keys: Record<string, string[]>,
  /** keys whose empty value the driver's own parser refuses with a more precise message */
  ownEmptyCheck: readonly string[] = [],
): (raw: Record<string, string>) => Record<string, string> {
  const canonical = new Map<string, string>(
    Object.entries(keys).flatMap(([key, aliases]) => [[key, key] as [string, string], ...aliases.map((a): [string, string] => [a, key])]),
  );
  return (raw) => {
    const out: Record<string, string> = {};
    for (const [key, value] of Object.entries(raw)) {
      const c = canonical.get(key);
      // `-o KEY` alone is Docker's spelling of a flag (overlay's `encrypted`); no option here is one
      if (c && value === '' && !ownEmptyCheck.includes(c)) throw new UserError(`invalid --opt ${quote(key)}: expected KEY=VALUE (-o ${key}=VALUE: every ${driver} option takes a value)`);
      if (!c) {
        const accepted = Object.entries(keys).map(([k, a]) => (a.length ? `${k} (or ${a.join(', ')})` : k));
        throw new UserError(`unknown ${driver} option ${quote(key)}: accepted are ${accepted.join('; ')}`);
      }
      out[c] = value;
    }
    return out;
  };
}

/**
 * A driver's typed options of a record, parsed once per record read: records are not changed in
 * place (the store hands out a new object per read), so the stored map's identity keys the cache.
 * The Docker-shaped string map stays what is stored and inspected (it is Docker's shape).
 */
export function typedPerRecord<Options>(
  parse: (options: Record<string, string>, internal: boolean) => Options,
): (net: { options: Record<string, string>; internal: boolean }) => Options {
  const parsed = new WeakMap<Record<string, string>, { internal: boolean; typed: Options }>();
  return (net) => {
    const hit = parsed.get(net.options);
    if (hit?.internal === net.internal) return hit.typed;
    const typed = parse(net.options, net.internal);
    parsed.set(net.options, { internal: net.internal, typed });
    return typed;
  };
}
