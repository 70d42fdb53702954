// A snapshot of the machine's own (root) network namespace, taken before the suite and compared
// after it: the suite must leave it exactly as it found it. Read-only: iproute2/nft JSON output,
// /proc/self/mountinfo and /proc/sys, all from the harness's own namespace.
import { readlink, readFile, writeFile } from 'node:fs/promises';
import { run } from './exec.js';
import { LAB_DIR_PREFIX, NETNS_DIR, SUITE_PREFIX, labTmpRoot } from './names.js';
import { isUnder, readMountinfo } from './procfs.js';

export interface RootSnapshot {
  version: 1;
  takenAt: string;
  /** The namespace the snapshot was taken in ("net:[N]"): compare must run in the same one. */
  netnsId: string;
  /** name → normalized description (kind, flags, mtu, master, operstate, address). */
  links: Record<string, string>;
  addresses: string[];
  /** v4 and v6, every table. */
  routes: string[];
  rules: string[];
  /** nft -j list ruleset, one object per line, without handles and counter values. */
  nft: string[];
  /** ip netns list. */
  netns: string[];
  /** nsfs mounts visible to the harness: "<mount point> <kind>". */
  nsfsMounts: string[];
  sysctls: Record<string, string>;
}

async function ipJson(args: readonly string[]): Promise<Record<string, unknown>[]> {
  const r = await run(['ip', '-j', ...args], { check: true });
  const t = r.stdout.trim();
  return t ? (JSON.parse(t) as Record<string, unknown>[]) : [];
}

/** JSON with sorted keys, so equal objects print equally. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .filter((k) => o[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function pick(o: Record<string, unknown>, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const k of keys) if (o[k] !== undefined) out[k] = o[k];
  return out;
}

/** Remove volatile parts of nft JSON: handles, counter values, element expiry. */
function stripNft(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(stripNft);
  if (v && typeof v === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
      if (k === 'handle' || k === 'expires' || k === 'packets' || k === 'bytes') continue;
      out[k] = stripNft(val);
    }
    return out;
  }
  return v;
}

async function readSysctl(path: string): Promise<string | undefined> {
  try {
    return (await readFile(path, 'utf8')).trim();
  } catch {
    return undefined;
  }
}

export async function snapshotRootNamespace(): Promise<RootSnapshot> {
  const [linkList, addrList, r4, r6, rules4, rules6, nftOut, mounts, netnsId] = await Promise.all([
    ipJson(['-d', 'link', 'show']),
    ipJson(['addr', 'show']),
    ipJson(['-4', 'route', 'show', 'table', 'all']),
    ipJson(['-6', 'route', 'show', 'table', 'all']),
    ipJson(['-4', 'rule', 'show']),
    ipJson(['-6', 'rule', 'show']),
    run(['nft', '-j', 'list', 'ruleset'], { check: true }),
    readMountinfo(),
    readlink('/proc/self/ns/net'),
  ]);

  const links: Record<string, string> = {};
  for (const l of linkList) {
    const info = (l.linkinfo ?? {}) as Record<string, unknown>;
    const flags = ((l.flags as string[] | undefined) ?? []).filter((f) => f !== 'PROMISC').sort();
    links[String(l.ifname)] = canonical({
      kind: info.info_kind ?? l.link_type,
      slave: info.info_slave_kind,
      flags,
      mtu: l.mtu,
      master: l.master,
      operstate: l.operstate,
      address: l.address,
    });
  }

  const addresses: string[] = [];
  for (const l of addrList) {
    for (const a of (l.addr_info as Record<string, unknown>[] | undefined) ?? []) {
      addresses.push(`${String(l.ifname)} ${String(a.family)} ${String(a.local)}/${String(a.prefixlen)} scope ${String(a.scope)}`);
    }
  }

  const routeKeys = ['type', 'dst', 'gateway', 'via', 'dev', 'table', 'protocol', 'scope', 'prefsrc', 'metric', 'nexthops', 'pref'];
  const routes = [...r4.map((r) => `inet ${canonical(pick(r, routeKeys))}`), ...r6.map((r) => `inet6 ${canonical(pick(r, routeKeys))}`)];
  const rules = [...rules4.map((r) => `inet ${canonical(r)}`), ...rules6.map((r) => `inet6 ${canonical(r)}`)];

  const nftText = nftOut.stdout.trim();
  const nftObjs = nftText ? ((JSON.parse(nftText) as { nftables?: Record<string, unknown>[] }).nftables ?? []) : [];
  const nft = nftObjs.filter((o) => !('metainfo' in o)).map((o) => canonical(stripNft(o)));

  const netnsList = await ipJson(['netns', 'list']);
  const netns = netnsList.map((n) => String(n.name)).sort();

  const nsfsMounts = mounts
    .filter((m) => m.fsType === 'nsfs')
    .map((m) => `${m.mountPoint} ${m.root.replace(/:\[[0-9]+\]$/, '')}`)
    .sort();

  const sysctlPaths = [
    'net/ipv4/ip_forward',
    'net/ipv4/ip_nonlocal_bind',
    'net/ipv6/ip_nonlocal_bind',
    'net/bridge/bridge-nf-call-iptables',
    'net/bridge/bridge-nf-call-ip6tables',
    'net/bridge/bridge-nf-call-arptables',
  ];
  for (const ifname of ['all', 'default', ...Object.keys(links)]) {
    for (const k of ['forwarding', 'route_localnet', 'proxy_arp', 'rp_filter']) sysctlPaths.push(`net/ipv4/conf/${ifname}/${k}`);
    for (const k of ['forwarding', 'disable_ipv6', 'accept_ra']) sysctlPaths.push(`net/ipv6/conf/${ifname}/${k}`);
  }
  const sysctls: Record<string, string> = {};
  const values = await Promise.all(sysctlPaths.map((p) => readSysctl(`/proc/sys/${p}`)));
  sysctlPaths.forEach((p, i) => {
    const v = values[i];
    if (v !== undefined) sysctls[p] = v;
  });

  return {
    version: 1,
    takenAt: new Date().toISOString(),
    netnsId,
    links,
    addresses: addresses.sort(),
    routes: routes.sort(),
    rules: rules.sort(),
    nft: nft.sort(),
    netns,
    nsfsMounts,
    sysctls,
  };
}

export async function saveSnapshot(file: string, snap?: RootSnapshot): Promise<RootSnapshot> {
  const s = snap ?? (await snapshotRootNamespace());
  await writeFile(file, `${JSON.stringify(s, null, 2)}\n`);
  return s;
}

export async function loadSnapshot(file: string): Promise<RootSnapshot> {
  const s = JSON.parse(await readFile(file, 'utf8')) as Partial<RootSnapshot>;
  if (s.version !== 1 || !s.links || !s.routes) throw new Error(`${file} is not a root-namespace snapshot (version 1)`);
  return s as RootSnapshot;
}

export interface DiffOptions {
  /** Netns names left out of the comparison. Default: the suite's (bt…), checked by the leftover check. */
  ignoreNetns?: (name: string) => boolean;
  /** nsfs mount points left out. Default: /run/netns/bt… and lab temp dirs. */
  ignoreMount?: (mountPoint: string) => boolean;
}

export const defaultIgnoreNetns = (name: string): boolean => name.startsWith(SUITE_PREFIX);
export const defaultIgnoreMount = (mp: string): boolean =>
  mp.startsWith(`${NETNS_DIR}/${SUITE_PREFIX}`) ||
  (isUnder(mp, labTmpRoot()) && mp.slice(labTmpRoot().length + 1).startsWith(LAB_DIR_PREFIX));

function diffLists(section: string, a: readonly string[], b: readonly string[], out: string[]): void {
  const count = (xs: readonly string[]) => {
    const m = new Map<string, number>();
    for (const x of xs) m.set(x, (m.get(x) ?? 0) + 1);
    return m;
  };
  const ca = count(a);
  const cb = count(b);
  for (const [x, n] of ca) for (let i = cb.get(x) ?? 0; i < n; i++) out.push(`${section}: - ${x}`);
  for (const [x, n] of cb) for (let i = ca.get(x) ?? 0; i < n; i++) out.push(`${section}: + ${x}`);
}

function diffMaps(section: string, a: Record<string, string>, b: Record<string, string>, out: string[]): void {
  for (const k of Object.keys(a).sort()) {
    const va = a[k];
    const vb = b[k];
    if (vb === undefined) out.push(`${section}: - ${k} ${va}`);
    else if (va !== vb) out.push(`${section}: ~ ${k}: ${va} -> ${vb}`);
  }
  for (const k of Object.keys(b).sort()) if (a[k] === undefined) out.push(`${section}: + ${k} ${b[k]}`);
}

/**
 * Differences between two snapshots, one readable line each ("-" gone, "+" new, "~" changed);
 * empty when the root namespace is unchanged.
 */
export function diffSnapshots(before: RootSnapshot, after: RootSnapshot, opts: DiffOptions = {}): string[] {
  const ignoreNetns = opts.ignoreNetns ?? defaultIgnoreNetns;
  const ignoreMount = opts.ignoreMount ?? defaultIgnoreMount;
  const out: string[] = [];
  if (before.netnsId !== after.netnsId) {
    out.push(`namespace: snapshots taken in different network namespaces (${before.netnsId} vs ${after.netnsId})`);
  }
  diffMaps('link', before.links, after.links, out);
  diffLists('address', before.addresses, after.addresses, out);
  diffLists('route', before.routes, after.routes, out);
  diffLists('rule', before.rules, after.rules, out);
  diffLists('nft', before.nft, after.nft, out);
  diffLists('netns', before.netns.filter((n) => !ignoreNetns(n)), after.netns.filter((n) => !ignoreNetns(n)), out);
  const mounts = (s: RootSnapshot) => s.nsfsMounts.filter((m) => !ignoreMount(m.slice(0, m.lastIndexOf(' '))));
  diffLists('nsfs mount', mounts(before), mounts(after), out);
  diffMaps('sysctl', before.sysctls, after.sysctls, out);
  return out;
}
