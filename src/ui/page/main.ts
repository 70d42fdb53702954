// The topology page (served by `berth daemon --ui`): draws GET /topology with the same layout and
// SVG writer as `berth topology --format svg`, applies each change the daemon sends on GET /events
// (the difference from the last version, engine/topology-diff.ts) and redraws, shows a clicked
// node's details, filters by network and host, exports the view as SVG and PNG.
import { applyDiff, type TopologyDiff } from '../../engine/topology-diff.js';
import type { TopologyGraph } from '../../engine/topology-types.js';
import { topologyView, type ViewFilter } from '../../engine/topology-view.js';
import { detailsHtml, el } from './details.js';
import { Picture } from './picture.js';

interface PageState {
  graph?: TopologyGraph;
  /** the graph's version (the daemon's x-topology-version, then each diff's) */
  version: number;
  filter: ViewFilter;
  selected?: string;
  zoom: number;
  /** a fetch is running / another is wanted after it */
  loading: boolean;
  again: boolean;
}

const STYLE = `
body { margin: 0; font: 13px system-ui, sans-serif; display: grid; grid-template-columns: 1fr 340px; grid-template-rows: auto 1fr; height: 100vh; }
header { grid-column: 1 / 3; display: flex; gap: 12px; align-items: center; padding: 6px 10px; background: #2b5d8a; color: #fff; }
header h1 { font-size: 15px; margin: 0 12px 0 0; }
header label { display: flex; gap: 4px; align-items: center; }
header .status { margin-left: auto; font-size: 12px; opacity: .85; }
#canvas { overflow: auto; background: #fafafa; }
#canvas svg { display: block; }
#canvas g.node { cursor: pointer; }
#canvas g.node text { pointer-events: none; }
aside { overflow: auto; border-left: 1px solid #ccc; padding: 8px 12px; font-size: 12px; }
aside h2 { font-size: 14px; margin: 4px 0; }
aside table { border-collapse: collapse; width: 100%; }
aside td, aside th { text-align: left; padding: 1px 4px; vertical-align: top; border-bottom: 1px solid #eee; font-family: monospace; }
aside .drift { color: #c62828; font-weight: bold; }
`;

const state: PageState = { version: 0, filter: {}, zoom: 1, loading: false, again: false };

/** Where the last update's time went (ms), for the scale test: body[data-last-update]. */
let phases: Record<string, number> = {};
/** The work of every draw since the page loaded, counted (body[data-work]): what a test can check without timing. */
const work = { diffs: 0, fullDraws: 0, patches: 0, laidOut: 0, elements: 0, linkDumps: 0, addressDumps: 0 };

const status = el('span', { class: 'status', id: 'status' });
const networkSelect = el('select', { id: 'filter-network' });
const hostSelect = el('select', { id: 'filter-host' });
const canvas = el('div', { id: 'canvas' });
const panel = el('aside', { id: 'details' }, [el('p', {}, ['Click a node for its details.'])]);
const picture = new Picture(canvas);

function button(id: string, text: string, onClick: () => void): HTMLButtonElement {
  const b = el('button', { id, type: 'button' }, [text]);
  b.addEventListener('click', onClick);
  return b;
}

function options(select: HTMLSelectElement, all: string, values: string[], current: string | undefined): void {
  const want = [['', all], ...values.map((v) => [v, v])];
  const have = [...select.options].map((o) => [o.value, o.text]);
  if (JSON.stringify(want) !== JSON.stringify(have)) select.replaceChildren(...want.map(([v, t]) => el('option', { value: v ?? '' }, [t ?? ''])));
  select.value = current && values.includes(current) ? current : '';
}

function filterOfSelects(): ViewFilter {
  return { ...(networkSelect.value ? { network: networkSelect.value } : {}), ...(hostSelect.value ? { host: hostSelect.value } : {}) };
}

/** Draw the graph in state: a live update patches the picture when it can, anything else draws it whole. */
function draw(live = false): void {
  const g = state.graph;
  if (!g) return;
  const networks = g.nodes.filter((n) => n.kind === 'network').map((n) => n.label).sort();
  const hosts = [...new Set(g.nodes.map((n) => n.host ?? 'local'))].sort((a, b) => (a === 'local' ? -1 : b === 'local' ? 1 : a.localeCompare(b)));
  options(networkSelect, 'all networks', networks, state.filter.network);
  options(hostSelect, 'all hosts', hosts, state.filter.host);
  // a network or host that went away is no longer filtered on
  const filter = filterOfSelects();
  // a filter that changed (its network or host went away) is a new picture
  if (JSON.stringify(filter) !== JSON.stringify(state.filter)) live = false;
  state.filter = filter;
  const started = performance.now();
  const view = topologyView(g, filter);
  const viewed = performance.now();
  const done = picture.draw(view, live);
  applyZoom();
  Object.assign(phases, { viewMs: viewed - started, ...done });
  if (done.patched) work.patches++;
  else work.fullDraws++;
  work.laidOut += done.laidOut;
  work.elements += done.elements;
  document.body.dataset.work = JSON.stringify(work);
  status.title = done.patched ? '' : `drawn whole: ${picture.fullReason}`;
  if (!done.patched) document.body.dataset.fullReason = picture.fullReason;
  if (state.selected) canvas.querySelector(`g.node[data-id="${CSS.escape(state.selected)}"]`)?.classList.add('selected');
  const ms = performance.now() - started;
  const drift = g.nodes.filter((n) => n.drift).length;
  status.textContent = `${view.nodes.length} nodes, ${view.edges.length} edges${drift ? `, ${drift} drifted` : ''}; drawn in ${Math.round(ms)} ms at ${new Date().toLocaleTimeString()}`;
  document.body.dataset.drawn = String(Date.now());
  // ms from the navigation's start to the first picture (the scale test's "first draw")
  document.body.dataset.firstDrawMs ??= String(Math.round(performance.now()));
  document.body.dataset.drawMs = String(Math.round(ms));
}

function applyZoom(): void {
  const svg = canvas.querySelector('svg');
  if (!svg) return;
  const w = Number(svg.getAttribute('width'));
  const h = Number(svg.getAttribute('height'));
  svg.style.width = `${w * state.zoom}px`;
  svg.style.height = `${h * state.zoom}px`;
}

/** Draw the graph now in state, timing it from t0 on (the phases so far in p); live: a diff applied. */
function update(p: Record<string, number>, t0: number, live = false): void {
  phases = p;
  draw(live);
  // after the next frame: the picture is on the screen
  requestAnimationFrame(() =>
    setTimeout(() => {
      p.paintedMs = performance.now() - t0;
      document.body.dataset.lastUpdate = JSON.stringify(Object.fromEntries(Object.entries(p).map(([k, v]) => [k, Math.round(v)])));
    }, 0),
  );
}

/** The whole graph, at the start and whenever a diff does not follow the version drawn. */
async function refresh(): Promise<void> {
  if (state.loading) {
    state.again = true;
    return;
  }
  state.loading = true;
  try {
    const t0 = performance.now();
    const had = state.version;
    const r = await fetch('/topology', { cache: 'no-store' });
    if (!r.ok) throw new Error(`GET /topology: ${r.status} ${await r.text()}`);
    const graph = (await r.json()) as TopologyGraph;
    const version = Number(r.headers.get('x-topology-version') ?? '0');
    // a diff applied meanwhile is newer; the version drawn already: nothing to lay out again
    const newerApplied = state.version !== had && state.version > version;
    if (!newerApplied && !(state.graph && version === state.version)) {
      state.graph = graph;
      state.version = version;
      const serverMs = Number(/graph;dur=([\d.]+)/.exec(r.headers.get('server-timing') ?? '')?.[1] ?? 'NaN');
      update({ fetchMs: performance.now() - t0, serverMs }, t0);
    }
  } catch (err) {
    status.textContent = `cannot load the topology: ${(err as Error).message}`;
  } finally {
    state.loading = false;
    if (state.again) {
      state.again = false;
      void refresh();
    }
  }
}

/** A change from the daemon: applied to the graph drawn if it follows it, else the whole graph is fetched. */
function onDiff(data: string): void {
  const t0 = performance.now();
  const d = JSON.parse(data) as TopologyDiff & { timing?: { waitedMs: number; buildMs: number; linkDumps?: number; addressDumps?: number } };
  work.diffs++;
  work.linkDumps += d.timing?.linkDumps ?? 0;
  work.addressDumps += d.timing?.addressDumps ?? 0;
  if (state.graph && d.base === state.version) {
    state.graph = applyDiff(state.graph, d);
    state.version = d.version;
    update({ eventEpoch: Date.now(), ...(d.timing ?? {}), applyMs: performance.now() - t0 }, t0, true);
  } else if (!state.graph || d.version !== state.version) {
    void refresh();
  }
}

async function showDetails(id: string): Promise<void> {
  state.selected = id;
  canvas.querySelectorAll('g.node.selected').forEach((n) => n.classList.remove('selected'));
  canvas.querySelector(`g.node[data-id="${CSS.escape(id)}"]`)?.classList.add('selected');
  const node = state.graph?.nodes.find((n) => n.id === id);
  if (!node) return;
  panel.replaceChildren(...detailsHtml(node, undefined));
  // remote hosts' containers and drift-only nodes have nothing to read on this host
  if (node.host !== 'local' || /^(netns|drift)\//.test(id)) return;
  const r = await fetch(`/topology/node?id=${encodeURIComponent(id)}`, { cache: 'no-store' });
  const details = r.ok ? ((await r.json()) as unknown) : { message: `${r.status}: ${await r.text()}` };
  if (state.selected === id) panel.replaceChildren(...detailsHtml(node, details));
}

function download(name: string, blob: Blob): void {
  const a = el('a', { href: URL.createObjectURL(blob), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
}

function exportSvg(): void {
  download('berth-topology.svg', new Blob([picture.document()], { type: 'image/svg+xml' }));
}

function exportPng(): void {
  const svg = canvas.querySelector('svg');
  if (!svg) return;
  const w = Number(svg.getAttribute('width'));
  const h = Number(svg.getAttribute('height'));
  const img = new Image();
  const src = URL.createObjectURL(new Blob([picture.document()], { type: 'image/svg+xml' }));
  img.onload = () => {
    const c = el('canvas', { width: String(w), height: String(h) });
    c.getContext('2d')?.drawImage(img, 0, 0);
    URL.revokeObjectURL(src);
    c.toBlob((b) => b && download('berth-topology.png', b), 'image/png');
  };
  img.src = src;
}

function main(): void {
  document.head.append(el('style', {}, [STYLE]));
  const header = el('header', {}, [
    el('h1', {}, ['berth topology']),
    el('label', {}, ['network ', networkSelect]),
    el('label', {}, ['host ', hostSelect]),
    button('zoom-in', '+', () => ((state.zoom = Math.min(4, state.zoom * 1.25)), applyZoom())),
    button('zoom-out', '−', () => ((state.zoom = Math.max(0.05, state.zoom / 1.25)), applyZoom())),
    button('zoom-fit', 'fit', () => {
      const svg = canvas.querySelector('svg');
      if (svg) state.zoom = Math.min(1, canvas.clientWidth / Number(svg.getAttribute('width')), canvas.clientHeight / Number(svg.getAttribute('height')));
      applyZoom();
    }),
    button('export-svg', 'SVG', exportSvg),
    button('export-png', 'PNG', exportPng),
    status,
  ]);
  document.getElementById('app')?.replaceWith(header, canvas, panel);
  const filterChanged = () => {
    state.filter = filterOfSelects();
    draw();
  };
  networkSelect.addEventListener('change', filterChanged);
  hostSelect.addEventListener('change', filterChanged);
  canvas.addEventListener('click', (e) => {
    const g = (e.target as Element).closest('g.node');
    const id = g?.getAttribute('data-id');
    if (id) void showDetails(id);
  });
  // each change of the graph, as its difference from the last version; on (re)connecting, the whole graph
  const events = new EventSource('/events');
  events.addEventListener('topology', (e) => onDiff((e as MessageEvent<string>).data));
  events.onopen = () => void refresh();
  void refresh();
}

main();
