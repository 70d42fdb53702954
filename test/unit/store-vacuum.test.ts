// berth.db gives freed space back (issue 11, item 15): auto_vacuum INCREMENTAL on fresh and older
// files, and a container's 20,000 released ports shrink the file again.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { SqliteStore } from '../../src/store/sqlite.js';
import { newId } from '../../src/store/store.js';

const scratch = mkdtempSync(join(tmpdir(), 'berth-vacuum-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const autoVacuum = (path: string): unknown => {
  const db = new Database(path, { readonly: true });
  try {
    return db.pragma('auto_vacuum', { simple: true });
  } finally {
    db.close();
  }
};

void describe('store size', () => {
  void test('a fresh store uses incremental auto_vacuum', () => {
    const store = new SqliteStore(join(scratch, 'fresh'));
    store.close();
    assert.equal(autoVacuum(join(scratch, 'fresh', 'berth.db')), 2);
  });

  void test('an older store (no auto_vacuum) is switched once when opened, its data kept', () => {
    const root = join(scratch, 'older');
    const first = new SqliteStore(root);
    first.createContainer({ id: newId(), name: 'kept', config: {}, state: {} });
    first.close();
    const raw = new Database(join(root, 'berth.db'));
    raw.pragma('auto_vacuum = NONE');
    raw.exec('VACUUM');
    assert.equal(raw.pragma('auto_vacuum', { simple: true }), 0);
    raw.close();
    const again = new SqliteStore(root);
    assert.equal(again.findContainer('kept')?.name, 'kept');
    again.close();
    assert.equal(autoVacuum(join(root, 'berth.db')), 2);
  });

  void test('releasing 20,000 published ports gives the space back to the file system', () => {
    const root = join(scratch, 'ports');
    const store = new SqliteStore(root);
    const file = join(root, 'berth.db');
    const empty = statSync(file).size;
    const containerId = newId();
    store.transaction(() => {
      for (let p = 10_000; p < 30_000; p++) {
        store.reservePort({ proto: 'tcp', hostIp: '0.0.0.0', hostPort: p, containerId, endpointId: null, targetIp: '172.17.0.2', targetPort: p });
      }
    });
    store.close(); // checkpoints: the file holds the rows now
    const full = statSync(file).size;
    const again = new SqliteStore(root);
    assert.equal(again.releasePorts({ containerId }), 20_000);
    again.close();
    const after = statSync(file).size;
    assert.ok(full > 1_000_000, `20,000 ports take room (${full} bytes)`);
    assert.ok(after < empty + 200_000, `after the release the file is back near its empty size: ${empty} -> ${full} -> ${after} bytes`);
  });
});
