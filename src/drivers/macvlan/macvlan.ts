// The macvlan driver: what a macvlan network and its endpoints are in kernel terms. A network is
// a parent NIC (the user's, an 802.1q sub-interface berth made, or for an internal network a
// port-less bridge berth made) and, with host_access, a macvlan "shim" of that parent on the host.
// An endpoint is a macvlan child of the parent, born inside the sandbox as ethN with its own MAC.
// No NAT, no bridge in the path, no firewall elements: frames go from the child to the parent's wire.
import { addAddress, listAddresses } from '../../kernel/addresses.js';
import { createBridge, createMacvlan, createVlan, deleteLink, findLink, getLink, setLinkUp, type MacvlanMode } from '../../kernel/links.js';
import { isNetnsPath, openNetns, type NetnsTarget } from '../../kernel/netns.js';
import { addRoute, deleteRoute } from '../../kernel/routes.js';
import { KernelError, withRtnl } from '../../kernel/rtnl.js';
import { sysctls, writeSysctl } from '../../kernel/sysctl.js';
import { SystemError } from '../../common/errors.js';

/** What berth made the parent from (and removes with the network). */
export type MacvlanCreatedParent =
  /**
   * Internal network (no -o parent). Docker uses a `dummy` link; this kernel has none. A bridge
   * without ports is an Ethernet device that has carrier once up (a veth would need its peer up
   * too), accepts macvlan children, and sends what they emit nowhere: the children of one
   * parent reach each other (bridge mode) and nothing else.
   */
  | { kind: 'bridge' }
  /** -o parent=IF.VID where no such interface existed */
  | { kind: 'vlan'; link: string; vid: number };

export interface MacvlanNetworkSpec {
  parent: string;
  createdParent?: MacvlanCreatedParent;
  /** host_access: the shim's name and its addresses (`ip/32`, `ip/128`) */
  shim?: { ifname: string; addresses: string[] };
  mtu?: number;
  /** marks the links berth makes (IFLA_IFALIAS), e.g. berth:network:<id> */
  alias: string;
}

const ignoreExists = (err: unknown): void => {
  if (!(err instanceof KernelError && err.code === 'EEXIST')) throw err;
};

/** Make sure the parent (if berth makes it) and the shim exist and are up. Idempotent. */
export async function ensureMacvlanNetwork(host: NetnsTarget | null, spec: MacvlanNetworkSpec): Promise<void> {
  await withRtnl(host, async (nl) => {
    const made = spec.createdParent;
    let parent = await findLink(nl, spec.parent);
    if (!parent && made) {
      // another berth process may create it at the same moment: EEXIST means it won the race
      if (made.kind === 'bridge') {
        await createBridge(nl, { name: spec.parent, ...(spec.mtu ? { mtu: spec.mtu } : {}), alias: spec.alias }).catch(ignoreExists);
      } else {
        const link = await findLink(nl, made.link);
        if (!link) throw new SystemError(`interface "${made.link}" (the base of VLAN sub-interface ${spec.parent}) is gone from this host`);
        await createVlan(nl, { name: spec.parent, parent: link.index, vid: made.vid, alias: spec.alias }).catch(ignoreExists);
      }
      parent = await getLink(nl, spec.parent);
    }
    if (!parent) throw new SystemError(`parent interface "${spec.parent}" of the macvlan network is gone from this host: bring it back, or remove the network`);
    if (made && !parent.up) await setLinkUp(nl, parent.index);
    if (!spec.shim) return;
    let shim = await findLink(nl, spec.shim.ifname);
    if (!shim) {
      await createMacvlan(nl, { name: spec.shim.ifname, parent: parent.index, mode: 'bridge', alias: spec.alias }).catch(ignoreExists);
      shim = await getLink(nl, spec.shim.ifname);
    }
    // the shim answers ARP only for its own address: the LAN keeps finding the host's own
    // addresses at the parent's MAC (no "ARP flux" between the two)
    writeSysctl(host, sysctls.arpIgnore(shim.name), '1');
    writeSysctl(host, sysctls.arpAnnounce(shim.name), '2');
    const have = new Set((await listAddresses(nl, { index: shim.index })).map((a) => a.cidr));
    for (const a of spec.shim.addresses) if (!have.has(a)) await addAddress(nl, shim.index, a).catch(ignoreExists);
    if (!shim.up) await setLinkUp(nl, shim.index);
  });
}

/** Delete the shim and whatever parent berth made. Idempotent. */
export async function removeMacvlanNetwork(host: NetnsTarget | null, spec: MacvlanNetworkSpec): Promise<void> {
  await withRtnl(host, async (nl) => {
    if (spec.shim) await deleteLink(nl, spec.shim.ifname);
    if (spec.createdParent) await deleteLink(nl, spec.parent);
  });
}

/** What is wrong with a network's kernel objects (for `system check`); empty when all is well. */
export async function macvlanNetworkProblems(host: NetnsTarget | null, spec: MacvlanNetworkSpec): Promise<string[]> {
  return withRtnl(host, async (nl) => {
    const problems: string[] = [];
    const parent = await findLink(nl, spec.parent);
    if (!parent) problems.push(`parent interface ${spec.parent} is missing`);
    else if (spec.createdParent && !parent.up) problems.push(`parent interface ${spec.parent} is down`);
    if (spec.shim) {
      const shim = await findLink(nl, spec.shim.ifname);
      if (!shim) problems.push(`host shim ${spec.shim.ifname} is missing`);
      else {
        const have = new Set((await listAddresses(nl, { index: shim.index })).map((a) => a.cidr));
        const missing = spec.shim.addresses.filter((a) => !have.has(a));
        if (!shim.up) problems.push(`host shim ${shim.name} is down`);
        if (missing.length) problems.push(`host shim ${shim.name} lacks ${missing.join(', ')}`);
      }
    }
    return problems;
  });
}

/** The MAC of an interface of the host (a passthru child takes its parent's). */
export async function linkMac(host: NetnsTarget | null, name: string): Promise<string | undefined> {
  return withRtnl(host, async (nl) => (await getLink(nl, name)).mac);
}

export interface MacvlanEndpointSpec {
  parent: string;
  mode: MacvlanMode;
  /** the sandbox: the container's network namespace */
  netns: string;
  /** name inside the sandbox: eth0, eth1… */
  ifname: string;
  /** addresses with prefix, e.g. 192.168.50.130/24 */
  addresses: string[];
  mac?: string;
  mtu?: number;
  /** host_access: the host reaches these addresses through this shim (a host route each) */
  shim?: string;
  /** the runtime moves the child itself (Docker's plugin Join): born in the host namespace, down, unconfigured */
  handOver?: boolean;
}

const hostRoute = (cidr: string): string => {
  const ip = cidr.split('/')[0] ?? '';
  return `${ip}/${ip.includes(':') ? 128 : 32}`;
};

/** Plug a sandbox into a macvlan network. On failure nothing is left behind. */
export async function attachMacvlan(host: NetnsTarget | null, ep: MacvlanEndpointSpec): Promise<{ mac: string }> {
  const sandbox = ep.handOver ? undefined : openNetns(ep.netns);
  try {
    return await withRtnl(host, async (nl) => {
      const parent = await getLink(nl, ep.parent);
      // born inside the sandbox under its final name: the host never sees it, no rename step
      await createMacvlan(nl, {
        name: ep.ifname,
        parent: parent.index,
        mode: ep.mode,
        ...(sandbox ? { netnsFd: sandbox.fd } : {}),
        ...(ep.mac ? { mac: ep.mac } : {}),
        ...(ep.mtu ? { mtu: ep.mtu } : {}),
      });
      try {
        const mac = !sandbox ? ((await getLink(nl, ep.ifname)).mac ?? '') : await withRtnl(ep.netns, async (inner) => {
          const lo = await getLink(inner, 'lo');
          if (!lo.up) await setLinkUp(inner, lo.index);
          const eth = await getLink(inner, ep.ifname);
          for (const a of ep.addresses) await addAddress(inner, eth.index, a);
          await setLinkUp(inner, eth.index);
          return eth.mac ?? '';
        });
        if (ep.shim) {
          const shim = await getLink(nl, ep.shim);
          for (const a of ep.addresses) await addRoute(nl, { dst: hostRoute(a), oif: shim.index }, { replace: true });
        }
        return { mac };
      } catch (err) {
        await detachMacvlan(host, ep);
        throw err;
      }
    });
  } finally {
    sandbox?.close();
  }
}

/**
 * Unplug: the host routes through the shim go, and the child is deleted inside the sandbox if
 * the sandbox is still there (deleting the namespace would take the child with it). Idempotent.
 */
export async function detachMacvlan(host: NetnsTarget | null, ep: { netns: string; ifname: string; addresses: string[]; shim?: string; handOver?: boolean }): Promise<void> {
  if (ep.handOver) {
    // not (yet) moved by the runtime: it is still in the host namespace
    await withRtnl(host, async (nl) => {
      if ((await findLink(nl, ep.ifname))?.kind === 'macvlan') await deleteLink(nl, ep.ifname);
    });
  }
  if (ep.shim) {
    const shim = ep.shim;
    await withRtnl(host, async (nl) => {
      const link = await findLink(nl, shim);
      if (!link) return;
      for (const a of ep.addresses) await deleteRoute(nl, { dst: hostRoute(a), oif: link.index });
    });
  }
  if (!isNetnsPath(ep.netns)) return;
  await withRtnl(ep.netns, async (nl) => {
    const eth = await findLink(nl, ep.ifname);
    // only a macvlan child: a namespace reused by a new endpoint of another driver keeps its link
    if (eth?.kind === 'macvlan') await deleteLink(nl, ep.ifname);
  });
}
