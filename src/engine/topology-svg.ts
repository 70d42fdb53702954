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
  edge(from: string, to: string, name: string): { points?: { x: number; y: number }[] } | undefined;
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
}
export interface TopologyLayout {
  width: number;
  height: number;
  nodes: PlacedNode[];
  edges: PlacedEdge[];
}

const heading = (n: ViewNode): string => (n.tag ? `${n.title}  [${n.tag}]` : n.title);

/** Where everything goes: the host on top, bridges below it, containers below their bridges. */
export function layoutTopology(view: TopologyView): TopologyLayout {
  const g = new dagre.graphlib.Graph({ multigraph: true });
  g.setGraph({ rankdir: 'TB', nodesep: 24, ranksep: 60, edgesep: 8, marginx: 16, marginy: 16 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const n of view.nodes) {
    const text = [heading(n), ...n.lines];
    const width = Math.ceil(Math.max(...text.map((t) => t.length)) * CHAR_W + 2 * PAD);
    g.setNode(n.id, { width, height: text.length * LINE_H + 2 * PAD });
  }
  view.edges.forEach((e, i) => {
    // ranks run from the host down: an edge pointing up (a port to its bridge) is laid out reversed
    const down = e.kind === 'publishes' || e.kind === 'veth' || e.kind === 'macvlan';
    g.setEdge(down ? e.from : e.to, down ? e.to : e.from, {}, String(i));
  });
  dagre.layout(g);
  const nodes = view.nodes.map((n): PlacedNode => {
    const p = g.node(n.id);
    return { ...n, x: p.x, y: p.y, width: p.width, height: p.height };
  });
  const edges = view.edges.map((e, i): PlacedEdge => {
    const down = e.kind === 'publishes' || e.kind === 'veth' || e.kind === 'macvlan';
    const points = g.edge(down ? e.from : e.to, down ? e.to : e.from, String(i))?.points ?? [];
    return { ...e, points };
  });
  const gl = g.graph();
  return { width: Math.ceil(gl.width ?? 0), height: Math.ceil(gl.height ?? 0), nodes, edges };
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
.edge text { fill: #333; font-size: 11px; }
`;

/** Labels on edges only while there are few: at hundreds they would cover the picture. */
const MAX_LABELLED_EDGES = 150;

export function topologySvg(layout: TopologyLayout): string {
  const out: string[] = [];
  const w = Math.max(layout.width, 100);
  const h = Math.max(layout.height, 60);
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" class="berth-topology" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}">`);
  out.push(`<style>${STYLE}</style>`, `<rect width="100%" height="100%" fill="#fff"/>`);
  const labelled = layout.edges.length <= MAX_LABELLED_EDGES;
  for (const e of layout.edges) {
    if (!e.points.length) continue;
    const d = e.points.map((p, i) => `${i ? 'L' : 'M'}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ');
    const mid = e.points[Math.floor(e.points.length / 2)] as { x: number; y: number };
    out.push(`<g class="edge e-${e.kind}" data-from="${escapeXml(e.from)}" data-to="${escapeXml(e.to)}"><path d="${d}"/>`);
    if (labelled && e.label) out.push(`<text x="${(mid.x + 4).toFixed(1)}" y="${(mid.y - 3).toFixed(1)}">${escapeXml(e.label)}</text>`);
    out.push('</g>');
  }
  for (const n of layout.nodes) {
    const x = n.x - n.width / 2;
    const y = n.y - n.height / 2;
    out.push(`<g class="node k-${n.kind}${n.drift ? ' drift' : ''}" data-id="${escapeXml(n.id)}"><title>${escapeXml(n.id)}</title>`);
    out.push(`<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${n.width}" height="${n.height}"/>`);
    [heading(n), ...n.lines].forEach((t, i) => {
      const cls = i === 0 ? 'title' : t.startsWith('⚠') || t.startsWith('--repair') ? 'drift-line' : '';
      out.push(`<text${cls ? ` class="${cls}"` : ''} x="${(x + PAD).toFixed(1)}" y="${(y + PAD + 11 + i * LINE_H).toFixed(1)}">${escapeXml(t)}</text>`);
    });
    out.push('</g>');
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
