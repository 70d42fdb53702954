// The overlay driver: what a multi-host overlay network is on one host in kernel terms.
//
// Per network: a bridge `ov-<id12>` holding the gateway address (every host holds the same one:
// it only answers its own host's containers, as in Docker's overlay sandbox) and a VXLAN device
// `vx-<id12>` (VNI, UDP 4789, local = this host's VTEP) enslaved to it. The VXLAN device has
// learning off and ARP/ND proxy on: for every remote endpoint the control plane programs
//   - an FDB entry  remote MAC -> remote VTEP       (`bridge fdb add MAC dev vx dst VTEP self permanent`)
//   - a neighbour   remote IP  -> remote MAC         (`ip neigh add IP lladdr MAC dev vx nud permanent`)
// so a container's ARP request is answered by the VXLAN device itself and only unicast frames
// to known MACs cross the underlay: no all-zeros flood entry, no multicast, no learning
// (observed on this kernel: ARP answered locally, VXLAN TX = the ICMP packets only).
// The bridge is in berth's firewall as an internal network: traffic stays within it (egress and
// published ports go through the per-host gateway bridge, a separate bridge network).
import { createVxlan, deleteLink, findLink, getLink, getLinkByIndex, setLinkUp, setMaster, setMtu } from '../../kernel/links.js';
import { listAddresses } from '../../kernel/addresses.js';
import { announceAddresses } from '../../kernel/announce.js';
import { addFdb, addNeighbour, deleteFdb, deleteNeighbour, listFdb, listNeighbours } from '../../kernel/neighbours.js';
import type { NetnsTarget } from '../../kernel/netns.js';
import { KernelError, type Rtnl, withRtnl } from '../../kernel/rtnl.js';
import { UserError } from '../../common/errors.js';
import { ensureBridge, removeBridge, type BridgeSpec } from '../bridge/bridge.js';

/** VXLAN over IPv4: outer IPv4 (20) + UDP (8) + VXLAN (8) + inner Ethernet (14). */
export const VXLAN_OVERHEAD = 50;
/** VXLAN over IPv6: outer IPv6 (40) + UDP + VXLAN + inner Ethernet (the kernel's limit too). */
export const VXLAN6_OVERHEAD = 70;

/** The VXLAN overhead of a VTEP address's family. */
export const vxlanOverhead = (vtep: string): number => (vtep.includes(':') ? VXLAN6_OVERHEAD : VXLAN_OVERHEAD);
export const VXLAN_PORT = 4789;

export interface OverlayNames {
  bridge: string;
  vxlan: string;
}

export function overlayNames(networkId: string): OverlayNames {
  return { bridge: `ov-${networkId.slice(0, 12)}`, vxlan: `vx-${networkId.slice(0, 12)}` };
}

export interface OverlaySpec {
  networkId: string;
  vni: number;
  /** gateway addresses with prefix, e.g. 10.0.0.1/24 */
  gateways: string[];
  subnets: string[];
  /** this host's VTEP address (VXLAN source) */
  local: string;
  /** MTU of the bridge, the VXLAN device and the endpoints */
  mtu: number;
  /** IFLA_IFALIAS of the bridge, berth:network:<id> */
  alias: string;
  /**
   * `-o encrypted`: local is this host's WireGuard tunnel address and the device is not bound to
   * an underlay link, so it survives a WireGuard restart (overlay-encryption.ts).
   */
  encrypted?: boolean;
}

export interface RemoteEndpoint {
  mac: string;
  vtep: string;
  /** plain addresses (no prefix) */
  addresses: string[];
}

const ignoreExists = (err: unknown): void => {
  if (!(err instanceof KernelError && err.code === 'EEXIST')) throw err;
};

function bridgeSpecOf(spec: OverlaySpec): BridgeSpec {
  const { bridge } = overlayNames(spec.networkId);
  // internal: nothing is routed in or out of the overlay bridge; within it (VXLAN port included) all is allowed
  return { ifname: bridge, gateways: spec.gateways, nat4: [], nat6: [], internal: true, inbound: 'nat', mtu: spec.mtu, alias: spec.alias, subnets: spec.subnets };
}

/** The link holding address on this host and its MTU: the underlay a VTEP sends through. */
export async function underlayOf(host: NetnsTarget | null, address: string): Promise<{ ifname: string; index: number; mtu: number }> {
  return withRtnl(host, (nl) => underlayOn(nl, address));
}

async function underlayOn(nl: Rtnl, address: string): Promise<{ ifname: string; index: number; mtu: number }> {
  const found = (await listAddresses(nl)).find((a) => a.ip === address);
  if (!found) {
    const have = (await listAddresses(nl)).filter((a) => !a.ip.startsWith('127.') && a.ip !== '::1' && !a.ip.startsWith('fe80:')).map((a) => a.ip);
    throw new UserError(`advertise address ${address} is not an address of this host: give one of ${have.join(', ') || '(none configured)'}`);
  }
  const link = await getLinkByIndex(nl, found.index);
  return { ifname: link.name, index: link.index, mtu: link.mtu };
}

/**
 * Create the network's bridge and VXLAN device if missing; make sure they are up, addressed,
 * enslaved. Idempotent. True when the VXLAN device was made now (it has no remote entries yet).
 */
export async function ensureOverlayNetwork(host: NetnsTarget | null, spec: OverlaySpec, opts: { tunnelSubnet: string; firewallChecked?: boolean }): Promise<boolean> {
  const names = overlayNames(spec.networkId);
  // either device may be made again below: the next remote endpoint looks them up
  forgetVxlanIndex(host, spec.networkId);
  await ensureBridge(host, bridgeSpecOf(spec), opts);
  return withRtnl(host, async (nl) => {
    const br = await getLink(nl, names.bridge);
    let vx = await findLink(nl, names.vxlan);
    // made for another VTEP (the host came back with a new underlay address, or a new tunnel
    // address): made again, and reported as new so its remote entries are programmed again
    if (vx?.vxlanLocal !== undefined && vx.vxlanLocal !== spec.local) {
      await deleteLink(nl, names.vxlan);
      vx = undefined;
    }
    const created = !vx;
    if (!vx) {
      // the underlay device is looked up only to make the VXLAN device (one dump less per attach)
      const dev = spec.encrypted ? undefined : (await underlayOn(nl, spec.local)).index;
      await createVxlan(nl, {
        name: names.vxlan,
        vni: spec.vni,
        port: VXLAN_PORT,
        local: spec.local,
        ...(dev !== undefined ? { dev } : {}),
        learning: false,
        proxy: true,
        mtu: spec.mtu,
      }).catch(ignoreExists);
      vx = await getLink(nl, names.vxlan);
    }
    if (vx.mtu !== spec.mtu) await setMtu(nl, vx.index, spec.mtu);
    if (br.mtu !== spec.mtu) await setMtu(nl, br.index, spec.mtu);
    if (vx.master !== br.index) await setMaster(nl, vx.index, br.index);
    if (!vx.up) await setLinkUp(nl, vx.index);
    return created;
  });
}

/** Delete the VXLAN device, the bridge and its firewall elements. Idempotent. */
export async function removeOverlayNetwork(host: NetnsTarget | null, spec: OverlaySpec): Promise<void> {
  forgetVxlanIndex(host, spec.networkId);
  await withRtnl(host, (nl) => deleteLink(nl, overlayNames(spec.networkId).vxlan));
  await removeBridge(host, bridgeSpecOf(spec));
}

/**
 * Requests in flight at once on one netlink socket: each waits for its ACK, and the ACKs must fit
 * the socket's receive buffer (~200 kB, under 1 kB each), or the kernel drops them.
 */
const NETLINK_WINDOW = 64;

/**
 * Run the calls with up to NETLINK_WINDOW in flight on one socket: one wake-up of the daemon per
 * window rather than per entry (a busy host schedules each wake-up late). Rejects with the first
 * failure once all have settled.
 */
async function pipelined(calls: readonly (() => Promise<unknown>)[]): Promise<void> {
  for (let i = 0; i < calls.length; i += NETLINK_WINDOW) {
    const settled = await Promise.allSettled(calls.slice(i, i + NETLINK_WINDOW).map((c) => c()));
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  }
}

/**
 * The VXLAN device's index and its bridge's, per namespace and network, kept between remote
 * endpoints (issue 17: a lookup per endpoint was a third of the rtnetlink requests every host
 * made for each attach anywhere, all waiting on the kernel's one RTNL lock). Dropped when the
 * device is made again or removed here, and when the kernel says the index is gone.
 */
const vxlanIndexes = new Map<string, { vx: number; bridge: number | undefined }>();

function vxlanKey(host: NetnsTarget | null, networkId: string): string | undefined {
  // a namespace given by an open fd has no lasting name
  return typeof host === 'number' ? undefined : `${host ?? ''} ${networkId}`;
}

function forgetVxlanIndex(host: NetnsTarget | null, networkId: string): void {
  const key = vxlanKey(host, networkId);
  if (key !== undefined) vxlanIndexes.delete(key);
}

/**
 * Program one remote endpoint: FDB MAC -> VTEP and a neighbour per address, sent together. Idempotent (replaces).
 * Then its addresses are announced (IPv4: gratuitous ARP; IPv6: unsolicited neighbour
 * advertisement to ff02::1, override flag) on the network's bridge: a local
 * container that asked for one before it existed holds an INCOMPLETE or FAILED entry and would
 * otherwise wait for its next ARP retransmit (1 s by default) although the VXLAN device now
 * answers; one with a stale MAC for a reused address is corrected. The VXLAN device consumes the
 * announcement (ARP proxy), so nothing crosses the underlay.
 */
export async function addRemoteEndpoint(host: NetnsTarget | null, networkId: string, ep: RemoteEndpoint): Promise<void> {
  const names = overlayNames(networkId);
  const key = vxlanKey(host, networkId);
  const bridgeIndex = await withRtnl(host, async (nl) => {
    const program = (vx: number) => pipelined([() => addFdb(nl, vx, ep.mac, { dst: ep.vtep }), ...ep.addresses.map((ip) => () => addNeighbour(nl, vx, ip, ep.mac))]);
    const known = key !== undefined ? vxlanIndexes.get(key) : undefined;
    if (known) {
      try {
        await program(known.vx);
        return known.bridge;
      } catch (err) {
        // made again under another index (or removed) by another process: look it up
        if (!(err instanceof KernelError && err.code === 'ENODEV')) throw err;
        vxlanIndexes.delete(key as string);
      }
    }
    const vx = await getLink(nl, names.vxlan);
    await program(vx.index);
    if (key !== undefined) vxlanIndexes.set(key, { vx: vx.index, bridge: vx.master });
    return vx.master;
  });
  if (bridgeIndex === undefined) return;
  try {
    announceAddresses(host, bridgeIndex, ep.addresses, ep.mac);
  } catch (err) {
    forgetVxlanIndex(host, networkId); // the bridge may be another one now
    throw err;
  }
}

/** Remove a remote endpoint's entries. Idempotent: missing entries (or device) are fine. */
export async function removeRemoteEndpoint(host: NetnsTarget | null, networkId: string, ep: RemoteEndpoint): Promise<void> {
  await withRtnl(host, async (nl) => {
    const vx = await findLink(nl, overlayNames(networkId).vxlan);
    if (!vx) return;
    for (const ip of ep.addresses) await deleteNeighbour(nl, vx.index, ip);
    await deleteFdb(nl, vx.index, ep.mac, { dst: ep.vtep });
  });
}

/**
 * Make the VXLAN device's static entries exactly `wanted`: add what is missing, delete what is
 * not wanted (left by a daemon that was down while endpoints went away). Returns counts.
 */
export async function syncRemoteEndpoints(host: NetnsTarget | null, networkId: string, wanted: readonly RemoteEndpoint[]): Promise<{ added: number; removed: number }> {
  return withRtnl(host, async (nl) => {
    const vx = await getLink(nl, overlayNames(networkId).vxlan);
    const fdbWanted = new Map(wanted.map((e) => [e.mac, e.vtep]));
    const neighWanted = new Map(wanted.flatMap((e) => e.addresses.map((a) => [a, e.mac] as const)));
    // deletions first (a stale entry may hold a MAC or address an added one needs), each phase pipelined
    const fdb = (await listFdb(nl, vx.index)).filter((f) => f.self && f.dst !== undefined);
    const neigh = (await listNeighbours(nl, vx.index)).filter((n) => n.permanent);
    const deletes = [
      ...fdb.filter((f) => fdbWanted.get(f.mac) !== f.dst).map((f) => () => deleteFdb(nl, vx.index, f.mac, { ...(f.dst ? { dst: f.dst } : {}) })),
      ...neigh.filter((n) => neighWanted.get(n.ip) !== n.mac).map((n) => () => deleteNeighbour(nl, vx.index, n.ip)),
    ];
    const haveFdb = new Set(fdb.map((f) => `${f.mac} ${f.dst ?? ''}`));
    const haveNeigh = new Set(neigh.map((n) => `${n.ip} ${n.mac ?? ''}`));
    const adds = [
      ...[...fdbWanted].filter(([mac, vtep]) => !haveFdb.has(`${mac} ${vtep}`)).map(([mac, vtep]) => () => addFdb(nl, vx.index, mac, { dst: vtep })),
      ...[...neighWanted].filter(([ip, mac]) => !haveNeigh.has(`${ip} ${mac}`)).map(([ip, mac]) => () => addNeighbour(nl, vx.index, ip, mac)),
    ];
    await pipelined(deletes);
    await pipelined(adds);
    return { added: adds.length, removed: deletes.length };
  });
}
