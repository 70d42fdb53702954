// The change from one topology graph to the next (src/engine/topology-diff.ts), as the daemon
// sends it to an open page: applied to the old graph it gives the new one, and it carries only
// what changed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyDiff, diffGraphs, edgeKey, indexGraph, isEmptyDiff } from '../../src/engine/topology-diff.js';
import type { TopologyGraph } from '../../src/engine/topology-types.js';

const before = (): TopologyGraph => ({
  nodes: [
    { id: 'host', kind: 'host', label: 'host', host: 'local' },
    { id: 'host/br0', kind: 'bridge', label: 'br0', host: 'local', data: { addresses: ['10.0.0.1/24'] } },
    { id: 'ns/a', kind: 'namespace', label: 'a', host: 'local' },
    { id: 'ns/b', kind: 'namespace', label: 'b', host: 'local' },
  ],
  edges: [
    { from: 'host/br0', to: 'host', kind: 'in' },
    { from: 'ns/a', to: 'host/br0', kind: 'veth' },
    { from: 'ns/b', to: 'host/br0', kind: 'veth' },
    { from: 'host', to: 'ns/a', kind: 'publishes', label: '0.0.0.0:80/tcp -> 10.0.0.2:80' },
    { from: 'host', to: 'ns/a', kind: 'publishes', label: '0.0.0.0:80/tcp -> 10.0.0.2:80' },
  ],
});

const after = (): TopologyGraph => ({
  nodes: [
    { id: 'host', kind: 'host', label: 'host', host: 'local' },
    { id: 'host/br0', kind: 'bridge', label: 'br0', host: 'local', data: { addresses: ['10.0.0.1/24'] }, drift: { problem: 'stray' } },
    { id: 'ns/a', kind: 'namespace', label: 'a', host: 'local' },
    { id: 'ns/c', kind: 'namespace', label: 'c', host: 'local' },
  ],
  edges: [
    { from: 'host/br0', to: 'host', kind: 'in' },
    { from: 'ns/a', to: 'host/br0', kind: 'veth' },
    { from: 'host', to: 'ns/a', kind: 'publishes', label: '0.0.0.0:80/tcp -> 10.0.0.2:80' },
    { from: 'ns/c', to: 'host/br0', kind: 'veth' },
  ],
});

const sorted = (g: TopologyGraph) => ({ nodes: [...g.nodes].sort((x, y) => x.id.localeCompare(y.id)), edges: g.edges.map(edgeKey).sort() });

void describe('topology diff', () => {
  void it('applied to the old graph gives the new one, carrying only the nodes and edges that changed', () => {
    const { diff, index } = diffGraphs(indexGraph(before()), after(), 7);
    assert.equal(diff.base, 7);
    assert.equal(diff.version, 8);
    assert.deepEqual(diff.upsert.map((n) => n.id).sort(), ['host/br0', 'ns/c']);
    assert.deepEqual(diff.remove, ['ns/b']);
    assert.deepEqual(diff.edgesAdd, [{ from: 'ns/c', to: 'host/br0', kind: 'veth' }]);
    // one of the two equal edges went: one occurrence removed
    assert.deepEqual(diff.edgesRemove.sort(), [edgeKey({ from: 'host', to: 'ns/a', kind: 'publishes', label: '0.0.0.0:80/tcp -> 10.0.0.2:80' }), edgeKey({ from: 'ns/b', to: 'host/br0', kind: 'veth' })].sort());
    assert.deepEqual(sorted(applyDiff(before(), diff)), sorted(after()));
    assert.deepEqual(index, indexGraph(after()));
  });

  void it('keeps the old graph as it was, and the order of the nodes that stay', () => {
    const old = before();
    const { diff } = diffGraphs(indexGraph(old), after(), 1);
    const next = applyDiff(old, diff);
    assert.deepEqual(old, before());
    assert.deepEqual(next.nodes.map((n) => n.id), ['host', 'host/br0', 'ns/a', 'ns/c']);
  });

  void it('is empty when nothing changed', () => {
    const { diff } = diffGraphs(indexGraph(before()), before(), 3);
    assert.ok(isEmptyDiff(diff));
    assert.ok(!isEmptyDiff(diffGraphs(indexGraph(before()), after(), 3).diff));
  });
});
