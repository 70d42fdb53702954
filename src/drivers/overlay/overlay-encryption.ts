// What `-o encrypted` means in kernel terms on one host: one WireGuard device per host
// (`wgb-<8 hex of the host id>`), holding this host's tunnel address (in the tunnel subnet, claimed in
// the cluster store), listening on UDP 51820, with one peer per other host (allowed-ips = the
// peer's tunnel address/32, persistent keepalive 25 s). The VXLAN device of an encrypted
// network uses the tunnel addresses as its local and remote VTEPs, so its UDP 4789 runs inside
// WireGuard. Fail closed: berth's firewall drops UDP 4789 from or to the tunnel subnet leaving
// through anything but a `wgb-*` device (drivers/firewall.ts), and a VXLAN device bound to a
// tunnel address cannot send at all while that address is gone (device deleted).
//
// The tunnel subnet is one cluster-wide value (tunnel-subnet.ts), so the firewall rule is static
// for a host (no per-host data that a firewall reload could lose).
import { createHash } from 'node:crypto';
import { UserError } from '../../common/errors.js';
import { parseCidr } from '../../ipam/index.js';
import { inTunnelSubnet } from './tunnel-subnet.js';
import { addAddress, deleteAddress, listAddresses } from '../../kernel/addresses.js';
import { probeKernelFeatures } from '../../kernel/features.js';
import { findLink, getLink, setLinkUp, setMtu } from '../../kernel/links.js';
import type { NetnsTarget } from '../../kernel/netns.js';
import { withRtnl } from '../../kernel/rtnl.js';
import {
  configureDevice, dumpDevice, ensureDevice, setPeers, stopDevice, wireguardGoPath, wireguardGoProcess, type WireGuardImplementation, type WireGuardPeer,
} from '../../kernel/wireguard.js';

export type { WireGuardImplementation } from '../../kernel/wireguard.js';

/** berth's WireGuard devices: the firewall lets tunnel-subnet VXLAN out through these only. */
export const WG_IFNAME_PREFIX = 'wgb-';
export const WG_PORT = 51820;
/** WireGuard over IPv6 worst case: outer IPv6 (40) + UDP (8) + WireGuard header (16) + tag (16). */
export const WIREGUARD_OVERHEAD = 80;
export const PERSISTENT_KEEPALIVE = 25;

/** The WireGuard device name of a host: distinct per host, since wireguard-go's UAPI directory is shared. */
export function wireguardIfname(hostId: string): string {
  return `${WG_IFNAME_PREFIX}${createHash('sha256').update(hostId).digest('hex').slice(0, 8)}`;
}

/** True when address is in the cluster's tunnel subnet. */
export function isTunnelAddress(address: string, tunnelSubnet: string): boolean {
  return inTunnelSubnet(tunnelSubnet, address);
}

/** The kernel's WireGuard where it has one (found by trying, in a throwaway namespace), else wireguard-go. */
export async function detectImplementation(): Promise<WireGuardImplementation> {
  if ((await probeKernelFeatures()).wireguard) return 'kernel';
  if (wireguardGoPath()) return 'wireguard-go';
  throw new UserError('encrypted overlay networks need WireGuard: this kernel has no wireguard module and wireguard-go is not installed (install the wireguard-go package, or create the network without -o encrypted)');
}

export interface MeshDeviceSpec {
  ifname: string;
  /** this host's address in the tunnel subnet */
  tunnelAddress: string;
  /** the cluster's tunnel subnet (the address's prefix length) */
  tunnelSubnet: string;
  /** underlay MTU − WIREGUARD_OVERHEAD */
  mtu: number;
  listenPort: number;
  /** 0600 file holding the private key */
  privateKeyFile: string;
  /** its public half: an adopted device already holding it (and the port) is left as it is */
  publicKey: string;
  /** pid and log files of wireguard-go */
  runDir: string;
}

export interface MeshPeer {
  publicKey: string;
  endpoint: string;
  tunnelAddress: string;
}

/**
 * The host's WireGuard device: made (or its wireguard-go adopted), keyed, listening, addressed,
 * up. Idempotent. True when the device was made now (its peers must be configured again).
 */
export async function ensureMeshDevice(netns: NetnsTarget | null, spec: MeshDeviceSpec, impl: WireGuardImplementation): Promise<boolean> {
  const created = await ensureDevice(netns, { ifname: spec.ifname, runDir: spec.runDir }, impl);
  const have = created ? undefined : await dumpDevice(netns, spec.ifname);
  if (have?.publicKey !== spec.publicKey) await configureDevice(netns, spec.ifname, { privateKeyFile: spec.privateKeyFile });
  if (have?.listenPort !== spec.listenPort) await configureDevice(netns, spec.ifname, { listenPort: spec.listenPort });
  const cidr = `${spec.tunnelAddress}/${parseCidr(spec.tunnelSubnet).prefix}`;
  await withRtnl(netns, async (nl) => {
    const link = await getLink(nl, spec.ifname);
    if (link.mtu !== spec.mtu) await setMtu(nl, link.index, spec.mtu);
    const have = await listAddresses(nl, { index: link.index });
    // an address from an earlier claim (the cluster store was rebuilt, or another tunnel subnet):
    // the device holds this host's tunnel address only
    for (const a of have) if (a.cidr !== cidr && !a.ip.includes(':')) await deleteAddress(nl, link.index, a.cidr);
    if (!have.some((a) => a.cidr === cidr)) await addAddress(nl, link.index, cidr);
    if (!link.up) await setLinkUp(nl, link.index);
  });
  return created;
}

/** True while the device exists and is up, with its wireguard-go (if any) alive. */
export async function meshDeviceUp(netns: NetnsTarget | null, spec: Pick<MeshDeviceSpec, 'ifname' | 'runDir'>, impl: WireGuardImplementation): Promise<boolean> {
  if (impl === 'wireguard-go' && wireguardGoProcess(spec) === undefined) return false;
  const link = await withRtnl(netns, (nl) => findLink(nl, spec.ifname));
  return link !== undefined && link.up;
}

/** Apply a new private key to the running device (sessions restart; peers must learn the public key). */
export async function rekeyMeshDevice(netns: NetnsTarget | null, spec: Pick<MeshDeviceSpec, 'ifname' | 'privateKeyFile'>): Promise<void> {
  await configureDevice(netns, spec.ifname, { privateKeyFile: spec.privateKeyFile });
}

export async function removeMeshDevice(netns: NetnsTarget | null, spec: Pick<MeshDeviceSpec, 'ifname' | 'runDir'>, impl: WireGuardImplementation): Promise<void> {
  await stopDevice(netns, spec, impl);
}

function peerConfig(p: MeshPeer): WireGuardPeer {
  return { publicKey: p.publicKey, endpoint: p.endpoint, allowedIps: [`${p.tunnelAddress}/32`], persistentKeepalive: PERSISTENT_KEEPALIVE };
}

/**
 * Make the device's peers exactly `wanted`: unknown keys removed, new or changed ones (key,
 * endpoint, address) set with persistent keepalive, which also makes this side start a
 * handshake at once: a peer that restarted or rotated its key is reachable again without
 * waiting for a rekey timer. Returns what changed.
 */
export async function syncMeshPeers(netns: NetnsTarget | null, ifname: string, wanted: readonly MeshPeer[]): Promise<{ put: number; removed: number }> {
  const have = await dumpDevice(netns, ifname);
  const want = new Map(wanted.map((p) => [p.publicKey, p]));
  const remove = have.peers.filter((p) => !want.has(p.publicKey)).map((p) => p.publicKey);
  const put = wanted.filter((w) => {
    const h = have.peers.find((p) => p.publicKey === w.publicKey);
    return !h || h.endpoint !== w.endpoint || h.allowedIps.join(',') !== `${w.tunnelAddress}/32` || h.persistentKeepalive !== PERSISTENT_KEEPALIVE;
  });
  await setPeers(netns, ifname, { put: put.map(peerConfig), remove });
  return { put: put.length, removed: remove.length };
}
