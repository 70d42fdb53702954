// The store's change log (migration 3, issue 16): what changed since a reader last looked, by
// any connection, so the daemon's sweeps read the changed rows instead of every record.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { CHANGES_KEPT } from '../../src/store/migrations.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { newId, type NewNetwork } from '../../src/store/store.js';

const scratch = mkdtempSync(join(tmpdir(), 'berth-store-changes-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let n = 0;
const freshRoot = (): string => join(scratch, `root-${++n}`);

const net: NewNetwork = {
  name: 'n1', driver: 'bridge', scope: 'local', options: {}, labels: {}, internal: false, attachable: true, ipv6: false, interfaceName: null,
  subnets: [{ subnet: '10.9.0.0/24', gateway: '10.9.0.1' }],
};

void describe('store change log', () => {
  void test('names every container, endpoint (by its container) and network written, in order, from any connection', () => {
    const root = freshRoot();
    const a = new SqliteStore(root);
    const b = new SqliteStore(root);
    try {
      const start = a.changesSeq();
      assert.deepEqual(a.changesSince(start), { seq: start, changes: [] });
      const network = a.createNetwork(net);
      const c = b.createContainer({ name: 'c1', config: {}, state: { status: 'created' } });
      const ep = b.createEndpoint({ networkId: network.id, containerId: c.id, interfaceName: 'eth0', mac: null, addresses: [], aliases: [] });
      b.updateContainerState(c.id, { status: 'running' });
      const cni = newId();
      b.setEndpointContainer(ep.id, cni);
      b.deleteEndpoint(ep.id);
      b.deleteContainer(c.id);
      const got = a.changesSince(start);
      assert.ok(got);
      assert.deepEqual(got.changes, [
        { kind: 'network', id: network.id },
        { kind: 'container', id: c.id },
        { kind: 'endpoint', id: c.id },
        { kind: 'container', id: c.id },
        { kind: 'endpoint', id: c.id }, // moved: both the old and the new holder changed
        { kind: 'endpoint', id: cni },
        { kind: 'endpoint', id: cni },
        { kind: 'container', id: c.id },
      ]);
      assert.equal(got.seq, a.changesSeq());
      assert.deepEqual(a.changesSince(got.seq), { seq: got.seq, changes: [] }, 'nothing new');
    } finally {
      a.close();
      b.close();
    }
  });

  void test('a rolled-back write leaves no change behind', () => {
    const store = new SqliteStore(freshRoot());
    try {
      const start = store.changesSeq();
      store.createContainer({ name: 'taken', config: {}, state: {} });
      const seq = store.changesSeq();
      assert.throws(() => store.createContainer({ name: 'taken', config: {}, state: {} }));
      assert.throws(() => store.transaction(() => {
        store.createContainer({ name: 'undone', config: {}, state: {} });
        throw new Error('abort');
      }));
      assert.equal(store.changesSince(start)?.changes.length, 1);
      assert.equal(store.changesSeq(), seq);
    } finally {
      store.close();
    }
  });

  void test(`keeps the last ${CHANGES_KEPT} rows; a reader behind them is told to read everything again`, () => {
    const root = freshRoot();
    const store = new SqliteStore(root);
    try {
      const start = store.changesSeq();
      const c = store.createContainer({ name: 'busy', config: {}, state: { i: 0 } });
      const raw = new Database(join(root, 'berth.db'));
      // CHANGES_KEPT updates in one go, through SQL: the triggers log (and prune) them all the same
      raw.transaction(() => {
        const update = raw.prepare('UPDATE containers SET state = ? WHERE id = ?');
        for (let i = 1; i <= CHANGES_KEPT; i++) update.run(JSON.stringify({ i }), c.id);
      })();
      raw.close();
      const rows = new Database(join(root, 'berth.db'), { readonly: true });
      assert.equal(rows.prepare('SELECT count(*) FROM changes').pluck().get(), CHANGES_KEPT, 'the log does not grow past its window');
      rows.close();
      assert.equal(store.changesSince(start), undefined, 'the first change fell out of the window');
      const recent = store.changesSince(store.changesSeq() - 5);
      assert.equal(recent?.changes.length, 5);
      assert.equal(store.changesSince(store.changesSeq() + 1), undefined, 'a seq from the future (another file): read everything');
    } finally {
      store.close();
    }
  });
});

void describe('per-container lookups', () => {
  void test('a container\'s or an endpoint\'s endpoints and ports are found through an index, not a scan of all', () => {
    const root = freshRoot();
    new SqliteStore(root).close(); // the schema
    const db = new Database(join(root, 'berth.db'), { readonly: true });
    try {
      const plan = (sql: string) => (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all('x') as { detail: string }[]).map((r) => r.detail).join('; ');
      // the statements SqliteEndpoints.list and SqlitePorts.list prepare for a filter
      for (const sql of [
        'SELECT * FROM endpoints WHERE container_id = ? ORDER BY container_id, interface',
        'SELECT * FROM endpoints WHERE network_id = ? ORDER BY container_id, interface',
        'SELECT * FROM ports WHERE container_id = ? ORDER BY proto, host_port, host_ip',
        'SELECT * FROM ports WHERE endpoint_id = ? ORDER BY proto, host_port, host_ip',
        'DELETE FROM ports WHERE endpoint_id = ?',
      ]) {
        const p = plan(sql);
        assert.match(p, /USING (COVERING )?INDEX/, `${sql}: ${p}`);
        assert.doesNotMatch(p, /^SCAN (endpoints|ports)$|SCAN (endpoints|ports)(;|$)/, `${sql}: ${p}`);
      }
    } finally {
      db.close();
    }
  });
});
