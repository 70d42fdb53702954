// Routes: default via gateway, on-link gateways, connected subnets; main table unless told.
import { FlagsNew } from 'netlink';
import { UserError } from '../common/errors.js';
import { AF_INET, AF_INET6, bufferToIp, familyOf, ipToBuffer, parseCidr } from './addr.js';
import type { Rtnl } from './rtnl.js';

const RT_TABLE_MAIN = 254;
const RTNH_F_ONLINK = 4;

export interface RouteSpec {
  /** "default" or a CIDR */
  dst: string;
  gateway?: string;
  /** output interface index */
  oif?: number;
  /** gateway is on the link even if no address covers it */
  onlink?: boolean;
  metric?: number;
  table?: number;
  /** preferred source address */
  src?: string;
  /** required for dst "default" without a gateway */
  family?: number;
  /** who installed it, as the netlink package names it (BOOT, STATIC, DHCP…); default BOOT */
  protocol?: string;
}

export interface RouteInfo {
  family: number;
  dst: string;
  gateway: string | undefined;
  oif: number | undefined;
  metric: number | undefined;
  table: number;
  /** preferred source address */
  src: string | undefined;
  /** names as the netlink package spells them: KERNEL, BOOT, STATIC…; UNIVERSE, LINK, HOST…; UNICAST, LOCAL… */
  protocol: string;
  scope: string;
  type: string;
}

function routeMessage(spec: RouteSpec) {
  let family = spec.family;
  let dst: Buffer | undefined;
  let dstLen = 0;
  if (spec.dst !== 'default') {
    const c = parseCidr(spec.dst);
    family = c.family;
    dst = ipToBuffer(c.ip);
    dstLen = c.prefixLen;
  }
  if (spec.gateway) {
    const gwFamily = familyOf(spec.gateway);
    if (family !== undefined && family !== gwFamily) {
      throw new UserError(`gateway "${spec.gateway}" is not of the same IP family as destination "${spec.dst}"`);
    }
    family = gwFamily;
  }
  if (family === undefined) throw new UserError(`route to "${spec.dst}" needs a gateway or an explicit family`);
  const table = spec.table ?? RT_TABLE_MAIN;
  const data = {
    family,
    dstLen,
    table: table < 256 ? table : 0,
    // a protocol the netlink package has no name for comes back as its number
    protocol: (spec.protocol && /^\d+$/.test(spec.protocol) ? Number(spec.protocol) : (spec.protocol ?? 'BOOT')) as 'BOOT',
    // no gateway: the destination is directly on the link
    scope: spec.gateway ? ('UNIVERSE' as const) : ('LINK' as const),
    type: 'UNICAST' as const,
    ...(spec.onlink ? { flags: { __unknown: RTNH_F_ONLINK } } : {}),
  };
  const attrs = {
    ...(dst ? { dst } : {}),
    ...(spec.gateway ? { gateway: ipToBuffer(spec.gateway) } : {}),
    ...(spec.oif ? { oif: spec.oif } : {}),
    ...(spec.metric !== undefined ? { priority: spec.metric } : {}),
    ...(spec.src ? { prefsrc: ipToBuffer(spec.src) } : {}),
    ...(table >= 256 ? { table } : {}),
  };
  return { data, attrs };
}

const describe = (s: RouteSpec): string =>
  `${s.dst}${s.gateway ? ` via ${s.gateway}` : ''}${s.oif ? ` dev #${s.oif}` : ''}`;

export async function addRoute(nl: Rtnl, spec: RouteSpec, opts: { replace?: boolean } = {}): Promise<void> {
  const { data, attrs } = routeMessage(spec);
  const flags = FlagsNew.CREATE | (opts.replace ? FlagsNew.REPLACE : FlagsNew.EXCL);
  await nl.call(`add route ${describe(spec)}`, (s) => s.newRoute(data, attrs, { flags }));
}

/** Delete a route; false if it was not there. */
export async function deleteRoute(nl: Rtnl, spec: RouteSpec): Promise<boolean> {
  const { data, attrs } = routeMessage(spec);
  return nl.callIgnoringGone(`delete route ${describe(spec)}`, (s) =>
    // protocol 0 (unspec) and scope NOWHERE match any protocol and scope, as `ip route del` does
    s.delRoute({ ...data, scope: 'NOWHERE', protocol: 0 as unknown as 'BOOT' }, attrs),
  );
}

/** Routes of one family (AF_INET / AF_INET6); main table unless `table` is given, all tables with table = 0. */
export async function listRoutes(nl: Rtnl, family: number = AF_INET, table: number = RT_TABLE_MAIN): Promise<RouteInfo[]> {
  const msgs = await nl.call('list routes', (s) => s.getRoutes({ family }));
  const out: RouteInfo[] = [];
  for (const m of msgs) {
    const t = m.attrs.table ?? m.data.table ?? 0;
    if (table !== 0 && t !== table) continue;
    const fam = m.data.family ?? family;
    out.push({
      family: fam,
      dst: m.attrs.dst ? `${bufferToIp(m.attrs.dst)}/${m.data.dstLen ?? 0}` : 'default',
      gateway: m.attrs.gateway ? bufferToIp(m.attrs.gateway) : undefined,
      oif: m.attrs.oif,
      metric: m.attrs.priority,
      table: t,
      src: m.attrs.prefsrc ? bufferToIp(m.attrs.prefsrc) : undefined,
      protocol: String(m.data.protocol ?? ''),
      scope: String(m.data.scope ?? ''),
      type: String(m.data.type ?? ''),
    });
  }
  return out;
}

export { AF_INET, AF_INET6 };
