// Docker's network filters, in one place for `network ls` and `network prune`, API and CLI:
// which keys each accepts, how values match (Docker's rules: names and ids as unanchored
// regular expressions, labels as key or key=value, dangling never listing the pre-defined
// networks, until as a duration or a timestamp). An unknown key or a bad value is a UserError
// raised before anything is listed or deleted.
import { UserError } from '../common/errors.js';
import type { NetworkRecord } from '../store/store.js';

export type NetworkFilters = Record<string, string[]>;

/** The keys Docker accepts on GET /networks and on POST /networks/prune. */
export const LIST_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'] as const;
export const PRUNE_FILTERS = ['label', 'label!', 'until'] as const;

/** Docker's predefined networks: listed as "builtin", never removed, never dangling. */
export const PREDEFINED_NETWORKS: readonly string[] = ['bridge', 'host', 'none'];

/** What a filter needs to know about one network besides its record. */
export interface NetworkFacts {
  /** endpoints (containers) on it */
  inUse: boolean;
}

/** `--filter KEY=VALUE` strings (CLI) into filters; `label!=k` is key `label!`, as Docker's parser reads it. */
export function filtersFromArgs(args: readonly string[]): NetworkFilters {
  const out: NetworkFilters = {};
  for (const arg of args) {
    const eq = arg.indexOf('=');
    if (eq <= 0) throw new UserError(`invalid --filter "${arg}": expected KEY=VALUE, e.g. name=web or label=team=blue`);
    const key = arg.slice(0, eq).trim().toLowerCase();
    (out[key] ??= []).push(arg.slice(eq + 1));
  }
  return out;
}

/** Docker's `filters` query: {"name":["n1"]} or the older {"name":{"n1":true}} form. */
export function filtersFromJson(text: string | null): NetworkFilters {
  if (!text) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UserError(`invalid filters ${JSON.stringify(text)}: expected JSON such as {"name":["n1"]}`);
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw new UserError(`invalid filters ${JSON.stringify(text)}: expected a JSON object such as {"name":["n1"]}`);
  }
  const out: NetworkFilters = {};
  for (const [key, v] of Object.entries(raw as Record<string, unknown>)) {
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[key] = v;
    else if (typeof v === 'object' && v !== null && !Array.isArray(v)) out[key] = Object.keys(v);
    else throw new UserError(`invalid filters: the value of "${key}" is ${JSON.stringify(v)}; expected a list of strings such as ["n1"]`);
  }
  return out;
}

const bool = (key: string, v: string): boolean => {
  const s = v.toLowerCase();
  if (s === 'true' || s === '1') return true;
  if (s === 'false' || s === '0') return false;
  throw new UserError(`invalid filter '${key}=${v}': expected true, 1, false or 0`);
};

/** Check keys and values against what this operation accepts; throws before anything happens. */
export function checkFilters(f: NetworkFilters, accepted: readonly string[]): void {
  for (const key of Object.keys(f)) {
    if (!accepted.includes(key)) throw new UserError(`invalid filter '${key}': accepted are ${accepted.join(', ')}`);
  }
  for (const v of f.dangling ?? []) bool('dangling', v);
  if ((f.dangling?.length ?? 0) > 1) throw new UserError("invalid filter 'dangling': give it once");
  for (const v of f.type ?? []) {
    if (v !== 'custom' && v !== 'builtin') throw new UserError(`invalid filter 'type=${v}': expected custom or builtin`);
  }
  if ((f.until?.length ?? 0) > 1) throw new UserError("invalid filter 'until': give it once");
  for (const v of f.until ?? []) untilTime(v, Date.now());
}

/**
 * Docker's `until`: a Go duration before now (1h, 90m, 1h30m, 10s) or a timestamp (RFC 3339,
 * 2006-01-02, 2006-01-02T15:04:05 in UTC, or Unix seconds with optional fraction). In ms.
 */
export function untilTime(value: string, now: number): number {
  const v = value.trim();
  const dur = /^(?:\d+(?:\.\d+)?(?:ns|us|µs|ms|s|m|h))+$/.test(v) ? v : undefined;
  if (dur) {
    const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
    let ms = 0;
    for (const m of dur.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * (unit[m[2] as string] ?? 0);
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const dateOnly = /^\d{4}-\d{2}-\d{2}$/.test(v);
  const localish = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(v);
  const full = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(v);
  if (dateOnly || localish || full) {
    const t = Date.parse(dateOnly ? `${v}T00:00:00Z` : localish ? `${v}Z` : v);
    if (!Number.isNaN(t)) return t;
  }
  throw new UserError(`invalid filter 'until=${value}': expected a duration such as 1h or 30m, or a timestamp such as 2024-01-02T15:04:05Z or Unix seconds`);
}

/** Docker's Args.Match: an exact value, or an unanchored regular expression (an invalid one matches only exactly). */
function matches(patterns: readonly string[], source: string): boolean {
  return patterns.some((p) => {
    if (p === source) return true;
    try {
      return new RegExp(p).test(source);
    } catch {
      return false;
    }
  });
}

/** Docker's MatchKVList: every `key` or `key=value` present among the labels. */
function labelsMatch(wanted: readonly string[], labels: Record<string, string>): boolean {
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return w in labels;
    const k = w.slice(0, eq);
    return k in labels && labels[k] === w.slice(eq + 1);
  });
}

/** Does a network pass these (checked) filters? `now` is for `until`. */
export function networkMatches(n: NetworkRecord, facts: NetworkFacts, f: NetworkFilters, now = Date.now()): boolean {
  const predefined = PREDEFINED_NETWORKS.includes(n.name);
  if (f.name && !matches(f.name, n.name)) return false;
  if (f.id && !matches(f.id, n.id)) return false;
  if (f.driver && !f.driver.includes(n.driver)) return false;
  if (f.scope && !f.scope.includes(n.scope)) return false;
  if (f.type && !f.type.includes(predefined ? 'builtin' : 'custom')) return false;
  if (f.label && !labelsMatch(f.label, n.labels)) return false;
  // Docker's prune: label!=k drops networks that have k (label!=k=v: that value)
  if (f['label!'] && f['label!'].some((l) => labelsMatch([l], n.labels))) return false;
  const dangling = f.dangling?.[0];
  if (dangling !== undefined) {
    const isDangling = !predefined && !facts.inUse;
    if (bool('dangling', dangling) !== isDangling) return false;
  }
  const until = f.until?.[0];
  if (until !== undefined && !(Date.parse(n.created) < untilTime(until, now))) return false;
  return true;
}
