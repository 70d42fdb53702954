// The topology as drawn (src/engine/topology-view.ts) and each `berth topology --format`:
// text, dot, mermaid, svg (topology-formats.ts, topology-svg.ts), from one graph shaped like
// what topology() returns for a host with the default bridge, a container with a published
// port, a container sharing its namespace, a host-mode one and a stray link (drift).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { TopologyGraph } from '../../src/engine/topology-types.js';
import { topologyView } from '../../src/engine/topology-view.js';
import { topologyDot, topologyMermaid, topologyText } from '../../src/engine/topology-formats.js';
import { GRID_MIN, layoutTopology, topologySvg } from '../../src/engine/topology-svg.js';

const WEB = 'a'.repeat(64);
const SIDE = 'b'.repeat(64);
const HOSTY = 'c'.repeat(64);
const graph = (): TopologyGraph => ({
  nodes: [
    { id: 'host', kind: 'host', label: 'host', host: 'local', networks: ['bridge'] },
    { id: 'host/lo', kind: 'interface', label: 'lo', host: 'local', data: { role: 'loopback', addresses: ['127.0.0.1/8'] } },
    { id: 'host/eth0', kind: 'interface', label: 'eth0', host: 'local', data: { role: 'uplink', addresses: ['10.0.0.5/24'] } },
    { id: 'host/berth0', kind: 'bridge', label: 'berth0', host: 'local', networks: ['bridge'], data: { role: 'other', kind: 'bridge', addresses: ['172.17.0.1/16'] } },
    { id: 'host/veth1234567', kind: 'interface', label: 'veth1234567', host: 'local', networks: ['bridge'], data: { role: 'veth', kind: 'veth' } },
    { id: 'host/vethdead000', kind: 'interface', label: 'vethdead000', host: 'local', drift: { problem: 'berth made it, but the store does not know it', repair: 'deleted it' }, data: { role: 'veth', kind: 'veth' } },
    { id: 'network/bridge', kind: 'network', label: 'bridge', host: 'local', networks: ['bridge'], data: { driver: 'bridge', subnets: ['172.17.0.0/16'], natFree: false } },
    { id: `ns/${WEB}`, kind: 'namespace', label: 'web', host: 'local', networks: ['bridge'], data: { networkMode: 'bridge', hostname: 'web', status: 'running' } },
    { id: `ns/${WEB}/eth0`, kind: 'interface', label: 'eth0', host: 'local', networks: ['bridge'], data: { addresses: ['172.17.0.2/16'], mac: '02:42:ac:11:00:02' } },
    { id: `ns/${SIDE}`, kind: 'namespace', label: 'side', host: 'local', networks: ['bridge'], data: { networkMode: 'container:web', hostname: 'web', status: 'running' } },
    { id: `ns/${HOSTY}`, kind: 'namespace', label: 'hosty', host: 'local', networks: [], data: { networkMode: 'host', hostname: 'box', status: 'running' } },
  ],
  edges: [
    { from: 'host/lo', to: 'host', kind: 'in' },
    { from: 'host/eth0', to: 'host', kind: 'in' },
    { from: 'host/berth0', to: 'host', kind: 'in' },
    { from: 'host/veth1234567', to: 'host', kind: 'in' },
    { from: 'host/veth1234567', to: 'host/berth0', kind: 'port-of' },
    { from: 'host/vethdead000', to: 'host', kind: 'in' },
    { from: 'network/bridge', to: 'host/berth0', kind: 'attached' },
    { from: `ns/${WEB}/eth0`, to: `ns/${WEB}`, kind: 'in' },
    { from: `ns/${WEB}/eth0`, to: 'host/veth1234567', kind: 'veth' },
    { from: 'host', to: `ns/${WEB}`, kind: 'publishes', label: '0.0.0.0:8080/tcp -> 172.17.0.2:80' },
    { from: `ns/${SIDE}`, to: `ns/${WEB}`, kind: 'shares', label: 'network namespace' },
    { from: `ns/${HOSTY}`, to: 'host', kind: 'shares', label: 'host network' },
  ],
});

describe('topology view', () => {
  it('folds interfaces into namespaces, veth host ends into edges, networks into their bridge', () => {
    const v = topologyView(graph());
    assert.deepEqual(v.nodes.map((n) => n.id).sort(), ['host', 'host/berth0', 'host/eth0', 'host/lo', 'host/vethdead000', `ns/${HOSTY}`, `ns/${SIDE}`, `ns/${WEB}`].sort());
    const edges = v.edges.map((e) => `${e.from} ${e.kind} ${e.to}${e.label ? ` (${e.label})` : ''}`).sort();
    assert.deepEqual(edges, [
      `host publishes ns/${WEB} (0.0.0.0:8080/tcp -> 172.17.0.2:80)`,
      `host/berth0 in host`,
      `host/berth0 veth ns/${WEB} (eth0 ⇄ veth1234567)`,
      'host/eth0 in host',
      'host/lo in host',
      'host/vethdead000 in host',
      `ns/${HOSTY} shares host (host network)`,
      `ns/${SIDE} shares ns/${WEB} (network namespace)`,
    ].sort());
    const web = v.nodes.find((n) => n.id === `ns/${WEB}`);
    assert.deepEqual(web?.lines, ['hostname web', 'eth0 172.17.0.2/16 02:42:ac:11:00:02']);
    assert.ok(v.nodes.find((n) => n.id === 'host/berth0')?.lines.includes('network bridge (bridge) 172.17.0.0/16'));
    assert.equal(v.nodes.find((n) => n.id === `ns/${SIDE}`)?.tag, 'container:web mode');
    assert.equal(v.nodes.find((n) => n.id === `ns/${HOSTY}`)?.tag, 'host mode');
    assert.equal(v.nodes.find((n) => n.id === 'host/eth0')?.tag, 'uplink');
  });
  it('filters by network: the host, and what is on that network', () => {
    const v = topologyView(graph(), { network: 'bridge' });
    assert.deepEqual(v.nodes.map((n) => n.id).sort(), ['host', 'host/berth0', `ns/${SIDE}`, `ns/${WEB}`].sort());
    assert.ok(v.edges.every((e) => v.nodes.some((n) => n.id === e.from) && v.nodes.some((n) => n.id === e.to)));
    assert.deepEqual(topologyView(graph(), { host: 'remote1' }).nodes, [], 'nothing of this host on another one');
  });
});

describe('topology formats', () => {
  const view = topologyView(graph());
  it('text: one block per node, one line per edge, drift with what --repair does', () => {
    const t = topologyText(view);
    assert.match(t, /^host host$/m);
    assert.match(t, /^bridge berth0$/m);
    assert.match(t, /^namespace side \[container:web mode\]$/m);
    assert.match(t, /^ {4}⚠ berth made it, but the store does not know it$/m);
    assert.match(t, /^ {4}--repair: deleted it$/m);
    assert.match(t, /^berth0 -> web: veth eth0 ⇄ veth1234567$/m);
    assert.match(t, /^host -> web: publishes 0\.0\.0\.0:8080\/tcp -> 172\.17\.0\.2:80$/m);
    assert.equal(t.trim().split('\n').filter((l) => l.includes(' -> ') && l.includes(': ')).length, view.edges.length);
  });
  it('dot: a digraph with every node and edge, quoted; drift red', () => {
    const d = topologyDot(view);
    assert.match(d, /^digraph berth \{/);
    assert.match(d, /\}\n$/);
    for (const n of view.nodes) assert.ok(d.includes(`"${n.id}" [label=`), n.id);
    assert.equal(d.split('\n').filter((l) => l.includes(' -> ')).length, view.edges.length);
    assert.match(d, /"host\/vethdead000" \[label="[^"]*", shape=ellipse, color=red, style=dashed\]/);
    assert.ok(d.includes(`"host/berth0" -> "ns/${WEB}" [label="veth: eth0 ⇄ veth1234567"]`));
  });
  it('mermaid: a flowchart with safe ids and escaped labels', () => {
    const m = topologyMermaid(view);
    assert.match(m, /^flowchart TB\n/);
    const nodeLines = m.split('\n').filter((l) => /^ {2}n\d+[[(]/.test(l));
    assert.equal(nodeLines.length, view.nodes.length);
    assert.equal(m.split('\n').filter((l) => /^ {2}n\d+ (-->|-\.->)/.test(l)).length, view.edges.length);
    assert.ok(!/<(?!br\/>)/.test(m), 'no raw < except line breaks');
    assert.match(m, /8080\/tcp -#gt; 172\.17\.0\.2:80/);
  });
  it('svg: a document with every node at its place and every edge drawn', () => {
    const layout = layoutTopology(view);
    const s = topologySvg(layout);
    assert.match(s, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    assert.equal((s.match(/<g class="node /g) ?? []).length, view.nodes.length);
    assert.equal((s.match(/<g class="edge /g) ?? []).length, view.edges.length);
    assert.match(s, /<g class="node k-interface drift" data-id="host\/vethdead000">/);
    const host = layout.nodes.find((n) => n.id === 'host');
    const web = layout.nodes.find((n) => n.id === `ns/${WEB}`);
    const br = layout.nodes.find((n) => n.id === 'host/berth0');
    assert.ok(host && web && br && host.y < br.y && br.y < web.y, 'host above its bridge, bridge above the container');
    for (const a of layout.nodes) {
      for (const b of layout.nodes) {
        if (a === b) continue;
        const apart = Math.abs(a.x - b.x) * 2 >= a.width + b.width || Math.abs(a.y - b.y) * 2 >= a.height + b.height;
        assert.ok(apart, `${a.id} and ${b.id} do not overlap`);
      }
    }
    assert.ok(!s.includes('<script'), 'no script in an exported picture');
    assert.ok(s.includes('eth0 ⇄ veth1234567'));
  });
});

describe('topology layout at scale', () => {
  it('packs many containers of one bridge in a grid under it: no overlap, fast', () => {
    const g = graph();
    const N = 500;
    for (let i = 0; i < N; i++) {
      const id = `ns/${i.toString(16).padStart(64, '0')}`;
      g.nodes.push({ id, kind: 'namespace', label: `c${i}`, host: 'local', networks: ['bridge'], data: { hostname: `c${i}` } });
      g.nodes.push({ id: `${id}/eth0`, kind: 'interface', label: 'eth0', host: 'local', data: { addresses: [`172.17.${i >> 8}.${i & 255}/16`], mac: '02:42:ac:11:00:02' } });
      g.nodes.push({ id: `host/veth${i.toString(16).padStart(7, '0')}`, kind: 'interface', label: `veth${i}`, host: 'local', data: { role: 'veth' } });
      g.edges.push({ from: `${id}/eth0`, to: id, kind: 'in' }, { from: `${id}/eth0`, to: `host/veth${i.toString(16).padStart(7, '0')}`, kind: 'veth' });
      g.edges.push({ from: `host/veth${i.toString(16).padStart(7, '0')}`, to: 'host/berth0', kind: 'port-of' });
      if (i % 5 === 0) g.edges.push({ from: 'host', to: id, kind: 'publishes', label: `0.0.0.0:${20000 + i}/tcp -> x:80` });
    }
    const t0 = Date.now();
    const layout = layoutTopology(topologyView(g));
    const ms = Date.now() - t0;
    assert.ok(N >= GRID_MIN);
    assert.ok(ms < 1000, `laid out in ${ms} ms`);
    const br = layout.nodes.find((n) => n.id === 'host/berth0');
    const ctrs = layout.nodes.filter((n) => n.kind === 'namespace' && n.title.startsWith('c'));
    assert.equal(ctrs.length, N);
    assert.ok(br && ctrs.every((c) => c.y > br.y), 'every container below its bridge');
    assert.ok(layout.width < 20 * layout.height, `a grid, not one row: ${layout.width} x ${layout.height}`);
    const sorted = [...layout.nodes].sort((a, b) => a.x - a.width / 2 - (b.x - b.width / 2));
    for (let i = 0; i < sorted.length; i++) {
      const a = sorted[i] as (typeof sorted)[number];
      for (let j = i + 1; j < sorted.length; j++) {
        const b = sorted[j] as (typeof sorted)[number];
        if (b.x - b.width / 2 >= a.x + a.width / 2) break;
        assert.ok(Math.abs(a.y - b.y) * 2 >= a.height + b.height, `${a.id} and ${b.id} do not overlap`);
      }
    }
    assert.ok(layout.edges.every((e) => e.points.length >= 2), 'every edge drawn');
  });
});
