// The daemon's DNS table follows the store's change log (issue 16): after a container is added
// or removed, the table reads that container again, not every container. Counted, not timed.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DaemonDns } from '../../src/daemon/dns.js';
import type { Engine } from '../../src/engine/context.js';
import { processStartTime } from '../../src/engine/process.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { NewNetwork } from '../../src/store/store.js';

const scratch = mkdtempSync(join(tmpdir(), 'berth-dns-incremental-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

const net = (name: string, subnet: string): NewNetwork => ({
  name, driver: 'bridge', scope: 'local', options: {}, labels: {}, internal: false, attachable: true, ipv6: false, interfaceName: null,
  subnets: [{ subnet, gateway: subnet.replace(/0\/\d+$/, '1') }],
});

const me = { pid: process.pid, pidStart: processStartTime(process.pid) };

function addContainer(store: SqliteStore, networkId: string, name: string, i: number): string {
  const c = store.createContainer({ name, config: { cmd: ['sleep'], networkMode: 'app', dns: [] }, state: { status: 'running', ...me } });
  store.createEndpoint({ networkId, containerId: c.id, interfaceName: 'eth0', mac: null, addresses: [`10.9.${(i + 2) >> 8}.${(i + 2) & 255}/16`], aliases: [] });
  return c.id;
}

void describe('DaemonDns follows the store', () => {
  for (const n of [20, 400]) {
    void test(`with ${n} containers, one added or removed is read alone; names resolve as before`, async () => {
      const root = join(scratch, `n${n}`);
      const store = new SqliteStore(root);
      const engine = { store, paths: { root, run: join(root, 'run') } } as unknown as Engine;
      const dns = new DaemonDns(engine, () => undefined);
      try {
        const app = store.createNetwork(net('app', '10.9.0.0/16'));
        const ids = Array.from({ length: n }, (_, i) => addContainer(store, app.id, `c-${i}`, i));
        // a lookup that misses looks at the store first: the first one builds the table
        assert.deepEqual(dns.view.lookupName('c-0', [app.id])?.v4, ['10.9.0.2']);
        assert.equal(dns.rebuilds, 1);
        assert.equal(dns.containersRead, n);

        const read = dns.containersRead;
        addContainer(store, app.id, 'late', n);
        assert.ok(dns.view.lookupName('late', [app.id]), 'a container added after the build resolves');
        assert.equal(dns.rebuilds, 1, 'no rebuild');
        assert.equal(dns.containersRead - read, 1, 'only the new container was read');

        const gone = ids[1] as string;
        for (const ep of store.listEndpoints({ containerId: gone })) store.deleteEndpoint(ep.id);
        store.deleteContainer(gone);
        // (the daemon refreshes on its events and its poll; here a lookup that misses does it)
        assert.equal(dns.view.lookupName('no-such-name', [app.id]), undefined);
        assert.equal(dns.view.lookupName('c-1', [app.id]), undefined, 'a removed container no longer resolves');
        assert.equal(dns.rebuilds, 1);
        assert.equal(dns.containersRead - read, 1, 'the removed one needed no record read');
        assert.ok(dns.view.lookupName(`c-${n - 1}`, [app.id]), 'the others still resolve');

        // a network written: everything is read again (its containers' names depend on it)
        const other = store.createNetwork(net('other', '10.10.0.0/16'));
        assert.equal(dns.view.lookupName('c-2', [other.id]), undefined);
        assert.equal(dns.rebuilds, 2);
      } finally {
        await dns.close();
        store.close();
      }
    });
  }

  void test('containers on other hosts: one changed is put in the table alone, without reading the store', async () => {
    const root = join(scratch, 'remote');
    const store = new SqliteStore(root);
    const engine = { store, paths: { root, run: join(root, 'run') } } as unknown as Engine;
    const dns = new DaemonDns(engine, () => undefined);
    try {
      const ov = store.createNetwork(net('ov', '10.11.0.0/16'));
      addContainer(store, ov.id, 'here', 0);
      const remote = (i: number, name = `r-${i}`) => ({ id: `remote-${i}`, name, endpoints: [{ networkId: ov.id, ipv4: `10.11.${(i + 10) >> 8}.${(i + 10) & 255}`, aliases: [] }] });
      dns.setRemote(Array.from({ length: 400 }, (_, i) => remote(i)), true);
      assert.deepEqual(dns.view.lookupName('r-7', [ov.id])?.v4, ['10.11.0.17']);
      assert.equal(dns.rebuilds, 1);
      const read = dns.containersRead;

      dns.setRemote([remote(400)], false);
      assert.deepEqual(dns.view.lookupName('r-400', [ov.id])?.v4, ['10.11.1.154'], 'a new remote container resolves');
      dns.setRemote([remote(7, 'renamed')], false);
      assert.deepEqual(dns.view.lookupName('renamed', [ov.id])?.v4, ['10.11.0.17']);
      assert.equal(dns.view.lookupName('r-7', [ov.id]), undefined, 'its old name is gone');
      dns.setRemote([{ id: 'remote-8', name: '', endpoints: [] }], false);
      assert.equal(dns.view.lookupName('r-8', [ov.id]), undefined, 'a remote container without endpoints is gone');
      assert.equal(dns.rebuilds, 1, 'no rebuild');
      assert.equal(dns.containersRead, read, 'no container read from the store');
      assert.equal(dns.remoteApplied, 3);
      assert.ok(dns.view.lookupName('here', [ov.id]), 'the local container still resolves');

      // a rebuild (a network written) keeps what the partial updates said
      store.createNetwork(net('other', '10.12.0.0/16'));
      assert.equal(dns.view.lookupName('nothing', [ov.id]), undefined);
      assert.equal(dns.rebuilds, 2);
      assert.ok(dns.view.lookupName('renamed', [ov.id]));
      assert.ok(dns.view.lookupName('r-400', [ov.id]));
      assert.equal(dns.view.lookupName('r-8', [ov.id]), undefined);
      assert.ok(dns.view.lookupName('r-399', [ov.id]));
    } finally {
      await dns.close();
      store.close();
    }
  });
});
