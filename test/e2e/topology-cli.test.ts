// End to end, `berth topology` (issue 15) on a real lab (topology-helpers.ts): the JSON graph
// holds the kernel's links, the container namespaces with addresses, MAC and hostname, the modes,
// the published port and the NAT-free bridge; every format draws exactly the expected nodes and
// edges; a berth-marked link the store does not know is flagged with what --repair would do.
import assert from 'node:assert/strict';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { TopologyGraph } from '../../src/engine/topology-types.js';
import { type TopologyLab, expectedView, topologyLab } from './topology-helpers.js';

const T = { timeout: 90_000 };

void describe('berth topology', () => {
  let L: TopologyLab;
  before(async () => {
    L = await topologyLab('e2e topology cli');
  });
  after(async () => {
    await L?.lab.close();
  });

  void test('json: the kernel graph, containers with addresses, MAC, hostname and mode', T, async () => {
    const g = await L.h.berthJson<TopologyGraph>(['topology', '--format', 'json']);
    const node = (id: string) => g.nodes.find((n) => n.id === id);
    assert.deepEqual(g.nodes.filter((n) => n.drift).map((n) => n.id), [], 'no drift in a clean lab');
    const web = node(`ns/${L.ids.web}`);
    assert.equal(web?.data?.hostname, 'webhost');
    assert.deepEqual(web?.data?.addresses, ['10.71.0.2/24']);
    assert.match((web?.data?.macs as string[])[0] ?? '', /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/);
    assert.equal(node(`ns/${L.ids.side}`)?.data?.networkMode, 'container:web');
    assert.deepEqual(node(`ns/${L.ids.side}`)?.networks, ['front'], 'the joiner is on its target\'s network');
    const lan = node('network/lan0');
    assert.equal(lan?.data?.natFree, true);
    assert.equal(lan?.data?.parent, 'eth1');
    assert.deepEqual(node('host/eth1')?.networks, ['lan0'], 'the NIC a NAT-free bridge took belongs to its network');
    assert.ok(g.edges.some((e) => e.kind === 'publishes' && e.to === `ns/${L.ids.web}` && /:8080\/tcp -> 10\.71\.0\.2:80$/.test(e.label ?? '')));
    for (const e of g.edges) assert.ok(node(e.from) && node(e.to), `edge ${e.from} -> ${e.to} joins two nodes`);
  });

  void test('text, svg, dot and mermaid draw exactly the expected nodes and edges', T, async () => {
    const want = await expectedView(L);
    const svg = (await L.h.berthOk(['topology', '--format', 'svg'])).stdout;
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    const nodes = [...svg.matchAll(/<g class="node [^"]*" data-id="([^"]+)">/g)].map((m) => m[1] as string).sort();
    assert.deepEqual(nodes, want.nodes);
    const edges = [...svg.matchAll(/<g class="edge e-([a-z-]+)" data-from="([^"]+)" data-to="([^"]+)">/g)].map((m) => `${m[2] as string} ${m[1] as string} ${m[3] as string}`).sort();
    assert.deepEqual(edges, want.edges);
    const dot = (await L.h.berthOk(['topology', '--format', 'dot'])).stdout;
    for (const id of want.nodes) assert.ok(dot.includes(`"${id}" [label=`), `dot has ${id}`);
    assert.equal(dot.split('\n').filter((l) => l.includes('" -> "')).length, want.edges.length);
    const mermaid = (await L.h.berthOk(['topology', '--format', 'mermaid'])).stdout;
    assert.equal(mermaid.split('\n').filter((l) => /^ {2}n\d+ (-->|-\.->)/.test(l)).length, want.edges.length);
    const text = (await L.h.berthOk(['topology'])).stdout;
    assert.match(text, /^namespace side \[container:web mode\]$/m);
    assert.match(text, new RegExp(`^${L.bridges.lan0} -> lanc: veth eth0 ⇄ veth[0-9a-f]{7}$`, 'm'));
    assert.match(text, /network lan0 \(bridge, NAT-free\) 192\.168\.50\.0\/24/);
    const onlyLan = (await L.h.berthOk(['topology', '--format', 'svg', '--network', 'lan0'])).stdout;
    assert.deepEqual([...onlyLan.matchAll(/data-id="([^"]+)"/g)].map((m) => m[1]).sort(), ['host', 'host/eth1', `host/${L.bridges.lan0}`, `ns/${L.ids.lanc}`].sort());
  });

  void test('drift: a berth-marked link the store does not know is flagged, with what --repair would do', T, async () => {
    await L.h.execOk(['ip', 'link', 'add', 'vethstray', 'type', 'veth', 'peer', 'name', 'vethstray2']);
    await L.h.execOk(['ip', 'link', 'set', 'vethstray', 'alias', `berth:endpoint:${'f'.repeat(64)}`]);
    try {
      const g = await L.h.berthJson<TopologyGraph>(['topology', '--format', 'json']);
      const stray = g.nodes.find((n) => n.id === 'host/vethstray');
      assert.deepEqual(stray?.drift, { problem: `berth made it (berth:endpoint:${'f'.repeat(64)}), but the store does not know it`, repair: 'deleted it' });
      assert.match((await L.h.berthOk(['topology'])).stdout, /^ {4}--repair: deleted it$/m);
      assert.ok((await L.h.execOk(['ip', 'link', 'show', 'vethstray'])).stdout.includes('vethstray'), 'topology changed nothing');
    } finally {
      await L.h.exec(['ip', 'link', 'del', 'vethstray']);
    }
  });

  void test('drift is flagged on the node of the object it is about: an endpoint without its veth, a stray namespace mount', T, async () => {
    const g0 = await L.h.berthJson<TopologyGraph>(['topology', '--format', 'json', '--no-drift']);
    const iface = `ns/${L.ids.plain}/eth0`;
    const veth = g0.edges.find((e) => e.from === iface && e.kind === 'veth')?.to.slice('host/'.length);
    assert.ok(veth, `the host end of plain's veth in ${JSON.stringify(g0.edges)}`);
    const stale = join(L.h.runDir, 'netns', 'bGstale');
    await L.h.execOk(['ip', 'link', 'del', veth]);
    await writeFile(stale, '');
    try {
      const g = await L.h.berthJson<TopologyGraph>(['topology', '--format', 'json']);
      const flagged = Object.fromEntries(g.nodes.filter((n) => n.drift).map((n) => [n.id, n.drift]));
      assert.deepEqual(flagged[iface], { problem: `veth ${veth} is missing (reconnect the container to restore it)` }, `plain's eth0 is flagged: ${JSON.stringify(flagged)}`);
      assert.deepEqual(flagged['netns/bGstale'], { problem: 'a stale file, not a namespace', repair: 'deleted it' }, `the stale mount has a node of its own: ${JSON.stringify(flagged)}`);
      assert.deepEqual(Object.keys(flagged).sort(), [iface, 'netns/bGstale'].sort(), 'nothing else is flagged');
    } finally {
      await rm(stale, { force: true });
      // the veth back, as the problem says
      await L.h.berth(['network', 'disconnect', 'bridge', 'plain']);
      await L.h.berth(['network', 'connect', 'bridge', 'plain']);
    }
    const after = await L.h.berthJson<TopologyGraph>(['topology', '--format', 'json']);
    assert.deepEqual(after.nodes.filter((n) => n.drift).map((n) => n.id), [], 'no drift left');
  });
});
