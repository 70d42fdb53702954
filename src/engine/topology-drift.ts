// Drift on the topology: every difference `berth system check` finds between the store and the
// kernel (engine/repair.ts, not repeated here), flagged on the node it concerns (found by the
// kind and key of the finding's object), with what `--repair` would do. Objects the graph has no
// node for (a namespace mount nobody owns, berth's nft tables, a port relay) get one, so no
// finding is lost.
import type { Engine } from './context.js';
import { checkSystem, type Finding } from './repair.js';
import { type GraphBuilder, hostIfId, nsId } from './topology.js';
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
 * The node a finding is about, by the kind and key of its object (the finding's ref); undefined
 * when that container, endpoint or network is no longer in the graph (a finding older than the
 * graph). Objects the graph draws no node for get one.
 */
function nodeOf(g: GraphBuilder, f: Finding): TopologyNode | undefined {
  const r = f.ref;
  switch (r.kind) {
    case 'container':
      return g.get(nsId(r.id));
    case 'endpoint':
      return g.get(`${nsId(r.containerId)}/${r.interfaceName}`) ?? g.get(nsId(r.containerId));
    case 'network':
      return g.find((n) => n.kind === 'network' && n.host === 'local' && n.data?.id === r.id);
    case 'link':
      return g.get(hostIfId(r.name));
    case 'netns': {
      // a namespace mount is named by its container's id
      const ns = g.get(nsId(r.name));
      if (ns) return ns;
      return extraNode(g, { id: `netns/${r.name}`, kind: 'namespace', label: `netns ${r.name}`, host: 'local', networks: [], data: { mount: r.name } });
    }
    case 'port-relay':
      return extraNode(g, { id: `drift/port-relay/${r.endpointId}`, kind: 'firewall', label: f.object, host: 'local', networks: [], data: { endpoint: r.endpointId } });
    case 'nft-table':
      return extraNode(g, { id: `drift/nft/${r.family}/${r.name}`, kind: 'firewall', label: `nft table ${r.family} ${r.name}`, host: 'local', networks: [] });
  }
}

/** A node for an object the graph has none for, hanging off the host. */
function extraNode(g: GraphBuilder, n: TopologyNode): TopologyNode {
  const node = g.node(n);
  if (node === n) g.edge({ from: n.id, to: 'host', kind: 'in' });
  return node;
}
