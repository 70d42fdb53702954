// Links: veth, bridge, vxlan, macvlan; their state, names, masters, namespaces and bridge-port flags.
import { FlagsNew } from 'netlink';
import { NotFoundError, UserError } from '../common/errors.js';
import { validateIfName } from '../common/ifname.js';
import { bufferToIp, bufferToMac, ipToBuffer, macToBuffer, familyOf, AF_INET } from './addr.js';
import { ifinfomsg, nla, nlaNested, nlaString, nlaToString, nlaU16be, nlaU32, nlaU8, parseNla } from './nla.js';
import type { Rtnl } from './rtnl.js';

// include/uapi/linux/if_link.h
const IFLA_ADDRESS = 1;
const IFLA_IFNAME = 3;
const IFLA_MTU = 4;
const IFLA_NET_NS_FD = 28;
const IFLA_INFO_KIND = 1;
const IFLA_INFO_DATA = 2;
const IFLA_INFO_SLAVE_KIND = 4;
const IFLA_INFO_SLAVE_DATA = 5;
const VETH_INFO_PEER = 1;
const IFLA_BR_STP_STATE = 5;
const IFLA_BRPORT_MODE = 4; // hairpin
const IFLA_BRPORT_LEARNING = 8;
const IFLA_BRPORT_ISOLATED = 33;
const IFLA_VXLAN = { ID: 1, LINK: 3, LOCAL: 4, TTL: 5, LEARNING: 7, PROXY: 11, L2MISS: 13, L3MISS: 14, PORT: 15, LOCAL6: 17 };
const IFLA_MACVLAN_MODE = 1;
const IFLA_VLAN_ID = 1;

export const MACVLAN_MODES = { private: 1, vepa: 2, bridge: 4, passthru: 8 } as const;
export type MacvlanMode = keyof typeof MACVLAN_MODES;

const CREATE = FlagsNew.CREATE | FlagsNew.EXCL;

export interface LinkInfo {
  index: number;
  name: string;
  /** IFLA_IFALIAS: berth marks the links it creates, so it can tell them from others' */
  alias: string | undefined;
  kind: string | undefined;
  mtu: number;
  mac: string | undefined;
  up: boolean;
  master: number | undefined;
  /** a VXLAN device's source address (IFLA_VXLAN_LOCAL[6]) */
  vxlanLocal?: string;
}

/** A link message (a dump's or a notification's) as LinkInfo. */
export function toLinkInfo(msg: { data: { index?: number; flags?: { up?: true } }; attrs: { ifname?: string; ifalias?: string; mtu?: number; address?: Buffer; master?: number; linkinfo?: Buffer } }): LinkInfo {
  const info = msg.attrs.linkinfo ? parseNla(msg.attrs.linkinfo) : undefined;
  const kind = info?.get(IFLA_INFO_KIND);
  const data = kind && nlaToString(kind) === 'vxlan' ? info?.get(IFLA_INFO_DATA) : undefined;
  const vxlan = data ? parseNla(data) : undefined;
  const local = vxlan?.get(IFLA_VXLAN.LOCAL) ?? vxlan?.get(IFLA_VXLAN.LOCAL6);
  return {
    ...(local ? { vxlanLocal: bufferToIp(local) } : {}),
    index: msg.data.index ?? 0,
    name: msg.attrs.ifname ?? '',
    alias: msg.attrs.ifalias || undefined,
    kind: kind ? nlaToString(kind) : undefined,
    mtu: msg.attrs.mtu ?? 0,
    mac: msg.attrs.address && msg.attrs.address.length === 6 ? bufferToMac(msg.attrs.address) : undefined,
    up: Boolean(msg.data.flags?.up),
    master: msg.attrs.master || undefined,
  };
}

export async function listLinks(nl: Rtnl): Promise<LinkInfo[]> {
  const msgs = await nl.call('list links', (s) => s.getLinks());
  return msgs.map(toLinkInfo);
}

/** The link called name, or undefined if there is none. */
export async function findLink(nl: Rtnl, name: string): Promise<LinkInfo | undefined> {
  validateIfName(name);
  try {
    const [msg] = await nl.call(`get link ${name}`, (s) => s.getLink({}, { ifname: name }));
    return msg ? toLinkInfo(msg) : undefined;
  } catch (err) {
    if ((err as { code?: string }).code === 'ENODEV') return undefined;
    throw err;
  }
}

export async function getLink(nl: Rtnl, name: string): Promise<LinkInfo> {
  const link = await findLink(nl, name);
  if (!link) throw new NotFoundError(`network interface "${name}" does not exist`);
  return link;
}

export async function getLinkByIndex(nl: Rtnl, index: number): Promise<LinkInfo> {
  const [msg] = await nl.call(`get link #${index}`, (s) => s.getLink({ index }));
  if (!msg) throw new NotFoundError(`network interface #${index} does not exist`);
  return toLinkInfo(msg);
}

/** The loopback device's index: the same in every namespace (LOOPBACK_IFINDEX), so no lookup is needed. */
export const LOOPBACK_IFINDEX = 1;

async function createLink(nl: Rtnl, name: string, kind: string, extra: { mtu?: number; mac?: string; netnsFd?: number; alias?: string; master?: number }, linkinfo: Buffer[]): Promise<void> {
  validateIfName(name);
  await nl.call(`create ${kind} ${name}`, (s) =>
    s.newLink(
      {},
      {
        ifname: name,
        ...(extra.mtu ? { mtu: extra.mtu } : {}),
        ...(extra.mac ? { address: macToBuffer(extra.mac) } : {}),
        ...(extra.netnsFd !== undefined ? { netNsFd: extra.netnsFd } : {}),
        // IFLA_MASTER on creation: the kernel enslaves the new link before answering
        ...(extra.master !== undefined ? { master: extra.master } : {}),
        linkinfo: Buffer.concat(linkinfo),
      },
      { flags: CREATE },
    ),
  );
  // the kernel ignores IFLA_IFALIAS on creation: set it on the new link, found by name
  if (extra.alias) await setAliasByName(nl, name, extra.alias);
}

async function setAliasByName(nl: Rtnl, name: string, alias: string): Promise<void> {
  await nl.call(`set alias of ${name}`, (s) => s.setLink({}, { ifname: name, ifalias: alias }));
}

export interface VethSpec {
  name: string;
  peerName: string;
  /** fd of the namespace the peer is created in (default: same namespace). */
  peerNetnsFd?: number;
  mtu?: number;
  mac?: string;
  peerMac?: string;
  /** IFLA_IFALIAS of the first end */
  alias?: string;
}

function vethInfo(spec: VethSpec): Buffer[] {
  validateIfName(spec.peerName, 'peer interface name');
  const peerAttrs = [
    nlaString(IFLA_IFNAME, spec.peerName),
    ...(spec.mtu ? [nlaU32(IFLA_MTU, spec.mtu)] : []),
    ...(spec.peerMac ? [nla(IFLA_ADDRESS, macToBuffer(spec.peerMac))] : []),
    ...(spec.peerNetnsFd !== undefined ? [nlaU32(IFLA_NET_NS_FD, spec.peerNetnsFd)] : []),
  ];
  // not up on creation: the kernel registers the peer first, and a veth cannot open without its peer (ENOTCONN)
  const peer = nla(VETH_INFO_PEER, Buffer.concat([ifinfomsg(), ...peerAttrs]));
  return [nlaString(IFLA_INFO_KIND, 'veth'), nlaNested(IFLA_INFO_DATA, [peer])];
}

/** Create a veth pair; the peer can be born directly inside another namespace. */
export async function createVeth(nl: Rtnl, spec: VethSpec): Promise<void> {
  await createLink(nl, spec.name, 'veth', spec, vethInfo(spec));
}

/**
 * A veth pair whose first end is a port of a bridge (master: the bridge's index), in two
 * requests: the pair (the peer born in its namespace with its name, MAC and MTU; the first end
 * enslaved), then the port's flags, its alias and its up state in one request, so the port
 * forwards nothing before its isolation is set. The peer stays down (its owner brings it up).
 */
export async function createVethPort(nl: Rtnl, spec: VethSpec & { master: number; port: BridgePortFlags }): Promise<void> {
  const { alias, ...rest } = spec;
  await createLink(nl, spec.name, 'veth', rest, vethInfo(spec));
  try {
    await nl.call(`set bridge port ${spec.name}`, (s) =>
      s.newLink({ flags: { up: true }, change: { up: true } }, { ifname: spec.name, ...(alias ? { ifalias: alias } : {}), linkinfo: bridgePortInfo(spec.port) }),
    );
  } catch (err) {
    await deleteLink(nl, spec.name);
    throw err;
  }
}

export async function createBridge(nl: Rtnl, spec: { name: string; mtu?: number; mac?: string; alias?: string }): Promise<void> {
  await createLink(nl, spec.name, 'bridge', spec, [
    nlaString(IFLA_INFO_KIND, 'bridge'),
    nlaNested(IFLA_INFO_DATA, [nlaU32(IFLA_BR_STP_STATE, 0)]),
  ]);
}

/** An ifb device: what is redirected to it comes back out, through its own qdisc (ingress shaping). */
export async function createIfb(nl: Rtnl, spec: { name: string; alias?: string }): Promise<void> {
  await createLink(nl, spec.name, 'ifb', spec, [nlaString(IFLA_INFO_KIND, 'ifb')]);
}

export interface VxlanSpec {
  name: string;
  vni: number;
  port?: number;
  local?: string;
  /** ifindex of the underlay device */
  dev?: number;
  learning?: boolean;
  proxy?: boolean;
  l2miss?: boolean;
  l3miss?: boolean;
  mtu?: number;
  mac?: string;
}

export async function createVxlan(nl: Rtnl, spec: VxlanSpec): Promise<void> {
  if (!Number.isInteger(spec.vni) || spec.vni < 1 || spec.vni > 0xffffff) {
    throw new UserError(`invalid VXLAN id "${spec.vni}": expected an integer from 1 to 16777215`);
  }
  const data = [
    nlaU32(IFLA_VXLAN.ID, spec.vni),
    nlaU16be(IFLA_VXLAN.PORT, spec.port ?? 4789),
    nlaU8(IFLA_VXLAN.LEARNING, spec.learning ? 1 : 0),
    nlaU8(IFLA_VXLAN.PROXY, spec.proxy ? 1 : 0),
    nlaU8(IFLA_VXLAN.L2MISS, spec.l2miss ? 1 : 0),
    nlaU8(IFLA_VXLAN.L3MISS, spec.l3miss ? 1 : 0),
    ...(spec.dev ? [nlaU32(IFLA_VXLAN.LINK, spec.dev)] : []),
    ...(spec.local ? [nla(familyOf(spec.local) === AF_INET ? IFLA_VXLAN.LOCAL : IFLA_VXLAN.LOCAL6, ipToBuffer(spec.local))] : []),
  ];
  await createLink(nl, spec.name, 'vxlan', spec, [nlaString(IFLA_INFO_KIND, 'vxlan'), nlaNested(IFLA_INFO_DATA, data)]);
}

export interface MacvlanSpec {
  name: string;
  /** ifindex of the parent device */
  parent: number;
  mode: MacvlanMode;
  mac?: string;
  mtu?: number;
  /** create it directly inside this namespace */
  netnsFd?: number;
  /** IFLA_IFALIAS (only for a link created in the calling socket's namespace) */
  alias?: string;
}

export async function createMacvlan(nl: Rtnl, spec: MacvlanSpec): Promise<void> {
  const mode = MACVLAN_MODES[spec.mode];
  if (!mode) throw new UserError(`invalid macvlan mode "${spec.mode}": expected one of ${Object.keys(MACVLAN_MODES).join(', ')}`);
  // IFLA_LINK (the parent) is a top-level attribute, sent through the typed `link` field.
  const link = Buffer.alloc(4);
  link.writeUInt32LE(spec.parent);
  validateIfName(spec.name);
  await nl.call(`create macvlan ${spec.name}`, (s) =>
    s.newLink(
      {},
      {
        ifname: spec.name,
        link,
        ...(spec.mtu ? { mtu: spec.mtu } : {}),
        ...(spec.mac ? { address: macToBuffer(spec.mac) } : {}),
        ...(spec.netnsFd !== undefined ? { netNsFd: spec.netnsFd } : {}),
        linkinfo: Buffer.concat([nlaString(IFLA_INFO_KIND, 'macvlan'), nlaNested(IFLA_INFO_DATA, [nlaU32(IFLA_MACVLAN_MODE, mode)])]),
      },
      { flags: CREATE },
    ),
  );
  if (spec.alias && spec.netnsFd === undefined) await setAliasByName(nl, spec.name, spec.alias);
}

/** An 802.1q sub-interface of parent (index) carrying VLAN vid. Not every kernel has it (features.ts). */
export async function createVlan(nl: Rtnl, spec: { name: string; parent: number; vid: number; alias?: string }): Promise<void> {
  if (!Number.isInteger(spec.vid) || spec.vid < 1 || spec.vid > 4094) {
    throw new UserError(`invalid VLAN id "${spec.vid}": expected an integer from 1 to 4094`);
  }
  const link = Buffer.alloc(4);
  link.writeUInt32LE(spec.parent);
  const vid = Buffer.alloc(2);
  vid.writeUInt16LE(spec.vid);
  validateIfName(spec.name);
  await nl.call(`create vlan ${spec.name}`, (s) =>
    s.newLink({}, { ifname: spec.name, link, linkinfo: Buffer.concat([nlaString(IFLA_INFO_KIND, 'vlan'), nlaNested(IFLA_INFO_DATA, [nla(IFLA_VLAN_ID, vid)])]) }, { flags: CREATE }),
  );
  if (spec.alias) await setAliasByName(nl, spec.name, spec.alias);
}

/** Delete a link; returns false if it was already gone (teardown is idempotent). */
export async function deleteLink(nl: Rtnl, name: string): Promise<boolean> {
  validateIfName(name);
  return nl.callIgnoringGone(`delete link ${name}`, (s) => s.delLink({}, { ifname: name }));
}

export async function deleteLinkByIndex(nl: Rtnl, index: number): Promise<boolean> {
  return nl.callIgnoringGone(`delete link #${index}`, (s) => s.delLink({ index }));
}

export async function setLinkUp(nl: Rtnl, index: number, up = true): Promise<void> {
  await nl.call(`set link #${index} ${up ? 'up' : 'down'}`, (s) =>
    s.setLink({ index, change: { up: true }, flags: up ? { up: true } : {} }),
  );
}

export async function setMtu(nl: Rtnl, index: number, mtu: number): Promise<void> {
  await nl.call(`set link #${index} mtu ${mtu}`, (s) => s.setLink({ index }, { mtu }));
}

export async function setMac(nl: Rtnl, index: number, mac: string): Promise<void> {
  await nl.call(`set link #${index} address ${mac}`, (s) => s.setLink({ index }, { address: macToBuffer(mac) }));
}

export async function renameLink(nl: Rtnl, index: number, name: string): Promise<void> {
  validateIfName(name);
  await nl.call(`rename link #${index} to ${name}`, (s) => s.setLink({ index }, { ifname: name }));
}

/** Enslave to a bridge (master = its ifindex) or release (master = 0). */
export async function setMaster(nl: Rtnl, index: number, master: number): Promise<void> {
  await nl.call(`set link #${index} master #${master}`, (s) => s.setLink({ index }, { master }));
}

/** Move a link into another namespace, optionally renaming it on the way (atomic in the kernel). */
export async function moveLinkToNetns(nl: Rtnl, index: number, netnsFd: number, newName?: string): Promise<void> {
  if (newName) validateIfName(newName);
  await nl.call(`move link #${index} to namespace`, (s) =>
    s.setLink({ index }, { netNsFd: netnsFd, ...(newName ? { ifname: newName } : {}) }),
  );
}

export interface BridgePortFlags {
  hairpin?: boolean;
  isolated?: boolean;
  learning?: boolean;
}

/** Set per-port flags on a link enslaved to a bridge (`bridge link set … hairpin/isolated`). */
export async function setBridgePort(nl: Rtnl, index: number, flags: BridgePortFlags): Promise<void> {
  const linkinfo = bridgePortInfo(flags);
  await nl.call(`set bridge port #${index}`, (s) => s.newLink({ index }, { linkinfo }));
}

function bridgePortInfo(flags: BridgePortFlags): Buffer {
  const data = [
    ...(flags.hairpin !== undefined ? [nlaU8(IFLA_BRPORT_MODE, flags.hairpin ? 1 : 0)] : []),
    ...(flags.isolated !== undefined ? [nlaU8(IFLA_BRPORT_ISOLATED, flags.isolated ? 1 : 0)] : []),
    ...(flags.learning !== undefined ? [nlaU8(IFLA_BRPORT_LEARNING, flags.learning ? 1 : 0)] : []),
  ];
  return Buffer.concat([nlaString(IFLA_INFO_SLAVE_KIND, 'bridge'), nlaNested(IFLA_INFO_SLAVE_DATA, data)]);
}
