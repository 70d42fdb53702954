// A namespace's links, addresses and routes kept from rtnetlink notifications instead of dumped
// on every read (issue 15: with 500 containers the topology page's daemon dumped ~500 links per
// change). One socket joins the link, address and route groups, dumps once, then applies each
// notification: a read costs one round trip (which also makes sure every notification sent before
// it was applied), not a dump. Only the main table's default routes are kept
// (what the topology draws: the uplinks; every veth brings an IPv6 route of its own): they are
// dumped again only after a notification about a default route, or when the link of one goes
// down or away (the kernel drops a link's IPv4 routes without telling). A lost notification (the socket's buffer ran over) makes the next
// read dump everything again. An IPv6 address still tentative (DAD not done: on a link with no
// carrier it waits) is in a dump but announced only when DAD completes: until then the watch
// does not have it.
import { rt, type NetlinkMessage } from 'netlink';
import { type AddressInfo, listAddresses, toAddressInfo } from './addresses.js';
import { type LinkInfo, listLinks, toLinkInfo } from './links.js';
import { AF_INET, AF_INET6, listRoutes, type RouteInfo } from './routes.js';
import { Rtnl } from './rtnl.js';
import type { NetnsTarget } from './netns.js';

// include/uapi/linux/rtnetlink.h
const RTM = { NEWLINK: 16, DELLINK: 17, NEWADDR: 20, DELADDR: 21, NEWROUTE: 24, DELROUTE: 25 } as const;
const AF_BRIDGE = 7;
const GROUPS = ['LINK', 'IPV4_IFADDR', 'IPV6_IFADDR', 'IPV4_ROUTE', 'IPV6_ROUTE'] as const;
/** room for a burst of notifications (a few hundred bytes each) between two reads */
const RCVBUF = 4 << 20;

export interface HostNetState {
  links: LinkInfo[];
  addrs: AddressInfo[];
  /** the main table's default routes (IPv4 and IPv6) */
  routes: RouteInfo[];
}

const RT_TABLE_MAIN = 254;

/** What a watch has done: dumps are the cost that must not come back with every change. */
export interface HostWatchCounts {
  linkDumps: number;
  addressDumps: number;
  routeDumps: number;
  notifications: number;
  /** why the watch had to dump everything again (a socket error: notifications lost) */
  resyncs: string[];
}

const addrKey = (a: AddressInfo): string => `${a.index}/${a.cidr}`;

export class HostWatch {
  /** joined to the groups: notifications, and the barrier's one-message answers */
  private readonly monitor: Rtnl;
  /** dumps: a dump's multipart answer on the monitor socket, interleaved with notifications, broke the netlink library's reassembly ("Multipart message not terminated properly") */
  private readonly nl: Rtnl;
  private links = new Map<number, LinkInfo>();
  private addrs = new Map<string, AddressInfo>();
  private routes: RouteInfo[] = [];
  private linksStale = true;
  private routesStale = true;
  /** notifications that came while a dump was running: applied after it, in order */
  private queued: NetlinkMessage[] | undefined;
  private closed = false;
  readonly counts: HostWatchCounts = { linkDumps: 0, addressDumps: 0, routeDumps: 0, notifications: 0, resyncs: [] };

  constructor(netns: NetnsTarget | null) {
    this.monitor = Rtnl.open(netns);
    this.nl = Rtnl.open(netns);
    this.nl.sock.socket.unref();
    const sock = this.monitor.sock;
    sock.socket.setRecvBufferSize(RCVBUF);
    for (const g of GROUPS) sock.addMembership(g);
    // the raw messages (the rtnetlink layer's parsed ones do not say new from deleted)
    sock.socket.on('message', (msgs: NetlinkMessage[]) => {
      if (this.queued) this.queued.push(...msgs);
      else for (const m of msgs) this.apply(m);
    });
    // ENOBUFS: notifications were lost; read everything anew next time
    sock.socket.on('error', (err: Error) => {
      this.linksStale = true;
      this.routesStale = true;
      this.counts.resyncs.push(err.message);
    });
    // a watch does not keep the process alive
    sock.socket.unref();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.monitor.close();
    this.nl.close();
  }

  /** The state now: every notification the kernel sent before this call is in it. */
  async read(): Promise<HostNetState> {
    if (this.closed) throw new Error('the host watch is closed');
    if (this.linksStale) await this.dumpLinksAndAddresses();
    else await this.barrier();
    if (this.routesStale) {
      this.routesStale = false;
      this.counts.routeDumps++;
      try {
        this.routes = [...(await listRoutes(this.nl, AF_INET)), ...(await listRoutes(this.nl, AF_INET6))].filter((r) => r.dst === 'default');
      } catch (err) {
        this.routesStale = true;
        throw err;
      }
    }
    return { links: [...this.links.values()], addrs: [...this.addrs.values()], routes: this.routes };
  }

  private async dumpLinksAndAddresses(): Promise<void> {
    this.linksStale = false;
    this.queued = [];
    try {
      this.counts.linkDumps++;
      const links = await listLinks(this.nl);
      this.counts.addressDumps++;
      const addrs = await listAddresses(this.nl);
      this.links = new Map(links.map((l) => [l.index, l]));
      this.addrs = new Map(addrs.map((a) => [addrKey(a), a]));
      // every notification sent before the dump ended is queued now
      await this.barrier();
    } catch (err) {
      this.linksStale = true;
      throw err;
    } finally {
      const q = this.queued;
      this.queued = undefined;
      for (const m of q) this.apply(m);
    }
  }

  /** One request on the socket: its answer comes after every notification queued before it. */
  private async barrier(): Promise<void> {
    await this.monitor.call('get link #1', (s) => s.getLink({ index: 1 }));
  }

  private apply(m: NetlinkMessage): void {
    this.counts.notifications++;
    switch (m.type) {
      case RTM.NEWLINK:
      case RTM.DELLINK: {
        const msg = rt.parseMessage(m.type, m.data);
        // a bridge's port events (AF_BRIDGE) carry only some attributes, and their DELLINK is a
        // port leaving its bridge, not a link gone: the link's own notification says it all
        if (msg.kind !== 'link' || msg.data.family === AF_BRIDGE) return;
        const l = toLinkInfo(msg);
        // a default route's link down or gone: the kernel may have dropped the route silently
        if ((m.type === RTM.DELLINK || !l.up) && this.routes.some((r) => r.oif === l.index)) this.routesStale = true;
        if (m.type === RTM.DELLINK) {
          this.links.delete(l.index);
          // the kernel removes a gone link's addresses without telling each
          for (const [k, a] of this.addrs) if (a.index === l.index) this.addrs.delete(k);
        } else {
          this.links.set(l.index, l);
        }
        return;
      }
      case RTM.NEWADDR:
      case RTM.DELADDR: {
        const msg = rt.parseMessage(m.type, m.data);
        if (msg.kind !== 'address') return;
        const a = toAddressInfo(msg);
        if (!a) return;
        if (m.type === RTM.DELADDR) this.addrs.delete(addrKey(a));
        else this.addrs.set(addrKey(a), a);
        return;
      }
      case RTM.NEWROUTE:
      case RTM.DELROUTE: {
        const msg = rt.parseMessage(m.type, m.data);
        if (msg.kind !== 'route') return;
        const table = msg.attrs.table ?? msg.data.table ?? 0;
        if (table === RT_TABLE_MAIN && !msg.data.dstLen) this.routesStale = true;
        return;
      }
      default:
        return;
    }
  }
}
