// The change from one topology graph to the next: nodes added or changed (whole), nodes removed
// (by id), edges added and removed (by their key). The daemon sends it to an open page instead of
// the whole graph (src/ui/live-graph.ts); the page applies it to the graph it has. Plain data, no
// Node.js: the page's bundle imports it.
import type { TopologyEdge, TopologyGraph, TopologyNode } from './topology-types.js';

export interface TopologyDiff {
  /** the graph's version this applies to */
  base: number;
  /** the version it makes */
  version: number;
  /** nodes new or changed, whole; a new node goes after the others */
  upsert: TopologyNode[];
  /** ids of the nodes gone */
  remove: string[];
  edgesAdd: TopologyEdge[];
  /** keys (edgeKey) of edges gone, one occurrence each */
  edgesRemove: string[];
}

export const edgeKey = (e: TopologyEdge): string => `${e.from}\n${e.kind}\n${e.to}\n${e.label ?? ''}`;

/** A graph's nodes as their JSON text by id, and its edges counted by key: what diffGraphs compares. */
export interface GraphIndex {
  nodes: Map<string, string>;
  edges: Map<string, number>;
}

export function indexGraph(g: TopologyGraph): GraphIndex {
  const edges = new Map<string, number>();
  for (const e of g.edges) edges.set(edgeKey(e), (edges.get(edgeKey(e)) ?? 0) + 1);
  return { nodes: new Map(g.nodes.map((n) => [n.id, JSON.stringify(n)])), edges };
}

/** What turns the graph indexed as `before` into `after` (whose index is returned with it). */
export function diffGraphs(before: GraphIndex, after: TopologyGraph, base: number): { diff: TopologyDiff; index: GraphIndex } {
  const index = indexGraph(after);
  const upsert = after.nodes.filter((n) => before.nodes.get(n.id) !== index.nodes.get(n.id));
  const remove = [...before.nodes.keys()].filter((id) => !index.nodes.has(id));
  const edgesAdd: TopologyEdge[] = [];
  const added = new Map<string, number>();
  for (const e of after.edges) {
    const k = edgeKey(e);
    const n = (added.get(k) ?? 0) + 1;
    added.set(k, n);
    if (n > (before.edges.get(k) ?? 0)) edgesAdd.push(e);
  }
  const edgesRemove: string[] = [];
  for (const [k, n] of before.edges) for (let i = index.edges.get(k) ?? 0; i < n; i++) edgesRemove.push(k);
  return { diff: { base, version: base + 1, upsert, remove, edgesAdd, edgesRemove }, index };
}

export const isEmptyDiff = (d: TopologyDiff): boolean => !d.upsert.length && !d.remove.length && !d.edgesAdd.length && !d.edgesRemove.length;

/** The graph after the diff (a new object; the one given is not changed). */
export function applyDiff(g: TopologyGraph, d: TopologyDiff): TopologyGraph {
  const changed = new Map(d.upsert.map((n) => [n.id, n]));
  const gone = new Set(d.remove);
  const nodes = g.nodes.filter((n) => !gone.has(n.id)).map((n) => changed.get(n.id) ?? n);
  const had = new Set(nodes.map((n) => n.id));
  nodes.push(...d.upsert.filter((n) => !had.has(n.id)));
  const drop = new Map<string, number>();
  for (const k of d.edgesRemove) drop.set(k, (drop.get(k) ?? 0) + 1);
  const edges = g.edges.filter((e) => {
    const k = edgeKey(e);
    const n = drop.get(k) ?? 0;
    if (!n) return true;
    drop.set(k, n - 1);
    return false;
  });
  edges.push(...d.edgesAdd);
  return { nodes, edges };
}
