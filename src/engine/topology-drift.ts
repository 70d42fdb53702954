// Drift on the topology: every difference `berth system check` finds between the store and the
// kernel (engine/repair.ts, not repeated here), flagged on the node it concerns, with what
// `--repair` would do. Objects the graph has no node for (a namespace mount nobody owns, berth's
// nft tables, a port relay) get one, so no finding is lost.
import type { Engine } from './context.js';
import { checkSystem, type Finding } from './repair.js';
import type { GraphBuilder } from './topology.js';
import type { TopologyDrift, TopologyNode } from './topology-types.js';

export async function addDrift(g: GraphBuilder, engine: Engine): Promise<void> {
  addFindings(g, await driftFindings(engine));
}

/** `system check` without repairing, each finding saying what --repair would do. */
export function driftFindings(engine: Engine): Promise<Finding[]> {
  return checkSystem(engine, { repair: false, describe: true });
}

export function addFindings(g: GraphBuilder, findings: readonly Finding[]): void {
  for (const f of findings) {
    const node = nodeOf(g, f);
    if (node) flag(node, f);
  }
}

function flag(node: TopologyNode, f: Finding): void {
  const drift: TopologyDrift = { problem: f.problem, ...(f.action ? { repair: f.action } : {}) };
  // two findings on one node: both problems, one after the other
  node.drift = node.drift
    ? { problem: `${node.drift.problem}; ${drift.problem}`, ...(node.drift.repair || drift.repair ? { repair: [node.drift.repair, drift.repair].filter(Boolean).join('; ') } : {}) }
    : drift;
}

/**
 * The node a finding's object ("network N", "link L", …: repair.ts's names) is about; undefined
 * when that container, network or link is no longer in the graph (a finding older than the graph).
 */
function nodeOf(g: GraphBuilder, f: Finding): TopologyNode | undefined {
  const nsOfName = (name: string) => g.find((n) => n.kind === 'namespace' && n.host === 'local' && n.label === name);
  let m: RegExpExecArray | null;
  if ((m = /^endpoint (\S+) of container (.+)$/.exec(f.object))) {
    const ns = nsOfName(m[2] as string);
    return (ns ? g.get(`${ns.id}/${m[1] as string}`) : undefined) ?? ns;
  } else if ((m = /^container (.+)$/.exec(f.object))) {
    return nsOfName(m[1] as string);
  } else if ((m = /^network (.+)$/.exec(f.object))) {
    return g.get(`network/${m[1] as string}`);
  } else if ((m = /^link (.+)$/.exec(f.object))) {
    return g.get(`host/${m[1] as string}`);
  } else if ((m = /^netns (.+)$/.exec(f.object))) {
    // a namespace mount is named by its container's id
    const ns = g.get(`ns/${m[1] as string}`);
    if (ns) return ns;
    const n = g.node({ id: `netns/${m[1] as string}`, kind: 'namespace', label: `netns ${m[1] as string}`, host: 'local', networks: [], data: { mount: m[1] } });
    g.edge({ from: n.id, to: 'host', kind: 'in' });
    return n;
  }
  // berth's nft tables, a port relay, or anything repair.ts names in a way not known here
  const n = g.node({ id: `drift/${f.object}`, kind: 'firewall', label: f.object, host: 'local', networks: [] });
  g.edge({ from: n.id, to: 'host', kind: 'in' });
  return n;
}
