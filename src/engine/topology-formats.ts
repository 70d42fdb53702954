// `berth topology --format text|dot|mermaid`: the drawn view (topology-view.ts) as text for
// people, Graphviz and Mermaid. json is the graph itself; svg is topology-svg.ts.
import type { TopologyView, ViewNode } from './topology-view.js';

const titleOf = (n: ViewNode | undefined, id: string): string => (n ? n.title : id);

/** One block per node (kind, name, role, what it holds), then one line per edge. */
export function topologyText(view: TopologyView): string {
  const byId = new Map(view.nodes.map((n) => [n.id, n]));
  const out: string[] = [];
  for (const n of view.nodes) {
    out.push(`${n.kind} ${n.title}${n.tag ? ` [${n.tag}]` : ''}${n.host && n.host !== 'local' ? ` on ${n.host}` : ''}`);
    for (const l of n.lines) out.push(`    ${l}`);
  }
  if (view.edges.length) out.push('');
  for (const e of view.edges) {
    out.push(`${titleOf(byId.get(e.from), e.from)} -> ${titleOf(byId.get(e.to), e.to)}: ${e.kind}${e.label ? ` ${e.label}` : ''}`);
  }
  return `${out.join('\n')}\n`;
}

const dotString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;
const DOT_SHAPE: Record<string, string> = { host: 'box3d', bridge: 'box', namespace: 'component', interface: 'ellipse', network: 'note', 'remote-host': 'box3d', firewall: 'octagon' };

export function topologyDot(view: TopologyView): string {
  const out = ['digraph berth {', '  rankdir=TB;', '  node [fontname="monospace", fontsize=10];', '  edge [fontname="monospace", fontsize=9];'];
  for (const n of view.nodes) {
    const label = [n.tag ? `${n.title} [${n.tag}]` : n.title, ...n.lines].join('\n');
    out.push(`  ${dotString(n.id)} [label=${dotString(label)}, shape=${DOT_SHAPE[n.kind] ?? 'box'}${n.drift ? ', color=red, style=dashed' : ''}];`);
  }
  for (const e of view.edges) {
    const style = e.kind === 'shares' || e.kind === 'publishes' || e.kind === 'remote' ? ', style=dashed' : e.kind === 'tunnel' ? ', style=bold, color="#00695c"' : '';
    out.push(`  ${dotString(e.from)} -> ${dotString(e.to)} [label=${dotString(e.label ? `${e.kind}: ${e.label}` : e.kind)}${style}];`);
  }
  out.push('}');
  return `${out.join('\n')}\n`;
}

/** Mermaid ids are [A-Za-z0-9_]: node n<i>, in the view's order. */
export function topologyMermaid(view: TopologyView): string {
  const ids = new Map(view.nodes.map((n, i) => [n.id, `n${i}`]));
  // Mermaid's markdown strings: quotes become #quot;, line breaks <br/>
  const text = (s: string) => s.replace(/"/g, '#quot;').replace(/[<>]/g, (c) => (c === '<' ? '#lt;' : '#gt;'));
  const out = ['flowchart TB'];
  for (const n of view.nodes) {
    const label = [n.tag ? `${n.title} [${n.tag}]` : n.title, ...n.lines].map(text).join('<br/>');
    const [open, close] = n.kind === 'namespace' ? ['([', '])'] : n.kind === 'host' || n.kind === 'remote-host' ? ['[[', ']]'] : ['[', ']'];
    out.push(`  ${ids.get(n.id) as string}${open}"${label}"${close}`);
    if (n.drift) out.push(`  style ${ids.get(n.id) as string} stroke:#c62828,stroke-width:2px,stroke-dasharray:5 3`);
  }
  for (const e of view.edges) {
    const arrow = e.kind === 'shares' || e.kind === 'publishes' || e.kind === 'remote' ? '-.->' : e.kind === 'tunnel' ? '==>' : '-->';
    out.push(`  ${ids.get(e.from) as string} ${arrow}|"${text(e.label ? `${e.kind}: ${e.label}` : e.kind)}"| ${ids.get(e.to) as string}`);
  }
  return `${out.join('\n')}\n`;
}
