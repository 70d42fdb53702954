// Several berth processes share one berth.db: allocation and migration must be atomic across
// processes. Needs no root; it lives here because it spawns processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { SqliteStore } from '../../src/store/sqlite.js';

const WORKERS = 8;
const worker = fileURLToPath(new URL('./fixtures/store-worker.js', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'berth-store-concurrency-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function runWorker(args: string[]): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [worker, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Run WORKERS workers with the same args, lined up to start together. */
function runWorkers(args: string[]): Promise<Outcome[]> {
  const startAt = String(Date.now() + 1500);
  return Promise.all(Array.from({ length: WORKERS }, () => runWorker([...args, startAt])));
}

void test(`${WORKERS} processes opening a fresh store at once all end up on the current schema`, async () => {
  const root = join(scratch, 'fresh');
  const outcomes = await runWorkers(['open', root]);
  for (const o of outcomes) {
    assert.equal(o.code, 0, o.stderr);
    assert.deepEqual(JSON.parse(o.stdout), { schemaVersion: MIGRATIONS.length });
  }
  const store = new SqliteStore(root);
  assert.equal(store.schemaVersion(), MIGRATIONS.length);
  store.close();
});

void test(`${WORKERS} processes allocating from one /24 share exactly its 253 free addresses`, async (t) => {
  const root = join(scratch, 'allocate');
  const setup = new SqliteStore(root);
  const net = setup.createNetwork({
    name: 'race',
    driver: 'bridge',
    scope: 'local',
    options: {},
    labels: {},
    internal: false,
    attachable: false,
    ipv6: false,
    interfaceName: null,
    subnets: [{ subnet: '10.77.0.0/24' }],
  });
  setup.close();

  const outcomes = await runWorkers(['allocate', root, net.id, '10.77.0.0/24']);
  const all: string[] = [];
  for (const o of outcomes) {
    assert.equal(o.code, 0, `worker failed: ${o.stderr}`);
    assert.equal(o.stderr, '');
    const { addresses, exhausted } = JSON.parse(o.stdout) as { addresses: string[]; exhausted: string };
    assert.match(exhausted, /^no free address in 10\.77\.0\.0\/24/);
    all.push(...addresses);
  }
  t.diagnostic(`addresses per worker: ${outcomes.map((o) => (JSON.parse(o.stdout) as { addresses: string[] }).addresses.length).join(' ')}`);

  assert.equal(new Set(all).size, all.length, 'an address was handed out twice');
  const expected = Array.from({ length: 253 }, (_, i) => `10.77.0.${i + 2}`);
  const byLastOctet = (a: string, b: string): number => Number(a.split('.')[3]) - Number(b.split('.')[3]);
  assert.deepEqual([...all].sort(byLastOctet), expected);

  const store = new SqliteStore(root);
  const rows = store.listAllocations(net.id);
  store.close();
  assert.equal(rows.length, 254, '253 endpoints + the gateway');
  assert.equal(new Set(rows.map((r) => r.owner)).size, 254);
});
