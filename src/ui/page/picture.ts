// The drawn picture in the page: the SVG element and, for a live update, only the elements that
// change (engine/topology-patch.ts) instead of the whole document again: with 500 containers a
// full redraw (layout, 300 kB of SVG parsed, every element styled and painted) took most of a
// second of the update's budget. The elements by node id and edge key are found once per full draw.
import { MAX_LABELLED_EDGES, edgeLabelSvg, edgeSvg, layoutTopology, nodeSvg, topologySvg } from '../../engine/topology-svg.js';
import { type LaidOut, type LayoutPatch, laidOut, patchLayout, viewEdgeKey } from '../../engine/topology-patch.js';
import type { TopologyView } from '../../engine/topology-view.js';

const SVG_NS = 'http://www.w3.org/2000/svg';

/** What one draw did: counted, so a test can check an update's work without timing it. */
export interface DrawWork {
  /** 1: patched in place; 0: laid out and written whole */
  patched: number;
  /** nodes dagre laid out (0 when patched) */
  laidOut: number;
  /** SVG elements written or removed */
  elements: number;
  layoutMs: number;
  svgMs: number;
  domMs: number;
}

export class Picture {
  private last: LaidOut | undefined;
  private readonly nodeEls = new Map<string, Element>();
  private readonly edgeEls = new Map<string, Element>();
  private readonly labelEls = new Map<string, Element>();
  /** why the last update was not patched (shown in the status line's title) */
  fullReason = '';

  constructor(private readonly canvas: HTMLElement) {}

  get svg(): SVGSVGElement | null {
    return this.canvas.querySelector('svg');
  }

  /** The picture as a document, for the SVG and PNG exports. */
  document(): string {
    return this.last ? topologySvg(this.last.layout) : '';
  }

  /** Draw the view: patched when `live` and the change allows it, else laid out and written whole. */
  draw(view: TopologyView, live: boolean): DrawWork {
    const t0 = performance.now();
    const r = live && this.last && this.svg ? patchLayout(this.last, view) : { ok: false as const, reason: live ? 'nothing drawn yet' : 'a full draw' };
    if (r.ok) {
      const t1 = performance.now();
      const elements = this.apply(r.next, r.patch);
      this.last = r.next;
      return { patched: 1, laidOut: 0, elements, layoutMs: t1 - t0, svgMs: 0, domMs: performance.now() - t1 };
    }
    this.fullReason = r.reason;
    const layout = layoutTopology(view);
    const t1 = performance.now();
    const text = topologySvg(layout);
    const t2 = performance.now();
    // the SVG is berth's own writer's, every text in it escaped (topology-svg.ts)
    this.canvas.innerHTML = text;
    this.last = laidOut(view, layout);
    this.index();
    return { patched: 0, laidOut: layout.laidOut, elements: this.nodeEls.size + this.edgeEls.size + this.labelEls.size, layoutMs: t1 - t0, svgMs: t2 - t1, domMs: performance.now() - t2 };
  }

  /** The elements of a full draw by node id and edge key (edges and their labels are written in the layout's order, those with no points skipped). */
  private index(): void {
    this.nodeEls.clear();
    this.edgeEls.clear();
    this.labelEls.clear();
    const svg = this.svg;
    if (!svg || !this.last) return;
    for (const g of svg.querySelectorAll('g.node')) this.nodeEls.set(g.getAttribute('data-id') ?? '', g);
    const drawn = this.last.layout.edges.filter((e) => e.points.length);
    const els = svg.querySelectorAll('g.edge');
    drawn.forEach((e, i) => {
      const g = els[i];
      if (g) this.edgeEls.set(viewEdgeKey(e), g);
    });
    if (this.last.layout.edges.length > MAX_LABELLED_EDGES) return;
    const labels = svg.querySelectorAll('text.edge-label');
    drawn.filter((e) => e.label).forEach((e, i) => {
      const t = labels[i];
      if (t) this.labelEls.set(viewEdgeKey(e), t);
    });
  }

  private apply(next: LaidOut, patch: LayoutPatch): number {
    const svg = this.svg as SVGSVGElement;
    let count = 0;
    for (const id of patch.removeNodes) {
      this.nodeEls.get(id)?.remove();
      this.nodeEls.delete(id);
      count++;
    }
    for (const k of patch.removeEdges) {
      this.edgeEls.get(k)?.remove();
      this.edgeEls.delete(k);
      count++;
      const label = this.labelEls.get(k);
      if (label) {
        label.remove();
        this.labelEls.delete(k);
        count++;
      }
    }
    const labelled = next.layout.edges.length <= MAX_LABELLED_EDGES;
    // edges go under the boxes: right after the background
    const background = svg.querySelector(':scope > rect');
    for (const e of patch.edges) {
      if (!e.points.length) continue;
      const g = parse(svg, edgeSvg(e));
      if (background) background.after(g);
      else svg.prepend(g);
      this.edgeEls.set(viewEdgeKey(e), g);
      count++;
      // labels over everything: last
      const label = labelled ? edgeLabelSvg(e) : undefined;
      if (label) {
        const t = parse(svg, label);
        svg.append(t);
        this.labelEls.set(viewEdgeKey(e), t);
        count++;
      }
    }
    // boxes over the edges, under the labels
    const firstLabel = this.labelEls.size ? svg.querySelector(':scope > text.edge-label') : null;
    for (const n of patch.nodes) {
      const g = parse(svg, nodeSvg(n));
      const old = this.nodeEls.get(n.id);
      if (old) old.replaceWith(g);
      else if (firstLabel) firstLabel.before(g);
      else svg.append(g);
      this.nodeEls.set(n.id, g);
      count++;
    }
    const { width, height } = next.layout;
    const w = Math.max(width, 100);
    const h = Math.max(height, 60);
    if (svg.getAttribute('height') !== String(h) || svg.getAttribute('width') !== String(w)) {
      svg.setAttribute('width', String(w));
      svg.setAttribute('height', String(h));
      svg.setAttribute('viewBox', `0 0 ${w} ${h}`);
    }
    return count;
  }
}

/** One element from berth's own SVG writer's text, in the SVG namespace. */
function parse(svg: SVGSVGElement, text: string): Element {
  const holder = svg.ownerDocument.createElementNS(SVG_NS, 'g');
  holder.innerHTML = text;
  return holder.firstElementChild as Element;
}
