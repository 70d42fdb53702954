// Small address helpers for the embedded DNS: canonical IP text (so that a client's source
// address, a store record and a PTR question name agree on one spelling), reverse-lookup names
// (in-addr.arpa / ip6.arpa) and upstream server addresses (`IP`, `IP:PORT`, `[IPv6]:PORT`).
import { isIPv4, isIPv6 } from 'node:net';

/** Parse IPv6 text into 8 groups; undefined if it is not plain IPv6 (no zone, no prefix). */
function ipv6Groups(text: string): number[] | undefined {
  if (!isIPv6(text) || text.includes('%')) return undefined;
  let s = text;
  const lastColon = s.lastIndexOf(':');
  const tail = s.slice(lastColon + 1);
  if (tail.includes('.')) {
    // embedded IPv4 (`::ffff:10.0.0.2`): rewrite as two hex groups
    const o = tail.split('.').map(Number);
    const hi = (((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16);
    const lo = (((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16);
    s = `${s.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = s.split('::');
  const parse = (part: string): number[] => (part === '' ? [] : part.split(':').map((g) => parseInt(g, 16)));
  const head = parse(halves[0] ?? '');
  const rest = halves.length > 1 ? parse(halves[1] ?? '') : [];
  const fill = 8 - head.length - rest.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return undefined;
  const groups = [...head, ...new Array<number>(fill).fill(0), ...rest];
  return groups.length === 8 && groups.every((g) => g >= 0 && g <= 0xffff) ? groups : undefined;
}

/** RFC 5952 text of 8 groups: lower-case hex, the first longest run (≥ 2) of zeros as `::`. */
function formatIpv6(groups: readonly number[]): string {
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups
      .slice(from, to)
      .map((g) => g.toString(16))
      .join(':');
  if (bestStart < 0) return hex(0, 8);
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}

/**
 * Canonical text of an IP address, or undefined if text is not one. IPv4 as is; IPv6 in
 * RFC 5952 form; an IPv4-mapped IPv6 address (`::ffff:10.0.0.2`, what a dual-stack socket
 * reports for an IPv4 client) becomes the IPv4 address. A `%zone` suffix is dropped.
 */
export function canonicalIp(text: string): string | undefined {
  if (isIPv4(text)) return text;
  const pct = text.indexOf('%');
  const bare = pct >= 0 ? text.slice(0, pct) : text;
  const groups = ipv6Groups(bare);
  if (!groups) return undefined;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) {
    const a = groups[6] ?? 0;
    const b = groups[7] ?? 0;
    return `${a >> 8}.${a & 255}.${b >> 8}.${b & 255}`;
  }
  return formatIpv6(groups);
}

/** The canonical client address for a source address: fast for IPv4, which is the usual case. */
export function clientIp(source: string): string {
  if (!source.includes(':')) return source;
  return canonicalIp(source) ?? source;
}

const V4_SUFFIX = '.in-addr.arpa';
const V6_SUFFIX = '.ip6.arpa';

/**
 * The address a reverse-lookup name stands for: `4.3.2.1.in-addr.arpa` → `1.2.3.4`, 32 nibbles
 * `….ip6.arpa` → canonical IPv6. Undefined for other names and partial (classless) names.
 * name must be lower case, without the trailing dot.
 */
export function reverseNameToIp(name: string): string | undefined {
  if (name.endsWith(V4_SUFFIX)) {
    const parts = name.slice(0, -V4_SUFFIX.length).split('.');
    if (parts.length !== 4) return undefined;
    if (!parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)) return undefined;
    return parts.reverse().join('.');
  }
  if (name.endsWith(V6_SUFFIX)) {
    const nibbles = name.slice(0, -V6_SUFFIX.length).split('.');
    if (nibbles.length !== 32 || !nibbles.every((n) => /^[0-9a-f]$/.test(n))) return undefined;
    nibbles.reverse();
    const groups: number[] = [];
    for (let i = 0; i < 32; i += 4) groups.push(parseInt(nibbles.slice(i, i + 4).join(''), 16));
    return canonicalIp(formatIpv6(groups));
  }
  return undefined;
}

/** The reverse-lookup name of an address (for tests and for the view's convenience). */
export function ipToReverseName(ip: string): string {
  if (isIPv4(ip)) return `${ip.split('.').reverse().join('.')}${V4_SUFFIX}`;
  const groups = ipv6Groups(ip);
  if (!groups) throw new Error(`not an IP address: ${JSON.stringify(ip)}`);
  const hex = groups.map((g) => g.toString(16).padStart(4, '0')).join('');
  return `${[...hex].reverse().join('.')}${V6_SUFFIX}`;
}

/** An upstream DNS server: where forwarded queries go. */
export interface Upstream {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
  /** `address:port` (`[address]:port` for IPv6): for messages. */
  readonly text: string;
}

/**
 * Parse an upstream server: `IP` (port 53), `IPv4:PORT`, `[IPv6]:PORT` or bare IPv6.
 * Undefined if text is none of these (the edge validates --dns; here a bad entry is skipped).
 */
export function parseUpstream(text: string): Upstream | undefined {
  let host = text.trim();
  let port = 53;
  if (host.startsWith('[')) {
    const close = host.indexOf(']');
    if (close < 0) return undefined;
    const after = host.slice(close + 1);
    host = host.slice(1, close);
    if (after !== '') {
      if (!/^:[0-9]{1,5}$/.test(after)) return undefined;
      port = Number(after.slice(1));
    }
  } else if (!isIPv6(host) && host.includes(':')) {
    const colon = host.lastIndexOf(':');
    const p = host.slice(colon + 1);
    if (!/^[0-9]{1,5}$/.test(p)) return undefined;
    port = Number(p);
    host = host.slice(0, colon);
  }
  if (port < 1 || port > 65535 || host.includes('%')) return undefined;
  const address = canonicalIp(host);
  if (address === undefined) return undefined;
  const family = address.includes(':') ? 6 : 4;
  return { address, port, family, text: family === 6 ? `[${address}]:${port}` : `${address}:${port}` };
}
