// The NAT-free bridge (the seed's idea): a NIC is enslaved to the network's bridge and its
// addresses and routes move onto the bridge, so containers get addresses of the physical LAN and
// are reached directly from the switch. Done in one step that puts everything back if any part
// fails, and undone on network rm.
import { addAddress, deleteAddress, listAddresses } from '../../kernel/addresses.js';
import { createBridge, deleteLink, findLink, getLink, setLinkUp, setMaster } from '../../kernel/links.js';
import type { NetnsTarget } from '../../kernel/netns.js';
import { AF_INET, AF_INET6, addRoute, deleteRoute, listRoutes, type RouteSpec } from '../../kernel/routes.js';
import { withRtnl, type Rtnl } from '../../kernel/rtnl.js';

/** What the bridge took over from the parent; enough to give it back exactly. */
export interface ParentState {
  parent: string;
  mtu: number;
  wasUp: boolean;
  addresses: string[];
  routes: RouteSpec[];
}

const RT_TABLE_LOCAL = 255;

/**
 * Routes through ifindex that someone added (not the ones the kernel derives from addresses), in
 * every table, with what makes them what they are: gateway, metric, table, source, protocol.
 */
async function movableRoutes(nl: Rtnl, index: number): Promise<RouteSpec[]> {
  const out: RouteSpec[] = [];
  for (const family of [AF_INET, AF_INET6]) {
    for (const r of await listRoutes(nl, family, 0)) {
      if (r.oif !== index || r.protocol === 'KERNEL' || r.type !== 'UNICAST' || r.table === RT_TABLE_LOCAL) continue;
      if (family === AF_INET6 && r.dst.startsWith('fe80:')) continue;
      out.push({
        dst: r.dst,
        family,
        table: r.table,
        protocol: r.protocol,
        ...(r.gateway ? { gateway: r.gateway } : {}),
        ...(r.metric !== undefined ? { metric: r.metric } : {}),
        ...(r.src ? { src: r.src } : {}),
      });
    }
  }
  return out;
}

async function globalAddresses(nl: Rtnl, index: number): Promise<string[]> {
  return (await listAddresses(nl, { index })).filter((a) => !a.ip.startsWith('fe80:')).map((a) => a.cidr);
}

/** Move addresses and routes from one link to another, recording each step for rollback. */
async function move(nl: Rtnl, from: number, to: number, addresses: string[], routes: RouteSpec[], undo: (() => Promise<unknown>)[]): Promise<void> {
  for (const r of routes) {
    await deleteRoute(nl, { ...r, oif: from });
    undo.push(() => addRoute(nl, { ...r, oif: from }));
  }
  for (const a of addresses) {
    await deleteAddress(nl, from, a);
    undo.push(() => addAddress(nl, from, a));
    await addAddress(nl, to, a);
    undo.push(() => deleteAddress(nl, to, a));
  }
  // routes need their addresses in place first (a gateway must be reachable)
  for (const r of routes) {
    await addRoute(nl, { ...r, oif: to });
    undo.push(() => deleteRoute(nl, { ...r, oif: to }));
  }
}

async function rollback(undo: (() => Promise<unknown>)[]): Promise<void> {
  for (const step of undo.reverse()) await step().catch(() => undefined);
}

/** Create `bridge`, enslave `parent` and move its addresses and routes onto the bridge. */
export async function adoptParent(host: NetnsTarget | null, bridge: string, parent: string, opts: { mtu?: number; alias?: string } = {}): Promise<ParentState> {
  return withRtnl(host, async (nl) => {
    const nic = await getLink(nl, parent);
    const state: ParentState = {
      parent,
      mtu: nic.mtu,
      wasUp: nic.up,
      addresses: await globalAddresses(nl, nic.index),
      routes: await movableRoutes(nl, nic.index),
    };
    const undo: (() => Promise<unknown>)[] = [];
    try {
      // the bridge takes the NIC's MAC, so neighbours' ARP caches stay right
      await createBridge(nl, { name: bridge, mtu: opts.mtu ?? nic.mtu, ...(nic.mac ? { mac: nic.mac } : {}), ...(opts.alias ? { alias: opts.alias } : {}) });
      undo.push(() => deleteLink(nl, bridge));
      const br = await getLink(nl, bridge);
      await setMaster(nl, nic.index, br.index);
      undo.push(() => setMaster(nl, nic.index, 0));
      await setLinkUp(nl, br.index);
      if (!nic.up) {
        await setLinkUp(nl, nic.index);
        undo.push(() => setLinkUp(nl, nic.index, false));
      }
      await move(nl, nic.index, br.index, state.addresses, state.routes, undo);
      return state;
    } catch (err) {
      await rollback(undo);
      throw err;
    }
  });
}

/** Give the parent back its addresses and routes, release it, delete the bridge. Idempotent. */
export async function releaseParent(host: NetnsTarget | null, bridge: string, state: ParentState): Promise<void> {
  await withRtnl(host, async (nl) => {
    const nic = await getLink(nl, state.parent);
    const br = await findLink(nl, bridge);
    if (br) {
      const undo: (() => Promise<unknown>)[] = [];
      const onBridge = new Set(await globalAddresses(nl, br.index));
      try {
        await move(nl, br.index, nic.index, state.addresses.filter((a) => onBridge.has(a)), state.routes, undo);
      } catch (err) {
        await rollback(undo);
        throw err;
      }
      await setMaster(nl, nic.index, 0);
      await deleteLink(nl, bridge);
    }
    if (!state.wasUp && nic.up) await setLinkUp(nl, nic.index, false);
  });
}
