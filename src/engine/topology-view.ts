// The topology as drawn: the kernel graph folded into what a picture needs. A container's
// interfaces are lines of its namespace box; a veth pair is one edge from the container to the
// bridge, labelled with both ends; a network is a line of the bridge (or parent) it lives on.
// Plain data, no Node.js: the page's bundle uses it as the CLI's SVG does (one code for both).
import type { TopologyDrift, TopologyEdgeKind, TopologyGraph, TopologyNode, TopologyNodeKind } from './topology-types.js';

export interface ViewNode {
  id: string;
  kind: TopologyNodeKind;
  /** what the node draws as its role: uplink, vxlan, wireguard, NAT-free … */
  tag?: string;
  title: string;
  lines: string[];
  drift?: TopologyDrift;
  host?: string;
  networks: string[];
}

export interface ViewEdge {
  from: string;
  to: string;
  kind: TopologyEdgeKind;
  label?: string;
}

export interface TopologyView {
  nodes: ViewNode[];
  edges: ViewEdge[];
}

export interface ViewFilter {
  /** only what belongs to this berth network (by name) */
  network?: string;
  /** only this host ('local' or a remote host's id) */
  host?: string;
}

const list = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
/** A network's subnets: the store's records ({subnet, gateway…}) or plain CIDRs. */
const subnetsOf = (v: unknown): string[] =>
  Array.isArray(v) ? v.map((s: unknown) => (typeof s === 'string' ? s : typeof s === 'object' && s !== null && 'subnet' in s ? String(s.subnet) : '')).filter(Boolean) : [];

/** Fold the graph; with a filter, keep only the nodes of that network and host (and what joins them). */
export function topologyView(g: TopologyGraph, filter: ViewFilter = {}): TopologyView {
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  const folded = new Map<string, string>(); // node id -> the view node that carries it
  const extra = new Map<string, string[]>(); // view node id -> lines added by folding
  const addLine = (id: string, line: string) => extra.set(id, [...(extra.get(id) ?? []), line]);
  const masterOf = new Map<string, string>();
  for (const e of g.edges) if (e.kind === 'port-of') masterOf.set(e.from, e.to);

  // a container's interfaces: lines of its namespace
  for (const e of g.edges) {
    const from = byId.get(e.from);
    const to = byId.get(e.to);
    if (e.kind === 'in' && from?.kind === 'interface' && to?.kind === 'namespace') {
      folded.set(from.id, to.id);
      const d = from.data ?? {};
      addLine(to.id, [from.label, ...list(d.addresses), typeof d.mac === 'string' ? d.mac : ''].filter(Boolean).join(' '));
    }
  }
  // a veth's host end: folded into the edge, which goes to the bridge it is a port of
  const vethEnds = new Map<string, string>();
  for (const e of g.edges) if (e.kind === 'veth' && masterOf.has(e.to)) vethEnds.set(e.to, masterOf.get(e.to) as string);
  for (const [end] of vethEnds) folded.set(end, '');
  // a network: a line of its bridge or parent
  for (const e of g.edges) {
    const net = byId.get(e.from);
    if (e.kind === 'attached' && net?.kind === 'network' && byId.has(e.to)) {
      folded.set(net.id, e.to);
      const d = net.data ?? {};
      const tags = [String(d.driver), d.natFree === true ? 'NAT-free' : '', d.internal === true ? 'internal' : ''].filter(Boolean).join(', ');
      addLine(e.to, `network ${net.label} (${tags}) ${subnetsOf(d.subnets).join(' ')}`.trim());
    }
  }
  const carrier = (id: string): string | undefined => {
    if (!folded.has(id)) return id;
    const c = folded.get(id);
    return c ? carrier(c) : undefined;
  };

  const nodes: ViewNode[] = [];
  for (const n of g.nodes) {
    if (folded.has(n.id)) continue;
    nodes.push(viewNode(n, extra.get(n.id) ?? []));
  }
  const edges: ViewEdge[] = [];
  const seen = new Set<string>();
  for (const e of g.edges) {
    let from = carrier(e.from);
    let to = carrier(e.to);
    let label = e.label;
    if (e.kind === 'veth' && vethEnds.has(e.to)) {
      to = vethEnds.get(e.to);
      label = `${byId.get(e.from)?.label ?? ''} ⇄ ${byId.get(e.to)?.label ?? ''}`;
    }
    if (e.kind === 'macvlan') label = `${byId.get(e.from)?.label ?? ''} (macvlan)`;
    if (!from || !to || from === to) continue;
    // a bridge port's 'in' edge to the host says nothing its port-of edge does not
    if (e.kind === 'in' && to === 'host' && masterOf.has(e.from)) continue;
    if (e.kind === 'in' && folded.has(e.from)) continue;
    const key = `${from}|${to}|${e.kind}|${label ?? ''}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if (e.kind === 'veth' || e.kind === 'macvlan') [from, to] = [to, from]; // drawn from the bridge down
    edges.push({ from, to, kind: e.kind, ...(label ? { label } : {}) });
  }
  return filterView({ nodes, edges }, filter);
}

function viewNode(n: TopologyNode, folded: string[]): ViewNode {
  const d = n.data ?? {};
  const lines: string[] = [];
  let tag: string | undefined;
  if (n.kind === 'namespace') {
    const mode = typeof d.networkMode === 'string' ? d.networkMode : '';
    tag = ['host', 'none'].includes(mode) || mode.startsWith('container:') ? `${mode} mode` : undefined;
    if (typeof d.hostname === 'string' && d.hostname) lines.push(`hostname ${d.hostname}`);
    if (typeof d.status === 'string' && d.status !== 'running') lines.push(d.status);
    if (n.host !== 'local') lines.push(...list(d.addresses), ...list(d.macs));
  } else if (n.kind === 'bridge' || n.kind === 'interface') {
    // the role when it says more than the kind (uplink, vxlan…), else the kernel's link kind
    tag = typeof d.role === 'string' && !['other', 'nic'].includes(d.role) ? d.role : typeof d.kind === 'string' && d.kind !== n.kind ? d.kind : undefined;
    const addr = list(d.addresses);
    if (addr.length) lines.push(addr.join(' '));
  } else if (n.kind === 'network') {
    lines.push(`${String(d.driver)} ${subnetsOf(d.subnets).join(' ')}`);
  } else if (n.kind === 'remote-host') {
    tag = 'cluster host';
    // labelled by its advertise address; its VTEP when another (a WireGuard tunnel address)
    if (typeof d.vtep === 'string' && d.vtep !== d.advertiseAddress) lines.push(`VTEP ${d.vtep}`);
  }
  if (n.kind === 'bridge' && folded.some((l) => l.includes('NAT-free'))) tag = 'NAT-free bridge';
  lines.push(...folded);
  if (n.drift) lines.push(`⚠ ${n.drift.problem}`, ...(n.drift.repair ? [`--repair: ${n.drift.repair}`] : []));
  return { id: n.id, kind: n.kind, title: n.label, lines, networks: n.networks ?? [], ...(tag ? { tag } : {}), ...(n.drift ? { drift: n.drift } : {}), ...(n.host ? { host: n.host } : {}) };
}

function filterView(v: TopologyView, f: ViewFilter): TopologyView {
  if (!f.network && !f.host) return v;
  const keep = new Set(
    v.nodes
      .filter((n) => (n.kind === 'host' && (f.host ?? 'local') === 'local') || ((!f.network || n.networks.includes(f.network)) && (!f.host || (n.host ?? 'local') === f.host)))
      .map((n) => n.id),
  );
  return { nodes: v.nodes.filter((n) => keep.has(n.id)), edges: v.edges.filter((e) => keep.has(e.from) && keep.has(e.to)) };
}
