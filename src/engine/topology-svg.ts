// The drawn topology: a layered layout (dagre) of the folded view, written as one SVG document
// with its own styles, so that what the page shows, what it exports and what `berth topology
// --format svg` prints are the same picture. Plain data in, a string out: no DOM, no Node.js.
import dagreModule from '@dagrejs/dagre';
import type { TopologyView, ViewEdge, ViewNode } from './topology-view.js';

// dagre's own .d.ts imports extensionless paths that NodeNext resolution cannot follow: the
// little of its API used here, typed
interface DagreGraph {
  setGraph(label: Record<string, unknown>): void;
  graph(): { width?: number; height?: number };
  setDefaultEdgeLabel(fn: () => object): void;
  setNode(id: string, label: { width: number; height: number }): void;
  node(id: string): { x: number; y: number; width: number; height: number };
  setEdge(from: string, to: string, label: object, name: string): void;
  edge(from: string, to: string, name: string): { points?: { x: number; y: number }[]; x?: number; y?: number } | undefined;
}
const dagre = dagreModule as unknown as {
  graphlib: { Graph: new (opts: { multigraph: boolean }) => DagreGraph };
  layout(g: DagreGraph): void;
};

const CHAR_W = 7.2; // 12 px monospace
const LINE_H = 15;
const PAD = 8;

export interface PlacedNode extends ViewNode {
  x: number;
  y: number;
  width: number;
  height: number;
}
export interface PlacedEdge extends ViewEdge {
  points: { x: number; y: number }[];
  /** where the layout left room for the label (small pictures only) */
  labelAt?: { x: number; y: number };
}
/** Leaf containers packed in a grid under their bridge: where the grid is, for an incremental placement (topology-patch.ts). */
export interface LayoutBlock {
  /** the bridge (or parent) the members hang from */
  parent: string;
  /** member ids by slot: slot i is at column i % cols, row floor(i / cols) */
  members: string[];
  cols: number;
  cell: { width: number; height: number };
  left: number;
  top: number;
  /** how many members the layout that made the block had */
  laidFor: number;
}
export interface TopologyLayout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
  blocks: LayoutBlock[];
  /** how many nodes dagre laid out (a grid block counts as one) */
  laidOut: number;
}

export const heading = (n: ViewNode): string => (n.tag ? `${n.title}  [${n.tag}]` : n.title);

/** Labels on edges only while there are few: at hundreds they would cover the picture. */
export const MAX_LABELLED_EDGES = 150;

/** More containers than this on one bridge are packed in a grid under it (dagre alone: ~1 s for 500 in one row). */
export const GRID_MIN = 8;
export const GAP = 16;
const CELL_SLACK = Math.ceil(4 * CHAR_W);
/** the layout's margin (dagre's marginx, marginy) */
export const MARGIN = 16;

export const sizeOf = (n: ViewNode): { width: number; height: number } => {
  const text = [heading(n), ...n.lines];
  return { width: Math.ceil(Math.max(...text.map((t) => t.length)) * CHAR_W + 2 * PAD), height: text.length * LINE_H + 2 * PAD };
};

// ranks run from the host down: an edge pointing up (a port to its bridge) is laid out reversed
const isDown = (e: ViewEdge): boolean => e.kind === 'publishes' || e.kind === 'veth' || e.kind === 'macvlan';

/**
 * Leaf containers grouped by the bridge (or parent) they hang from: a container whose edges are
 * only its link to that one parent and published ports from the host. Groups of GRID_MIN or
 * more become one block in the layout.
 */
export function leafGroups(view: TopologyView): Map<string, string[]> {
  // undefined: no parent seen yet; null: not a leaf
  const parentOf = new Map<string, string | null | undefined>();
  for (const n of view.nodes) if (n.kind === 'namespace') parentOf.set(n.id, undefined);
  for (const e of view.edges) {
    for (const [me, other] of [[e.to, e.from], [e.from, e.to]] as const) {
      if (!parentOf.has(me)) continue;
      const link = (e.kind === 'veth' || e.kind === 'macvlan') && e.to === me;
      const port = e.kind === 'publishes' && e.from === 'host' && e.to === me;
      if (port) continue;
      const had = parentOf.get(me);
      parentOf.set(me, link && (had === undefined || had === other) ? other : null);
    }
  }
  const groups = new Map<string, string[]>();
  for (const [id, parent] of parentOf) if (parent) groups.set(parent, [...(groups.get(parent) ?? []), id]);
  for (const [p, members] of groups) if (members.length < GRID_MIN) groups.delete(p);
  return groups;
}

/** Where everything goes: the host on top, bridges below it, containers below their bridges. */
export function layoutTopology(view: TopologyView): TopologyLayout {
  const sizes = new Map(view.nodes.map((n) => [n.id, sizeOf(n)]));
  const groups = leafGroups(view);
  const blockOf = new Map<string, string>();
  const blocks = new Map<string, { members: string[]; cols: number; cell: { width: number; height: number } }>();
  for (const [parent, members] of groups) {
    // with room for a few more characters and a line (a container's status while it is not
    // running): one added later with a longer name or address, or starting, still fits its
    // cell, and is placed without laying the picture out again (topology-patch.ts)
    const cell = { width: Math.max(...members.map((m) => sizes.get(m)?.width ?? 0)) + CELL_SLACK, height: Math.max(...members.map((m) => sizes.get(m)?.height ?? 0)) + LINE_H };
    // about twice as wide as high
    const cols = Math.max(1, Math.ceil(Math.sqrt((2 * members.length * (cell.height + GAP)) / (cell.width + GAP))));
    const id = `block/${parent}`;
    blocks.set(id, { members, cols, cell });
    for (const m of members) blockOf.set(m, id);
  }
  const layoutId = (id: string) => blockOf.get(id) ?? id;

  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 60, edgesep: 8, marginx: MARGIN, marginy: MARGIN });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of view.nodes) if (!blockOf.has(n.id)) g.setNode(n.id, sizes.get(n.id) as { width: number; height: number });
  for (const [id, b] of blocks) {
    const rows = Math.ceil(b.members.length / b.cols);
    g.setNode(id, { width: b.cols * (b.cell.width + GAP) - GAP, height: rows * (b.cell.height + GAP) - GAP });
  }
  const seen = new Set<string>();
  const labelled = view.edges.length <= MAX_LABELLED_EDGES;
  view.edges.forEach((e, i) => {
    const [a, b] = isDown(e) ? [layoutId(e.from), layoutId(e.to)] : [layoutId(e.to), layoutId(e.from)];
    // a block stands for its members: one edge to it is enough for the layout
    const key = `${a}|${b}`;
    if (a === b || ((blocks.has(a) || blocks.has(b)) && seen.has(key))) return;
    seen.add(key);
    // a small picture's labels get room of their own, so they cover no box
    const room = labelled && e.label ? { width: Math.ceil(e.label.length * 6.6) + 8, height: 14, labelpos: 'c' } : {};
    g.setEdge(a, b, room, String(i));
  });
  dagre.layout(g);

  const place = new Map<string, { x: number; y: number; width: number; height: number }>();
  for (const n of view.nodes) if (!blockOf.has(n.id)) place.set(n.id, g.node(n.id));
  const placedBlocks: LayoutBlock[] = [];
  for (const [id, b] of blocks) {
    const p = g.node(id);
    const block: LayoutBlock = { parent: id.slice('block/'.length), members: b.members, cols: b.cols, cell: b.cell, left: p.x - p.width / 2, top: p.y - p.height / 2, laidFor: b.members.length };
    placedBlocks.push(block);
    b.members.forEach((m, i) => place.set(m, { ...slotCentre(block, i), ...(sizes.get(m) as { width: number; height: number }) }));
  }
  const nodes = view.nodes.map((n): PlacedNode => ({ ...n, ...(place.get(n.id) as { x: number; y: number; width: number; height: number }) }));
  const edges = view.edges.map((e, i): PlacedEdge => {
    const [a, b] = isDown(e) ? [e.from, e.to] : [e.to, e.from];
    const de = blockOf.has(a) || blockOf.has(b) ? undefined : g.edge(a, b, String(i));
    const laid = de?.points;
    // an edge of a block's member: straight, between the two boxes' centres (boxes are drawn over edges)
    const pa = place.get(e.from);
    const pb = place.get(e.to);
    const points = laid ?? straight(pa, pb);
    return { ...e, points, ...(de?.x !== undefined && de.y !== undefined && labelled && e.label ? { labelAt: { x: de.x, y: de.y } } : {}) };
  });
  const gl = g.graph();
  return { width: Math.ceil(gl.width ?? 0), height: Math.ceil(gl.height ?? 0), nodes, edges, blocks: placedBlocks, laidOut: view.nodes.length - blockOf.size + blocks.size };
}

/** The centre of a block's slot i. */
export function slotCentre(b: LayoutBlock, i: number): { x: number; y: number } {
  const col = i % b.cols;
  const row = Math.floor(i / b.cols);
  return { x: b.left + col * (b.cell.width + GAP) + b.cell.width / 2, y: b.top + row * (b.cell.height + GAP) + b.cell.height / 2 };
}

/** A grid member's edge: straight between the two boxes' centres (boxes are drawn over edges). */
export function straight(a: { x: number; y: number } | undefined, b: { x: number; y: number } | undefined): { x: number; y: number }[] {
  return a && b ? [{ x: a.x, y: a.y }, { x: b.x, y: b.y }] : [];
}

export function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

const STYLE = `
svg.berth-topology { font-family: ui-monospace, 'DejaVu Sans Mono', monospace; font-size: 12px; background: #fff; }
.node rect { stroke: #555; stroke-width: 1; rx: 4; fill: #f4f4f4; }
.node.k-host rect { fill: #dbe9f6; stroke: #2b5d8a; stroke-width: 2; }
.node.k-bridge rect { fill: #e3f1df; stroke: #3c7a33; }
.node.k-namespace rect { fill: #fff6dc; stroke: #9a7b18; }
.node.k-remote-host rect { fill: #ece2f4; stroke: #6b3f8a; stroke-width: 2; }
.node.k-firewall rect { fill: #fde2e2; }
.node.drift rect { stroke: #c62828; stroke-width: 2.5; stroke-dasharray: 6 3; }
.node .title { font-weight: bold; }
.node .drift-line { fill: #c62828; }
.node.selected rect { stroke: #0b57d0; stroke-width: 3; }
.edge path { fill: none; stroke: #777; stroke-width: 1.2; }
.edge.e-veth path { stroke: #3c7a33; stroke-width: 1.6; }
.edge.e-macvlan path, .edge.e-shim-of path { stroke: #8a5a00; stroke-dasharray: 4 2; }
.edge.e-publishes path { stroke: #0b57d0; stroke-dasharray: 2 3; }
.edge.e-shares path { stroke: #9a7b18; stroke-width: 2; stroke-dasharray: 8 3; }
.edge.e-remote path { stroke: #6b3f8a; stroke-dasharray: 6 3; }
.edge.e-tunnel path { stroke: #00695c; stroke-width: 3; stroke-opacity: .8; }
.edge-label { fill: #333; font-size: 11px; paint-order: stroke; stroke: #fff; stroke-width: 3px; }
`;


export function topologySvg(layout: TopologyLayout): string {
  const out: string[] = [];
  const w = Math.max(layout.width, 100);
  const h = Math.max(layout.height, 60);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="berth-topology" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`);
  out.push(`<style>${STYLE}</style>`, `<rect width="100%" height="100%" fill="#fff"/>`);
  const labelled = layout.edges.length <= MAX_LABELLED_EDGES;
  const labels: string[] = [];
  for (const e of layout.edges) {
    if (!e.points.length) continue;
    out.push(edgeSvg(e));
    // labels last, over the boxes, with a white halo: readable where an edge passes a box
    const label = labelled ? edgeLabelSvg(e) : undefined;
    if (label) labels.push(label);
  }
  for (const n of layout.nodes) out.push(nodeSvg(n));
  out.push(...labels, '</svg>');
  return `${out.join('\n')}\n`;
}

/** One edge's element (without its label), as the page patches it in. */
export function edgeSvg(e: PlacedEdge): string {
  const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
  return `<g class="edge e-${e.kind}" data-from="${escapeXml(e.from)}" data-to="${escapeXml(e.to)}"><path d="${d}"/></g>`;
}

/** One edge's label (drawn only while the picture has few edges), if it has one. */
export function edgeLabelSvg(e: PlacedEdge): string | undefined {
  if (!e.label || !e.points.length) return undefined;
  const mid = e.points[Math.floor(e.points.length / 2)] as { x: number; y: number };
  const at = e.labelAt ? { x: e.labelAt.x - e.label.length * 3.3, y: e.labelAt.y + 4 } : { x: mid.x + 4, y: mid.y - 3 };
  return `<text class="edge-label" x="${at.x.toFixed(1)}" y="${at.y.toFixed(1)}">${escapeXml(e.label)}</text>`;
}

/** One node's element. */
export function nodeSvg(n: PlacedNode): string {
  const x = n.x - n.width / 2;
  const y = n.y - n.height / 2;
  const out = [`<g class="node k-${n.kind}${n.drift ? ' drift' : ''}" data-id="${escapeXml(n.id)}"><title>${escapeXml(n.id)}</title>`];
  out.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${n.width}" height="${n.height}"/>`);
  [heading(n), ...n.lines].forEach((t, i) => {
    const cls = i === 0 ? 'title' : t.startsWith('⚠') || t.startsWith('--repair') ? 'drift-line' : '';
    out.push(`<text${cls ? ` class="${cls}"` : ''} x="${(x + PAD).toFixed(1)}" y="${(y + PAD + 11 + i * LINE_H).toFixed(1)}">${escapeXml(t)}</text>`);
  });
  out.push('</g>');
  return out.join('\n');
}
