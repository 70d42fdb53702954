// A live update's layout patched instead of laid out again (src/engine/topology-patch.ts): a
// container added to or removed from a bridge's grid moves only itself (and the grid's last
// member), nothing overlaps, and any other change is refused with its reason.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TopologyGraph } from '../../src/engine/topology-types.js';
import { topologyView } from '../../src/engine/topology-view.js';
import { layoutTopology, topologySvg, type TopologyLayout } from '../../src/engine/topology-svg.js';
import { laidOut, patchLayout, viewEdgeKey, type LaidOut, type PatchResult } from '../../src/engine/topology-patch.js';

const hex = (i: number, n: number) => i.toString(16).padStart(n, '0');
const ctrId = (i: number) => `ns/${hex(i, 64)}`;

function base(): TopologyGraph {
  return {
    nodes: [
      { id: 'host', kind: 'host', label: 'host', host: 'local' },
      { id: 'host/eth0', kind: 'interface', label: 'eth0', host: 'local', data: { role: 'uplink', addresses: ['10.0.0.5/24'] } },
      { id: 'host/berth0', kind: 'bridge', label: 'berth0', host: 'local', networks: ['bridge'], data: { kind: 'bridge', addresses: ['172.17.0.1/16'] } },
      { id: 'host/br-1', kind: 'bridge', label: 'br-1', host: 'local', networks: ['scale'], data: { kind: 'bridge', addresses: ['10.72.0.1/20'] } },
    ],
    edges: [
      { from: 'host/eth0', to: 'host', kind: 'in' },
      { from: 'host/berth0', to: 'host', kind: 'in' },
      { from: 'host/br-1', to: 'host', kind: 'in' },
    ],
  };
}

/** Container i on the bridge, as topology() draws it: namespace, eth0, veth host end, maybe a port. */
function addContainer(g: TopologyGraph, i: number, bridge = 'host/berth0', label = `c${i}`): void {
  const id = ctrId(i);
  const veth = `host/veth${hex(i, 7)}`;
  g.nodes.push({ id, kind: 'namespace', label, host: 'local', networks: ['bridge'], data: { hostname: label.slice(0, 8), status: 'running' } });
  g.nodes.push({ id: `${id}/eth0`, kind: 'interface', label: 'eth0', host: 'local', data: { addresses: [`172.17.${i >> 8}.${i & 255}/16`], mac: '02:42:ac:11:00:02' } });
  g.nodes.push({ id: veth, kind: 'interface', label: `veth${hex(i, 7)}`, host: 'local', data: { role: 'veth' } });
  g.edges.push({ from: `${id}/eth0`, to: id, kind: 'in' }, { from: `${id}/eth0`, to: veth, kind: 'veth' }, { from: veth, to: bridge, kind: 'port-of' });
  if (i % 5 === 0) g.edges.push({ from: 'host', to: id, kind: 'publishes', label: `0.0.0.0:${20000 + i}/tcp -> x:80` });
}

function removeContainer(g: TopologyGraph, i: number): TopologyGraph {
  const id = ctrId(i);
  const gone = new Set([id, `${id}/eth0`, `host/veth${hex(i, 7)}`]);
  return { nodes: g.nodes.filter((n) => !gone.has(n.id)), edges: g.edges.filter((e) => !gone.has(e.from) && !gone.has(e.to)) };
}

function scale(n: number): TopologyGraph {
  const g = base();
  for (let i = 0; i < n; i++) addContainer(g, i, i % 2 ? 'host/br-1' : 'host/berth0');
  return g;
}

const first = (g: TopologyGraph): LaidOut => {
  const view = topologyView(g);
  return laidOut(view, layoutTopology(view));
};

function ok(r: PatchResult): Extract<PatchResult, { ok: true }> {
  if (!r.ok) assert.fail(`not patched: ${r.reason}`);
  return r;
}

function assertNoOverlap(layout: TopologyLayout): void {
  const sorted = [...layout.nodes].sort((a, b) => a.x - a.width / 2 - (b.x - b.width / 2));
  for (let i = 0; i < sorted.length; i++) {
    const a = sorted[i] as (typeof sorted)[number];
    for (let j = i + 1; j < sorted.length; j++) {
      const b = sorted[j] as (typeof sorted)[number];
      if (b.x - b.width / 2 >= a.x + a.width / 2) break;
      assert.ok(Math.abs(a.y - b.y) * 2 >= a.height + b.height, `${a.id} and ${b.id} do not overlap`);
    }
  }
}

describe('topology layout patch', () => {
  it('a container added to a grid takes the next slot; nothing else moves; only its box and edge are written', () => {
    const g = scale(400);
    const prev = first(g);
    addContainer(g, 401, 'host/br-1');
    const r = ok(patchLayout(prev, topologyView(g)));
    assert.deepEqual(r.patch.nodes.map((n) => n.id), [ctrId(401)]);
    assert.deepEqual(r.patch.edges.map((e) => `${e.from} ${e.kind} ${e.to}`), [`host/br-1 veth ${ctrId(401)}`]);
    assert.deepEqual([r.patch.removeNodes, r.patch.removeEdges], [[], []]);
    assert.equal(r.next.layout.laidOut, 0);
    const before = new Map(prev.layout.nodes.map((n) => [n.id, n]));
    for (const n of r.next.layout.nodes) {
      const b = before.get(n.id);
      if (b) assert.deepEqual([n.x, n.y], [b.x, b.y], `${n.id} kept its place`);
    }
    const block = r.next.layout.blocks.find((b) => b.parent === 'host/br-1');
    assert.equal(block?.members.at(-1), ctrId(401));
    assertNoOverlap(r.next.layout);
    const edge = r.patch.edges[0];
    assert.ok(edge && edge.points.length === 2, 'a straight edge from the bridge to the box');
    // the document exported afterwards has it
    const svg = topologySvg(r.next.layout);
    assert.equal((svg.match(/<g class="node /g) ?? []).length, r.next.view.nodes.length);
  });

  it('a picture with edge labels (few edges): the new edge and its label', () => {
    const g = scale(40);
    const prev = first(g);
    addContainer(g, 41, 'host/br-1');
    const r = ok(patchLayout(prev, topologyView(g)));
    assert.deepEqual(r.patch.nodes.map((n) => n.id), [ctrId(41)]);
    assert.deepEqual(r.patch.edges.map((e) => e.label), [`eth0 ⇄ veth${hex(41, 7)}`]);
    assertNoOverlap(r.next.layout);
  });

  it('a container removed: the grid\'s last member takes its slot, its edges move with it', () => {
    const g = scale(400);
    const prev = first(g);
    const block = prev.layout.blocks.find((b) => b.parent === 'host/berth0');
    assert.ok(block);
    const last = block.members.at(-1) as string;
    const lastBefore = prev.layout.nodes.find((n) => n.id === last);
    const victim = 10; // even: on berth0, and publishing a port (i % 5 === 0)
    const slotOfVictim = prev.layout.nodes.find((n) => n.id === ctrId(victim));
    const r = ok(patchLayout(prev, topologyView(removeContainer(g, victim))));
    assert.deepEqual(r.patch.removeNodes, [ctrId(victim)]);
    assert.deepEqual(r.patch.nodes.map((n) => n.id), [last]);
    const moved = r.patch.nodes[0];
    assert.ok(moved && slotOfVictim && lastBefore);
    assert.deepEqual([moved.x, moved.y], [slotOfVictim.x, slotOfVictim.y], 'the last member moved into the slot');
    // the victim's veth and port edges are gone, the last member's veth edge (and port edge, if any) redrawn
    const lastEdges = prev.view.edges.filter((e) => e.to === last).map(viewEdgeKey);
    const victimEdges = prev.view.edges.filter((e) => e.to === ctrId(victim)).map(viewEdgeKey);
    assert.deepEqual(r.patch.removeEdges.sort(), [...lastEdges, ...victimEdges].sort());
    assert.deepEqual(r.patch.edges.map(viewEdgeKey).sort(), [...lastEdges].sort());
    assertNoOverlap(r.next.layout);
  });

  it('many updates in a row keep a picture with no overlap, each writing a few elements', () => {
    const g0 = scale(300);
    let cur = first(g0);
    let g = g0;
    for (let k = 0; k < 60; k++) {
      if (k % 3 === 2) g = removeContainer(g, 1 + 2 * k);
      else addContainer(g, 1000 + k, k % 2 ? 'host/br-1' : 'host/berth0');
      const r = ok(patchLayout(cur, topologyView(g)));
      const written = r.patch.nodes.length + r.patch.removeNodes.length + r.patch.edges.length + r.patch.removeEdges.length;
      assert.ok(written <= 8, `update ${k}: ${written} elements`);
      cur = r.next;
    }
    assertNoOverlap(cur.layout);
    const ids = new Set(cur.layout.nodes.map((n) => n.id));
    assert.deepEqual([...ids].sort(), topologyView(g).nodes.map((n) => n.id).sort());
  });

  it('a container told before its endpoint waits at the right edge, then joins its grid', () => {
    const g = scale(200);
    const prev = first(g);
    const id = ctrId(500);
    const lone = structuredClone(g);
    lone.nodes.push({ id, kind: 'namespace', label: 'c500', host: 'local', networks: [], data: { status: 'created' } });
    const r1 = ok(patchLayout(prev, topologyView(lone)));
    assert.deepEqual(r1.patch.nodes.map((n) => n.id), [id]);
    const parked = r1.patch.nodes[0];
    assert.ok(parked && parked.x - parked.width / 2 >= prev.layout.width, 'right of the picture');
    assert.ok(r1.next.layout.width > prev.layout.width);
    assertNoOverlap(r1.next.layout);
    addContainer(g, 500, 'host/berth0');
    const r2 = ok(patchLayout(r1.next, topologyView(g)));
    assert.deepEqual(r2.patch.nodes.map((n) => n.id), [id]);
    assert.equal(r2.next.layout.blocks.find((b) => b.parent === 'host/berth0')?.members.at(-1), id);
    assertNoOverlap(r2.next.layout);
    // and a lone container removed before it joined: its box goes
    const r3 = ok(patchLayout(r1.next, topologyView(scale(200))));
    assert.deepEqual(r3.patch.removeNodes, [id]);
  });

  it('a container rewritten at a size that fits its cell is rewritten in place', () => {
    const g = scale(200);
    const prev = first(g);
    const n = g.nodes.find((x) => x.id === ctrId(3));
    assert.ok(n?.data);
    n.data.hostname = 'c';
    const r = ok(patchLayout(prev, topologyView(g)));
    assert.deepEqual(r.patch.nodes.map((x) => x.id), [ctrId(3)]);
    assert.deepEqual([r.patch.edges, r.patch.removeEdges, r.patch.removeNodes], [[], [], []]);
  });

  it('a removed container whose veth outlives it (the kernel deletes it after the namespace): patched in both steps', () => {
    // seen at 500 containers: `rm` removed the record, the daemon built the graph while the host
    // end was still there (a port of the bridge with no peer), then once it was gone: two full
    // redraws of a 500-container picture for one removal
    const g = scale(400);
    const prev = first(g);
    const victim = 10;
    const veth = `host/veth${hex(victim, 7)}`;
    const lingering = removeContainer(g, victim);
    lingering.nodes.push({ id: veth, kind: 'interface', label: `veth${hex(victim, 7)}`, host: 'local', data: { role: 'veth' } });
    lingering.edges.push({ from: veth, to: 'host/berth0', kind: 'port-of' });
    const step1 = ok(patchLayout(prev, topologyView(lingering)));
    assert.ok(step1.patch.removeNodes.includes(ctrId(victim)));
    assert.ok(step1.patch.nodes.some((n) => n.id === veth), 'the lingering port is drawn (parked at the right edge)');
    assert.ok(step1.patch.edges.some((e) => e.from === veth || e.to === veth), 'with its edge to the bridge');
    assertNoOverlap(step1.next.layout);
    const step2 = ok(patchLayout(step1.next, topologyView(removeContainer(g, victim))));
    assert.deepEqual(step2.patch.removeNodes, [veth]);
    assert.deepEqual(step2.patch.nodes, []);
    assert.ok(step2.patch.removeEdges.length >= 1 && step2.patch.removeEdges.every((k) => k.includes(veth)), 'only its edge goes');
  });

  it('anything else is laid out anew, saying why', () => {
    const g = scale(200);
    const prev = first(g);
    // a new bridge outside the grids
    const g2 = structuredClone(g);
    g2.nodes.push({ id: 'host/br-2', kind: 'bridge', label: 'br-2', host: 'local', data: { kind: 'bridge' } });
    g2.edges.push({ from: 'host/br-2', to: 'host', kind: 'in' });
    const r2 = patchLayout(prev, topologyView(g2));
    assert.ok(!r2.ok && /a new node outside a grid: host\/br-2/.test(r2.reason), JSON.stringify(r2));
    // a container too wide for its cell
    const g3 = structuredClone(g);
    addContainer(g3, 999, 'host/berth0', 'x'.repeat(80));
    const r3 = patchLayout(prev, topologyView(g3));
    assert.ok(!r3.ok, 'a box wider than its grid cell');
    // edge labels go away when the picture gets many edges
    const small = scale(120);
    const ps = first(small);
    for (let i = 0; i < 30; i++) addContainer(small, 200 + i);
    const r4 = patchLayout(ps, topologyView(small));
    assert.ok(!r4.ok && /edge labels/.test(r4.reason), JSON.stringify(r4));
    // a small picture (no grid) is laid out anew: its bridges' containers are placed by dagre
    const tiny = scale(6);
    const pt = first(tiny);
    addContainer(tiny, 7);
    const r5 = patchLayout(pt, topologyView(tiny));
    assert.ok(!r5.ok && /outside a grid/.test(r5.reason), JSON.stringify(r5));
    // a grid that doubled since it was laid out
    const g5 = structuredClone(g);
    let cur = prev;
    let refused = '';
    for (let k = 0; k < 120 && !refused; k++) {
      addContainer(g5, 2000 + k, 'host/berth0');
      const r = patchLayout(cur, topologyView(g5));
      if (r.ok) cur = r.next;
      else refused = r.reason;
    }
    assert.match(refused, /grew or shrank too much|run into another box/);
  });
});
