// A live update's layout without laying the whole picture out again (issue 15: with 500
// containers dagre and a redraw of every element cost most of a second). When a change only adds,
// removes or rewrites containers packed in a bridge's grid (topology-svg.ts's blocks), the new
// ones take the next free slots, a removed one's slot goes to the grid's last member, and
// everything else keeps its place: the page then rewrites only the elements named here. A
// container not on a network yet (a change told between its record and its endpoint) waits at
// the picture's right edge until it joins its grid. Anything
// else (a new bridge, a node that changes size, a grid that would run into another box) is
// answered with the reason, and the caller lays the picture out anew. Plain data, no DOM.
import { GRID_MIN, MARGIN, MAX_LABELLED_EDGES, type LayoutBlock, type PlacedEdge, type PlacedNode, type TopologyLayout, GAP, leafGroups, sizeOf, slotCentre, straight } from './topology-svg.js';
import type { TopologyView, ViewEdge, ViewNode } from './topology-view.js';

export const viewEdgeKey = (e: ViewEdge): string => `${e.from}\n${e.to}\n${e.kind}\n${e.label ?? ''}`;

/** The view a layout was made from, its nodes as JSON text by id (what the next view is compared with). */
export interface LaidOut {
  view: TopologyView;
  layout: TopologyLayout;
  nodeText: Map<string, string>;
}

export function laidOut(view: TopologyView, layout: TopologyLayout): LaidOut {
  return { view, layout, nodeText: new Map(view.nodes.map((n) => [n.id, JSON.stringify(n)])) };
}

/** What changed in the picture: elements to write (new or replacing theirs) and to remove. */
export interface LayoutPatch {
  nodes: PlacedNode[];
  removeNodes: string[];
  /** edges to write; an edge that moved is in removeEdges (by viewEdgeKey) and here */
  edges: PlacedEdge[];
  removeEdges: string[];
}

export type PatchResult = { ok: true; next: LaidOut; patch: LayoutPatch } | { ok: false; reason: string };

/** A grid may grow to twice (or shrink to half) the size it was laid out for before the picture is laid out anew. */
const GROWTH = 2;

const rectOf = (n: { x: number; y: number; width: number; height: number }) => ({ left: n.x - n.width / 2, right: n.x + n.width / 2, top: n.y - n.height / 2, bottom: n.y + n.height / 2 });
const blockWidth = (b: LayoutBlock): number => b.cols * (b.cell.width + GAP) - GAP;
const blockBottom = (b: LayoutBlock, members: number): number => b.top + Math.ceil(members / b.cols) * (b.cell.height + GAP) - GAP;

/** The layout of `view` made from `prev`'s by moving only what changed, or why that cannot be done. */
export function patchLayout(prev: LaidOut, view: TopologyView): PatchResult {
  const fail = (reason: string): PatchResult => ({ ok: false, reason });
  // edge labels are drawn below MAX_LABELLED_EDGES: crossing it changes every edge
  if (prev.layout.edges.length <= MAX_LABELLED_EDGES !== view.edges.length <= MAX_LABELLED_EDGES) return fail('edge labels come or go with the number of edges');
  const groups = leafGroups(view);
  const blockOf = new Map<string, LayoutBlock>();
  for (const b of prev.layout.blocks) for (const m of b.members) blockOf.set(m, b);
  const prevParents = new Set(prev.layout.blocks.map((b) => b.parent));
  for (const p of groups.keys()) if (!prevParents.has(p)) return fail(`a new grid under ${p}`);
  const nextMemberOf = new Map<string, string>();
  for (const [p, members] of groups) for (const m of members) nextMemberOf.set(m, p);

  const placed = new Map(prev.layout.nodes.map((n) => [n.id, n]));
  const nodeText = new Map<string, string>();
  const nextIds = new Set<string>();
  const patch: LayoutPatch = { nodes: [], removeNodes: [], edges: [], removeEdges: [] };
  const write = new Map<string, PlacedNode>(); // nodes to write, once each
  const viewById = new Map(view.nodes.map((n) => [n.id, n]));
  const added = new Map<string, string[]>(); // parent -> new members, in view order
  const rewritten: ViewNode[] = [];
  // nodes with no edge: placed alone, their place can be left (a hole) and new ones parked at the right
  const linked = (v: TopologyView) => new Set(v.edges.flatMap((e) => [e.from, e.to]));
  const linkedBefore = linked(prev.view);
  const linkedNow = linked(view);
  let width = prev.layout.width;
  const park = (n: ViewNode) => {
    const size = sizeOf(n);
    placed.set(n.id, { ...n, x: width + size.width / 2, y: MARGIN + size.height / 2, ...size });
    write.set(n.id, placed.get(n.id) as PlacedNode);
    width += size.width + GAP;
  };
  for (const n of view.nodes) {
    nextIds.add(n.id);
    const text = JSON.stringify(n);
    nodeText.set(n.id, text);
    const had = prev.nodeText.get(n.id);
    const parent = nextMemberOf.get(n.id);
    const was = blockOf.get(n.id);
    if (had === undefined) {
      if (parent) added.set(parent, [...(added.get(parent) ?? []), n.id]);
      else if ((n.kind === 'namespace' && !linkedNow.has(n.id)) || n.kind === 'interface') park(n);
      else return fail(`a new node outside a grid: ${n.id}`);
      continue;
    }
    if (was?.parent !== parent) {
      // a lone container joining its grid: its place outside is left empty
      if (was || !parent || linkedBefore.has(n.id)) return fail(`${n.id} moved between grids`);
      added.set(parent, [...(added.get(parent) ?? []), n.id]);
      continue;
    }
    if (had !== text) rewritten.push(n);
  }
  const removed = [...prev.nodeText.keys()].filter((id) => !nextIds.has(id));
  // a host port outside the grids may go (a veth whose sandbox was deleted before it: the kernel
  // removes it a moment later): its place is left empty, its edges go with it
  const prevKind = new Map(prev.view.nodes.map((n) => [n.id, n.kind]));
  for (const id of removed) if (!blockOf.has(id) && linkedBefore.has(id) && prevKind.get(id) !== 'interface') return fail(`a node outside a grid went away: ${id}`);
  const gone = new Set(removed);

  // a rewritten node keeps its place: outside a grid only at its size, in one only if it fits its cell
  const moved = new Set<string>();
  for (const n of rewritten) {
    const size = sizeOf(n);
    const old = placed.get(n.id) as PlacedNode;
    const b = blockOf.get(n.id);
    if (b ? size.width > b.cell.width || size.height > b.cell.height : size.width !== old.width || size.height !== old.height) return fail(`${n.id} changed size`);
    placed.set(n.id, { ...n, x: old.x, y: old.y, ...size });
    write.set(n.id, placed.get(n.id) as PlacedNode);
  }

  // the grids: a removed member's slot goes to the last member, new members take the next slots
  const obstacles = () => prev.layout.nodes.filter((n) => !blockOf.has(n.id)).map(rectOf);
  const blocks: LayoutBlock[] = [];
  let bottom = 0;
  for (const b of prev.layout.blocks) {
    const members = [...b.members];
    const slot = new Map(members.map((m, i) => [m, i]));
    for (const id of removed) {
      if (blockOf.get(id) !== b) continue;
      const i = slot.get(id) as number;
      const last = members.pop() as string;
      slot.delete(id);
      if (last !== id) {
        members[i] = last;
        slot.set(last, i);
        moved.add(last);
      }
      placed.delete(id);
      patch.removeNodes.push(id);
    }
    for (const id of added.get(b.parent) ?? []) {
      const size = sizeOf(viewById.get(id) as ViewNode);
      if (size.width > b.cell.width || size.height > b.cell.height) return fail(`${id} is larger than the cells of its grid`);
      slot.set(id, members.length);
      members.push(id);
      moved.add(id);
    }
    if (members.length < GRID_MIN) return fail(`the grid under ${b.parent} is too small now`);
    if (members.length > b.laidFor * GROWTH || members.length * GROWTH < b.laidFor) return fail(`the grid under ${b.parent} grew or shrank too much`);
    const nb: LayoutBlock = { ...b, members };
    const newBottom = blockBottom(nb, members.length);
    if (newBottom > blockBottom(b, b.members.length)) {
      // the grid grows downwards: nothing may be in the way
      const area = { left: nb.left, right: nb.left + blockWidth(nb), top: blockBottom(b, b.members.length), bottom: newBottom };
      const others = [...obstacles(), ...prev.layout.blocks.filter((o) => o !== b).map((o) => ({ left: o.left, right: o.left + blockWidth(o), top: o.top, bottom: blockBottom(o, o.members.length) }))];
      if (others.some((r) => r.left < area.right + GAP && r.right > area.left - GAP && r.top < area.bottom + GAP && r.bottom > area.top - GAP)) return fail(`the grid under ${b.parent} would run into another box`);
    }
    bottom = Math.max(bottom, newBottom);
    blocks.push(nb);
    for (const id of members) {
      if (!moved.has(id)) continue;
      const n = viewById.get(id) as ViewNode;
      placed.set(id, { ...n, ...slotCentre(nb, slot.get(id) as number), ...sizeOf(n) });
      write.set(id, placed.get(id) as PlacedNode);
    }
  }
  patch.nodes.push(...write.values());
  for (const id of removed) if (!blockOf.has(id)) patch.removeNodes.push(id);

  // edges: those between nodes outside the grids stay as laid out; a grid member's are straight
  const prevEdges = new Map(prev.layout.edges.map((e) => [viewEdgeKey(e), e]));
  const keys = new Set<string>();
  const edges: PlacedEdge[] = [];
  for (const e of view.edges) {
    const k = viewEdgeKey(e);
    keys.add(k);
    const old = prevEdges.get(k);
    const ofMember = nextMemberOf.has(e.from) || nextMemberOf.has(e.to);
    // a parked node's edges are drawn straight; other new edges outside the grids need a layout
    const ofParked = (write.has(e.from) && !blockOf.has(e.from) && !nextMemberOf.has(e.from)) || (write.has(e.to) && !blockOf.has(e.to) && !nextMemberOf.has(e.to));
    if (!ofMember && !old && !ofParked) return fail(`a new edge outside the grids: ${e.from} -> ${e.to}`);
    if (old && !moved.has(e.from) && !moved.has(e.to)) {
      edges.push(old);
      continue;
    }
    const pe: PlacedEdge = { ...e, points: straight(placed.get(e.from), placed.get(e.to)) };
    if (old) patch.removeEdges.push(k);
    patch.edges.push(pe);
    edges.push(pe);
  }
  for (const [k, e] of prevEdges) {
    if (keys.has(k)) continue;
    if (!nextMemberOf.has(e.from) && !nextMemberOf.has(e.to) && !blockOf.has(e.from) && !blockOf.has(e.to) && !gone.has(e.from) && !gone.has(e.to)) return fail(`an edge outside the grids went away: ${e.from} -> ${e.to}`);
    patch.removeEdges.push(k);
  }

  const nodes = view.nodes.map((n) => placed.get(n.id) as PlacedNode);
  const layout: TopologyLayout = { width: Math.ceil(width), height: Math.max(prev.layout.height, Math.ceil(bottom + MARGIN)), nodes, edges, blocks, laidOut: 0 };
  return { ok: true, next: { view, layout, nodeText }, patch };
}
