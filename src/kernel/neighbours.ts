// Neighbour (ARP/NDP) entries and bridge/VXLAN forwarding-database (FDB) entries.
import { FlagsNew } from 'netlink';
import { AF_BRIDGE, bufferToIp, bufferToMac, familyOf, ipToBuffer, macToBuffer } from './addr.js';
import type { Rtnl } from './rtnl.js';

export interface NeighbourInfo {
  index: number;
  ip: string;
  mac: string | undefined;
  permanent: boolean;
}

export interface FdbEntry {
  index: number;
  mac: string;
  /** remote VTEP for VXLAN entries */
  dst: string | undefined;
  /** entry on the device itself (self) rather than on its bridge master */
  self: boolean;
  permanent: boolean;
  master: number | undefined;
}

const REPLACE = FlagsNew.CREATE | FlagsNew.REPLACE;

/** Add or replace a permanent neighbour entry ip -> mac on a link. */
export async function addNeighbour(nl: Rtnl, index: number, ip: string, mac: string): Promise<void> {
  await nl.call(`add neighbour ${ip} lladdr ${mac} on link #${index}`, (s) =>
    s.newNeighbor(
      { family: familyOf(ip), ifindex: index, state: { permanent: true } },
      { dst: ipToBuffer(ip), lladdr: macToBuffer(mac) },
      { flags: REPLACE },
    ),
  );
}

export async function deleteNeighbour(nl: Rtnl, index: number, ip: string): Promise<boolean> {
  return nl.callIgnoringGone(`delete neighbour ${ip} on link #${index}`, (s) =>
    s.delNeighbor({ family: familyOf(ip), ifindex: index }, { dst: ipToBuffer(ip) }),
  );
}

export async function listNeighbours(nl: Rtnl, index?: number): Promise<NeighbourInfo[]> {
  const msgs = await nl.call('list neighbours', (s) => s.getNeighbors());
  return msgs
    .filter((m) => m.data.family !== AF_BRIDGE && m.attrs.dst && (index === undefined || m.data.ifindex === index))
    .map((m) => ({
      index: m.data.ifindex ?? 0,
      ip: bufferToIp(m.attrs.dst as Buffer),
      mac: m.attrs.lladdr ? bufferToMac(m.attrs.lladdr) : undefined,
      permanent: Boolean(m.data.state?.permanent),
    }));
}

/**
 * Add or replace a permanent FDB entry. With dst, on a VXLAN device: frames for mac go to
 * that VTEP (`bridge fdb add MAC dev vx dst IP self permanent`). Without, on a bridge port:
 * a static entry on its master bridge.
 */
export async function addFdb(nl: Rtnl, index: number, mac: string, opts: { dst?: string; master?: boolean; append?: boolean } = {}): Promise<void> {
  // the all-zero MAC is VXLAN's flood list: one entry per VTEP, appended (the kernel refuses replace)
  await nl.call(`add fdb ${mac}${opts.dst ? ` dst ${opts.dst}` : ''} on link #${index}`, (s) =>
    s.newNeighbor(
      { family: AF_BRIDGE, ifindex: index, state: { permanent: true }, flags: opts.master ? { master: true } : { self: true } },
      { lladdr: macToBuffer(mac), ...(opts.dst ? { dst: ipToBuffer(opts.dst) } : {}) },
      { flags: opts.append ? FlagsNew.CREATE | FlagsNew.APPEND : REPLACE },
    ),
  );
}

export async function deleteFdb(nl: Rtnl, index: number, mac: string, opts: { dst?: string; master?: boolean } = {}): Promise<boolean> {
  return nl.callIgnoringGone(`delete fdb ${mac} on link #${index}`, (s) =>
    s.delNeighbor(
      { family: AF_BRIDGE, ifindex: index, flags: opts.master ? { master: true } : { self: true } },
      { lladdr: macToBuffer(mac), ...(opts.dst ? { dst: ipToBuffer(opts.dst) } : {}) },
    ),
  );
}

export async function listFdb(nl: Rtnl, index?: number): Promise<FdbEntry[]> {
  const msgs = await nl.call('list fdb', (s) => s.getNeighbors({ family: AF_BRIDGE }));
  return msgs
    .filter((m) => m.data.family === AF_BRIDGE && m.attrs.lladdr && (index === undefined || m.data.ifindex === index))
    .map((m) => ({
      index: m.data.ifindex ?? 0,
      mac: bufferToMac(m.attrs.lladdr as Buffer),
      dst: m.attrs.dst ? bufferToIp(m.attrs.dst) : undefined,
      self: Boolean(m.data.flags?.self),
      permanent: Boolean(m.data.state?.permanent),
      master: m.attrs.master,
    }));
}
