// Read what the kernel holds inside a lab namespace, independently of berth's own code: iproute2
// and nft JSON output, /proc/sys read from inside the namespace, and ping.
import { type ExecOptions, type NsRef, ExecError, runIn } from './exec.js';

export type { NsRef } from './exec.js';

export interface IpLinkInfo {
  info_kind?: string;
  info_data?: Record<string, unknown>;
  info_slave_kind?: string;
  info_slave_data?: Record<string, unknown>;
  [key: string]: unknown;
}

/** An entry of `ip -j -d link show`. */
export interface IpLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  link_type?: string;
  address?: string;
  master?: string;
  /** Peer/parent name, for veth/macvlan/vxlan parents in the same namespace. */
  link?: string | null;
  link_netnsid?: number;
  ifalias?: string;
  linkinfo?: IpLinkInfo;
  [key: string]: unknown;
}

export interface IpAddrInfo {
  /** "inet" or "inet6". */
  family: string;
  local: string;
  prefixlen: number;
  scope: string;
  label?: string;
  broadcast?: string;
  nodad?: boolean;
  [key: string]: unknown;
}

/** An entry of `ip -j addr show`. */
export interface IpAddrLink {
  ifindex: number;
  ifname: string;
  flags: string[];
  mtu: number;
  operstate: string;
  master?: string;
  addr_info: IpAddrInfo[];
  [key: string]: unknown;
}

/** An entry of `ip -j route show`. */
export interface IpRoute {
  dst: string;
  type?: string;
  gateway?: string;
  dev?: string;
  table?: string;
  protocol?: string;
  scope?: string;
  prefsrc?: string;
  metric?: number;
  flags: string[];
  nexthops?: { gateway?: string; dev?: string; weight?: number; flags?: string[] }[];
  [key: string]: unknown;
}

/** An entry of `ip -j neigh show`. */
export interface IpNeigh {
  dst: string;
  dev: string;
  lladdr?: string;
  state?: string[];
  router?: null;
  proxy?: null;
  [key: string]: unknown;
}

/** An entry of `bridge -j fdb show`. */
export interface FdbEntry {
  mac: string;
  ifname: string;
  master?: string;
  /** Remote VTEP for vxlan entries. */
  dst?: string;
  vlan?: number;
  vni?: number;
  state?: string;
  flags?: string[];
  [key: string]: unknown;
}

/** One object of `nft -j list ruleset` ({table: …}, {chain: …}, {rule: …}, {set: …}, {map: …}, …). */
export type NftObject = Record<string, Record<string, unknown>>;

export interface NftRuleset {
  nftables: NftObject[];
}

export type Family = 4 | 6;

async function json<T>(ns: NsRef, argv: readonly string[], opts?: ExecOptions): Promise<T> {
  const r = await runIn(ns, argv, { ...opts, check: true });
  const text = r.stdout.trim();
  if (text === '') return [] as unknown as T;
  try {
    return JSON.parse(text) as T;
  } catch (e) {
    throw new ExecError(r.argv, `output is not JSON (${(e as Error).message})`, r);
  }
}

/** `ip -j -d link show` inside ns. */
export function links(ns: NsRef): Promise<IpLink[]> {
  return json<IpLink[]>(ns, ['ip', '-j', '-d', 'link', 'show']);
}

/** One link by name, undefined if absent. */
export async function link(ns: NsRef, ifname: string): Promise<IpLink | undefined> {
  return (await links(ns)).find((l) => l.ifname === ifname);
}

/** `ip -j addr show` inside ns. */
export function addrs(ns: NsRef): Promise<IpAddrLink[]> {
  return json<IpAddrLink[]>(ns, ['ip', '-j', 'addr', 'show']);
}

/** Addresses of one link as "addr/prefixlen", optionally of one family. */
export async function addressesOf(ns: NsRef, ifname: string, family?: Family): Promise<string[]> {
  const l = (await addrs(ns)).find((a) => a.ifname === ifname);
  if (!l) return [];
  const fam = family === undefined ? undefined : family === 4 ? 'inet' : 'inet6';
  return l.addr_info.filter((a) => fam === undefined || a.family === fam).map((a) => `${a.local}/${a.prefixlen}`);
}

/** `ip -j -4|-6 route show table <table>` inside ns. table defaults to main; "all" lists every table. */
export function routes(ns: NsRef, family: Family = 4, opts: { table?: string } = {}): Promise<IpRoute[]> {
  return json<IpRoute[]>(ns, ['ip', '-j', `-${family}`, 'route', 'show', 'table', opts.table ?? 'main']);
}

/** `ip -j [-4|-6] neigh show` inside ns (both families unless one is given). */
export function neighs(ns: NsRef, family?: Family): Promise<IpNeigh[]> {
  return json<IpNeigh[]>(ns, ['ip', '-j', ...(family ? [`-${family}`] : []), 'neigh', 'show']);
}

/** `bridge -j fdb show [br BR] [dev DEV]` inside ns. */
export function fdb(ns: NsRef, opts: { dev?: string; br?: string } = {}): Promise<FdbEntry[]> {
  return json<FdbEntry[]>(ns, [
    'bridge',
    '-j',
    'fdb',
    'show',
    ...(opts.br ? ['br', opts.br] : []),
    ...(opts.dev ? ['dev', opts.dev] : []),
  ]);
}

/** `nft -j list ruleset` inside ns. */
export async function nftRuleset(ns: NsRef): Promise<NftRuleset> {
  const r = await json<NftRuleset | []>(ns, ['nft', '-j', 'list', 'ruleset']);
  return Array.isArray(r) ? { nftables: [] } : r;
}

/** The nft tables present in ns, as {family, name}. */
export async function nftTables(ns: NsRef): Promise<{ family: string; name: string }[]> {
  return (await nftRuleset(ns)).nftables.flatMap((o) =>
    o.table ? [{ family: String(o.table.family), name: String(o.table.name) }] : [],
  );
}

const SYSCTL_KEY = /^[A-Za-z0-9_][A-Za-z0-9_.:/-]*$/;

/** /proc/sys path of a sysctl key: dots separate levels, or give a path with slashes. */
export function sysctlPath(key: string): string {
  if (!SYSCTL_KEY.test(key) || key.split(/[/]/).includes('..')) throw new Error(`invalid sysctl key "${key}"`);
  return `/proc/sys/${key.includes('/') ? key : key.replace(/\./g, '/')}`;
}

/**
 * A sysctl as seen inside ns (net.* keys are per namespace, so it is read by a process that
 * has entered ns). key: "net.ipv4.ip_forward", or "net/ipv4/conf/eth0.10/forwarding" when a
 * level contains a dot.
 */
export async function sysctl(ns: NsRef, key: string): Promise<string> {
  const r = await runIn(ns, ['cat', sysctlPath(key)], { check: true });
  return r.stdout.trim();
}

/** Write a sysctl inside ns (a lab namespace: never the machine's own, which runIn refuses). */
export async function writeSysctl(ns: NsRef, key: string, value: string | number): Promise<void> {
  const path = sysctlPath(key);
  // `sysctl -w` takes the path form too, but writes by key; tee keeps it a plain file write.
  await runIn(ns, ['tee', path], { check: true, input: `${value}\n` });
}

export interface PingOptions {
  /** Echo requests to send; all must be answered. Default 1. */
  count?: number;
  /** Deadline in seconds for the whole ping (ping -w). Default 2. */
  timeout?: number;
  /** Source interface or address (ping -I). */
  iface?: string;
}

/** True if every echo request from ns to addr is answered before the deadline. */
export async function ping(ns: NsRef, addr: string, opts: PingOptions = {}): Promise<boolean> {
  const count = opts.count ?? 1;
  const deadline = opts.timeout ?? 2;
  const argv = ['ping', '-n', '-q', '-c', String(count), '-i', '0.2', '-w', String(deadline)];
  if (opts.iface) argv.push('-I', opts.iface);
  argv.push(addr);
  const r = await runIn(ns, argv, { timeoutMs: (deadline + 10) * 1000 });
  if (r.code === 0) return true;
  if (r.code === 1) return false;
  // Exit 2 is "other error": no route is a plain "unreachable"; anything else is a harness bug.
  if (r.code === 2 && /unreachable|no route|cannot assign|not permitted|sendmsg/i.test(r.stderr)) return false;
  throw new ExecError(r.argv, `ping failed (exit status ${r.code ?? r.signal ?? '?'})`, r);
}
