// The details panel of the topology page: DOM built node by node (text only, never HTML).
import type { TopologyNode } from '../../engine/topology-types.js';

type Child = Node | string;

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, children: Child[] = []): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  e.append(...children);
  return e;
}

const text = (v: unknown): string => (typeof v === 'string' ? v : JSON.stringify(v));

function table(rows: [string, unknown][]): HTMLTableElement {
  return el('table', {}, rows.map(([k, v]) => el('tr', {}, [el('th', {}, [k]), el('td', {}, [text(v)])])));
}

interface Details {
  namespace?: string;
  interfaces?: { name: string; kind?: string; mtu: number; mac?: string; up: boolean; addresses: string[]; counters?: Record<string, number> }[];
  routes?: { dst: string; gateway?: string; dev?: string; table: number }[];
  nft?: string[];
  message?: string;
}

/** The node's own facts from the graph, then (once read) the kernel's: interfaces, counters, routes, nft. */
export function detailsHtml(node: TopologyNode, raw: unknown): Node[] {
  const out: Node[] = [el('h2', {}, [`${node.kind} ${node.label}`]), el('div', {}, [node.id])];
  if (node.drift) {
    out.push(el('p', { class: 'drift' }, [`⚠ ${node.drift.problem}`]));
    if (node.drift.repair) out.push(el('p', { class: 'drift' }, [`berth system check --repair: ${node.drift.repair}`]));
  }
  out.push(table(Object.entries(node.data ?? {}).filter(([, v]) => v !== undefined && v !== null)));
  if (raw === undefined) return [...out, el('p', {}, ['reading the kernel…'])];
  const d = raw as Details;
  if (d.message) return [...out, el('p', { class: 'drift' }, [d.message])];
  out.push(el('h2', {}, [`in namespace ${d.namespace ?? ''}`]));
  for (const i of d.interfaces ?? []) {
    out.push(el('h2', {}, [`${i.name}${i.kind ? ` (${i.kind})` : ''}`]));
    out.push(table([['state', i.up ? 'up' : 'down'], ['mtu', String(i.mtu)], ['mac', i.mac ?? ''], ['addresses', i.addresses.join(' ')], ...Object.entries(i.counters ?? {}).map(([k, v]): [string, unknown] => [k, String(v)])]));
  }
  if (d.routes?.length) {
    out.push(el('h2', {}, ['routes']));
    out.push(table(d.routes.map((r): [string, unknown] => [r.dst, `${r.gateway ? `via ${r.gateway} ` : ''}${r.dev ? `dev ${r.dev} ` : ''}table ${r.table}`])));
  }
  out.push(el('h2', {}, ['nft elements']));
  out.push(el('ul', {}, (d.nft?.length ? d.nft : ['none']).map((l) => el('li', {}, [l]))));
  return out;
}
