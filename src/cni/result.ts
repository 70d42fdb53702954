// CNI results shaped for the input's cniVersion, and merged after a previous plugin's result
// when berth is chained. Pure: unit tested (test/unit/cni-result.test.ts).

export interface CniInterface {
  name: string;
  mac?: string;
  sandbox?: string;
  mtu?: number;
}

export interface CniIp {
  /** `ip/prefix` */
  address: string;
  gateway?: string;
  /** index into interfaces */
  interface?: number;
}

export interface CniRoute {
  dst: string;
  gw?: string;
}

export interface CniDns {
  nameservers?: string[];
  domain?: string;
  search?: string[];
  options?: string[];
}

export interface CniResult {
  interfaces: CniInterface[];
  ips: CniIp[];
  routes: CniRoute[];
  dns: CniDns;
}

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const text = (v: unknown): string => (typeof v === 'string' ? v : '');

/** 0.3.x and 0.4.0 results name each address's family ("version": "4" | "6"); 1.0.0 dropped it. */
const carriesIpVersion = (cniVersion: string): boolean => cniVersion.startsWith('0.');

/** A result as read from a prevResult of any supported version (unknown fields dropped). */
export function readResult(prev: Json): CniResult {
  const list = (v: unknown): Json[] => (Array.isArray(v) ? v.filter(isObject) : []);
  return {
    interfaces: list(prev.interfaces).map((i) => ({
      name: text(i.name),
      ...(typeof i.mac === 'string' ? { mac: i.mac } : {}),
      ...(typeof i.sandbox === 'string' ? { sandbox: i.sandbox } : {}),
      ...(typeof i.mtu === 'number' ? { mtu: i.mtu } : {}),
    })),
    ips: list(prev.ips).map((ip) => ({
      address: text(ip.address),
      ...(typeof ip.gateway === 'string' ? { gateway: ip.gateway } : {}),
      ...(typeof ip.interface === 'number' ? { interface: ip.interface } : {}),
    })),
    routes: list(prev.routes).map((r) => ({ dst: text(r.dst), ...(typeof r.gw === 'string' ? { gw: r.gw } : {}) })),
    dns: isObject(prev.dns) ? prev.dns : {},
  };
}

/** A previous plugin's result followed by this plugin's: interface indices move up, DNS merges. */
export function mergeResults(prev: CniResult, own: CniResult): CniResult {
  const offset = prev.interfaces.length;
  const uniq = (a: string[] | undefined, b: string[] | undefined) => {
    const all = [...new Set([...(a ?? []), ...(b ?? [])])];
    return all.length ? all : undefined;
  };
  const dns: CniDns = {};
  const nameservers = uniq(prev.dns.nameservers, own.dns.nameservers);
  const search = uniq(prev.dns.search, own.dns.search);
  const options = uniq(prev.dns.options, own.dns.options);
  if (nameservers) dns.nameservers = nameservers;
  const domain = prev.dns.domain ?? own.dns.domain;
  if (domain) dns.domain = domain;
  if (search) dns.search = search;
  if (options) dns.options = options;
  return {
    interfaces: [...prev.interfaces, ...own.interfaces],
    ips: [...prev.ips, ...own.ips.map((ip) => (ip.interface === undefined ? ip : { ...ip, interface: ip.interface + offset }))],
    routes: [...prev.routes, ...own.routes],
    dns,
  };
}

/** The JSON a runtime of cniVersion expects. */
export function formatResult(cniVersion: string, r: CniResult): Json {
  const versioned = carriesIpVersion(cniVersion);
  return {
    cniVersion,
    interfaces: r.interfaces,
    ips: r.ips.map((ip) => ({ ...(versioned ? { version: ip.address.includes(':') ? '6' : '4' } : {}), ...ip })),
    routes: r.routes,
    dns: r.dns,
  };
}
