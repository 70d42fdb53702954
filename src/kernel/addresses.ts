// Interface addresses (IPv4 and IPv6).
import { FlagsNew } from 'netlink';
import { AF_INET, AF_INET6, bufferToIp, ipToBuffer, parseCidr } from './addr.js';
import type { Rtnl } from './rtnl.js';

export interface AddressInfo {
  index: number;
  family: number;
  ip: string;
  prefixLen: number;
  /** "ip/prefix" */
  cidr: string;
}

/** Add an address such as 10.0.0.2/24 to a link. IPv6 addresses skip DAD unless asked. */
export async function addAddress(nl: Rtnl, index: number, cidr: string, opts: { dad?: boolean } = {}): Promise<void> {
  const a = parseCidr(cidr);
  const ip = ipToBuffer(a.ip);
  await nl.call(`add address ${cidr} to link #${index}`, (s) =>
    s.newAddress(
      { family: a.family, prefixlen: a.prefixLen, index, ...(a.family === AF_INET6 && !opts.dad ? { flags: { nodad: true } } : {}) },
      { local: ip, address: ip },
      { flags: FlagsNew.CREATE | FlagsNew.EXCL },
    ),
  );
}

/** Remove an address; false if it was not there. */
export async function deleteAddress(nl: Rtnl, index: number, cidr: string): Promise<boolean> {
  const a = parseCidr(cidr);
  const ip = ipToBuffer(a.ip);
  return nl.callIgnoringGone(`delete address ${cidr} from link #${index}`, (s) =>
    s.delAddress({ family: a.family, prefixlen: a.prefixLen, index }, { local: ip, address: ip }),
  );
}

export async function listAddresses(nl: Rtnl, filter: { index?: number; family?: number } = {}): Promise<AddressInfo[]> {
  // the kernel dumps one family when asked (not one link: that needs NETLINK_GET_STRICT_CHK)
  const msgs = await nl.call('list addresses', (s) => s.getAddresses(filter.family !== undefined ? { family: filter.family } : {}));
  const out: AddressInfo[] = [];
  for (const m of msgs) {
    const a = toAddressInfo(m);
    if (!a) continue;
    if (filter.index !== undefined && a.index !== filter.index) continue;
    if (filter.family !== undefined && a.family !== filter.family) continue;
    out.push(a);
  }
  return out;
}

/** An address message (a dump's or a notification's) as AddressInfo; undefined without an address or link. */
export function toAddressInfo(m: { data: { index?: number; family?: number; prefixlen?: number }; attrs: { local?: Buffer; address?: Buffer } }): AddressInfo | undefined {
  const raw = m.attrs.local ?? m.attrs.address;
  if (!raw || m.data.index === undefined) return undefined;
  const family = m.data.family ?? (raw.length === 4 ? AF_INET : AF_INET6);
  const ip = bufferToIp(raw);
  const prefixLen = m.data.prefixlen ?? 0;
  return { index: m.data.index, family, ip, prefixLen, cidr: `${ip}/${prefixLen}` };
}
