// The bridge driver: what a bridge network and its endpoints are in kernel terms. A network is
// a Linux bridge holding the gateway address, plus elements in berth's nft table; an endpoint
// is a veth pair, host side on the bridge, container side born inside the sandbox as ethN.
import { createHash, randomBytes } from 'node:crypto';
import { addAddress } from '../../kernel/addresses.js';
import { announceAddresses } from '../../kernel/announce.js';
import { createBridge, createVethPort, deleteLink, findLink, getLink, LOOPBACK_IFINDEX, setLinkUp, setMac } from '../../kernel/links.js';
import { openNetns, type NetnsTarget } from '../../kernel/netns.js';
import { addRoute } from '../../kernel/routes.js';
import { KernelError, withRtnl } from '../../kernel/rtnl.js';
import { sysctls, writeSysctl } from '../../kernel/sysctl.js';
import { addBridgeRules, ensureFirewall, removeBridgeRules, type BridgeFirewall } from './firewall.js';
import { trace } from '../../common/trace.js';

export interface BridgeSpec {
  /** the bridge's interface name (berth0, br-<12 hex>) */
  ifname: string;
  /** gateway addresses with prefix, e.g. 172.17.0.1/16 (none in gateway mode isolated) */
  gateways: string[];
  /** subnets masqueraded on the way out (empty: no NAT) */
  nat4: string[];
  nat6: string[];
  internal: boolean;
  inbound: 'nat' | 'nat-unprotected' | 'routed';
  mtu?: number;
  /** marks the bridge as berth's (IFLA_IFALIAS), e.g. berth:network:<id> */
  alias?: string;
  /** the network's subnets */
  subnets?: string[];
  /** a NAT-free bridge wears its NIC's MAC, set when bridge-parent.ts made it: left as it is */
  keepMac?: boolean;
}

const ignoreExists = (err: unknown): void => {
  if (!(err instanceof KernelError && err.code === 'EEXIST')) throw err;
};

function firewallOf(spec: BridgeSpec): BridgeFirewall {
  return { bridge: spec.ifname, subnets: spec.subnets ?? [], nat4: spec.nat4, nat6: spec.nat6, internal: spec.internal, inbound: spec.inbound };
}

/** Create the bridge if it is missing and make sure it is up, addressed and in the firewall. Idempotent. */
export async function ensureBridge(host: NetnsTarget | null, spec: BridgeSpec, opts: { tunnelSubnet: string; firewallChecked?: boolean }): Promise<void> {
  const mac = bridgeMacOf(spec);
  const remacked = await withRtnl(host, async (nl) => {
    let br = await findLink(nl, spec.ifname);
    if (!br) {
      // another berth process may create it at the same moment: EEXIST means it won the race
      await createBridge(nl, { name: spec.ifname, ...(spec.keepMac ? {} : { mac }), ...(spec.mtu ? { mtu: spec.mtu } : {}), ...(spec.alias ? { alias: spec.alias } : {}) }).catch(ignoreExists);
      br = await getLink(nl, spec.ifname);
    }
    // a bridge made before the MAC was fixed (or changed by hand): fixed now, and announced below
    const remac = !spec.keepMac && br.mac !== undefined && br.mac !== mac;
    if (remac) await setMac(nl, br.index, mac);
    // an add that finds the address there answers EEXIST: one round trip per gateway, where a
    // listing dumped every address of the host (a link-local one per veth: it grew with containers)
    for (const gw of spec.gateways) await addAddress(nl, br.index, gw).catch(ignoreExists);
    if (!br.up) await setLinkUp(nl, br.index);
    return remac ? br.index : undefined;
  });
  // the containers on it hold the gateway at its old MAC: tell them now, not when their entry expires
  if (remacked !== undefined) announceGateways(host, remacked, spec.gateways, mac);
  trace('bridge: link and addresses');
  if (!spec.internal) {
    if (spec.gateways.some((g) => !g.includes(':'))) writeSysctl(host, sysctls.ipForward, '1');
    if (spec.gateways.some((g) => g.includes(':'))) writeSysctl(host, sysctls.ipv6Forwarding, '1');
  }
  // Never route 127/8 on a bridge (berth once set it to 1: put it back). With it, a flushed nft
  // table let a container's forged packet reach the host's 127.0.0.1 services (issue 11); the
  // host's own connections to published ports go through berth-init's relay instead.
  writeSysctl(host, sysctls.routeLocalnet(spec.ifname), '0');
  trace('bridge: sysctls');
  // the caller may have just found berth's table current (engine/networks.ts ensureNetworkKernel)
  if (!opts.firewallChecked) ensureFirewall(host, opts.tunnelSubnet);
  addBridgeRules(host, firewallOf(spec));
}

/**
 * The bridge's own MAC, set when it is made. Why: a bridge whose MAC the kernel chose takes the
 * lowest MAC among its ports, so it changes when a container joins or leaves, and every other
 * container keeps sending to the gateway's old MAC until its neighbour entry expires (up to ~45 s
 * without DNS or a way out; Docker sets the MAC for the same reason). From the IPv4 gateway
 * (02:42 + its address, Docker's classic scheme: no container has that address); without one,
 * from the bridge's name. Locally administered, unicast.
 */
export function bridgeMacOf(spec: Pick<BridgeSpec, 'ifname' | 'gateways'>): string {
  const v4 = spec.gateways.find((g) => !g.includes(':'));
  if (v4) return macForIpv4(v4);
  const hash = createHash('sha256').update(`berth-bridge:${spec.ifname}`).digest();
  return ['02', ...[...hash.subarray(0, 5)].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

function announceGateways(host: NetnsTarget | null, ifindex: number, gateways: readonly string[], mac: string): void {
  // best effort: without it the entries still expire on their own, as before
  try {
    announceAddresses(host, ifindex, gateways.map((g) => g.split('/')[0] ?? ''), mac);
  } catch {
    /* nothing to undo */
  }
}

/** Delete the bridge and its firewall elements. Idempotent. */
export async function removeBridge(host: NetnsTarget | null, spec: BridgeSpec): Promise<void> {
  removeBridgeRules(host, firewallOf(spec));
  await withRtnl(host, (nl) => deleteLink(nl, spec.ifname));
}

export interface EndpointSpec {
  bridge: string;
  /** the sandbox: the container's network namespace */
  netns: string;
  /** name inside the sandbox: eth0, eth1… */
  ifname: string;
  /** host-side name; veth<7 hex> when absent */
  hostIfname?: string;
  /** addresses with prefix, e.g. 172.17.0.2/16 */
  addresses: string[];
  /** default route via these gateways (one per family at most) */
  defaultGateways: string[];
  mac?: string;
  mtu?: number;
  /** bridge port isolation: the endpoint reaches the gateway but no other isolated port (icc=false) */
  isolated?: boolean;
  /** marks the host side as berth's (IFLA_IFALIAS), e.g. berth:endpoint:<id> */
  alias?: string;
  /**
   * The runtime moves the sandbox end itself (Docker's remote driver Join): it is born in the host
   * namespace as ifname, down and without addresses (the runtime renames and configures it); netns is unused.
   */
  handOver?: boolean;
}

export interface AttachedEndpoint {
  hostIfname: string;
  mac: string;
}

export function newVethName(): string {
  return `veth${randomBytes(4).toString('hex').slice(0, 7)}`;
}

/** Docker's classic scheme: 02:42 followed by the IPv4 address, so the MAC says who it is. */
export function macForIpv4(cidrOrIp: string): string {
  const ip = cidrOrIp.split('/')[0] ?? '';
  return ['02', '42', ...ip.split('.').map((o) => Number(o).toString(16).padStart(2, '0'))].join(':');
}

/**
 * Plug a sandbox into a bridge. On failure nothing is left behind. Host side: the bridge's
 * lookup, the pair (peer born in the sandbox with its name and MAC; host end enslaved), the
 * port's flags and up state. Sandbox side: lo up and the peer's lookup sent together, then its
 * addresses, up state and routes sent together: the kernel takes them in the order they are sent.
 * (No dump among them: the netlink package follows one multipart answer per socket at a time.)
 */
export async function attachEndpoint(host: NetnsTarget | null, ep: EndpointSpec): Promise<AttachedEndpoint> {
  const hostIfname = ep.hostIfname ?? newVethName();
  const v4 = ep.addresses.find((a) => !a.includes(':'));
  const mac = ep.mac ?? (v4 ? macForIpv4(v4) : undefined);
  const sandbox = ep.handOver ? undefined : openNetns(ep.netns);
  try {
    return await withRtnl(host, async (nl) => {
      const br = await getLink(nl, ep.bridge);
      // on failure it leaves nothing (and a name already taken is not ours to delete)
      await createVethPort(nl, {
        name: hostIfname,
        peerName: ep.ifname,
        master: br.index,
        // hairpin: a container may reach its own published port through the host address
        port: { hairpin: true, isolated: Boolean(ep.isolated) },
        ...(sandbox ? { peerNetnsFd: sandbox.fd } : {}),
        ...(mac ? { peerMac: mac } : {}),
        ...(ep.mtu ? { mtu: ep.mtu } : {}),
        ...(ep.alias ? { alias: ep.alias } : {}),
      });
      try {
        if (!sandbox) return { hostIfname, mac: mac ?? (await getLink(nl, ep.ifname)).mac ?? '' };
        const peerMac = await withRtnl(ep.netns, async (inner) => {
          const [, eth] = await Promise.all([setLinkUp(inner, LOOPBACK_IFINDEX), getLink(inner, ep.ifname)]);
          await Promise.all([
            ...ep.addresses.map((a) => addAddress(inner, eth.index, a)),
            setLinkUp(inner, eth.index),
            ...ep.defaultGateways.map((gw) => addRoute(inner, { dst: 'default', gateway: gw, oif: eth.index }, { replace: true })),
          ]);
          return eth.mac ?? '';
        });
        return { hostIfname, mac: peerMac };
      } catch (err) {
        await deleteLink(nl, hostIfname);
        throw err;
      }
    });
  } finally {
    sandbox?.close();
  }
}

/** Unplug: deleting the host side removes the pair. Idempotent. */
export async function detachEndpoint(host: NetnsTarget | null, hostIfname: string): Promise<void> {
  await withRtnl(host, (nl) => deleteLink(nl, hostIfname));
}
