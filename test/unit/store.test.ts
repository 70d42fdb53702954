import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, beforeEach, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { ConflictError, NotFoundError, SystemError, UserError } from '../../src/common/errors.js';
import { MIGRATIONS } from '../../src/store/migrations.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { newId, type NewEndpoint, type NewNetwork, type PortRecord } from '../../src/store/store.js';

const scratch = mkdtempSync(join(tmpdir(), 'berth-store-test-'));
after(() => rmSync(scratch, { recursive: true, force: true }));
let dirCount = 0;
const freshRoot = (): string => join(scratch, `root-${++dirCount}`, 'nested');

function rejects(fn: () => unknown, type: new (...args: never[]) => Error, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof type, `expected ${type.name}, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `"${err.message}" should mention ${f}`);
    return true;
  });
}

function network(name: string, subnets: NewNetwork['subnets'] = []): NewNetwork {
  return {
    name,
    driver: 'bridge',
    scope: 'local',
    options: { 'com.docker.network.bridge.enable_icc': 'true' },
    labels: { team: 'net' },
    internal: false,
    attachable: true,
    ipv6: false,
    interfaceName: null,
    subnets,
  };
}

function endpoint(networkId: string, containerId: string, interfaceName = 'eth0'): NewEndpoint {
  return { networkId, containerId, interfaceName, mac: '02:42:AC:12:00:02', addresses: ['172.18.0.2/16'], aliases: ['web'] };
}

function port(hostIp: string, hostPort: number, containerId: string, proto: PortRecord['proto'] = 'tcp'): PortRecord {
  return { proto, hostIp, hostPort, containerId, endpointId: null, targetIp: '172.18.0.2', targetPort: 80 };
}

void describe('opening', () => {
  void test('creates the directory (0700) and the schema on a fresh root', () => {
    const root = freshRoot();
    const store = new SqliteStore(root);
    assert.equal(statSync(root).mode & 0o777, 0o700);
    assert.equal(store.path, join(root, 'berth.db'));
    assert.equal(store.schemaVersion(), MIGRATIONS.length);
    store.close();
    const raw = new Database(join(root, 'berth.db'), { readonly: true });
    assert.equal(raw.pragma('journal_mode', { simple: true }), 'wal');
    const tables = raw.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    assert.deepEqual(tables.map((t) => t.name), ['allocations', 'changes', 'containers', 'endpoints', 'networks', 'ports', 'settings', 'sqlite_sequence']);
    raw.close();
  });

  void test('settings: absent until set, replaced by a later set, kept across opens', () => {
    const root = freshRoot();
    const first = new SqliteStore(root);
    assert.equal(first.getSetting('tunnel-subnet'), undefined);
    first.setSetting('tunnel-subnet', '100.80.0.0/16');
    first.setSetting('tunnel-subnet', '100.81.0.0/16');
    first.close();
    const again = new SqliteStore(root);
    assert.equal(again.getSetting('tunnel-subnet'), '100.81.0.0/16');
    again.close();
  });

  void test('re-opening keeps the data and applies nothing twice', () => {
    const root = freshRoot();
    const first = new SqliteStore(root);
    first.createNetwork(network('keep', [{ subnet: '10.5.0.0/24' }]));
    first.close();
    const again = new SqliteStore(root);
    assert.equal(again.schemaVersion(), MIGRATIONS.length);
    assert.equal(again.getNetwork('keep').subnets[0]?.gateway, '10.5.0.1');
    again.close();
  });

  void test('a root that cannot be created is a SystemError naming the path', () => {
    const file = join(scratch, 'plain-file');
    writeFileSync(file, '');
    rejects(() => new SqliteStore(join(file, 'root')), SystemError, join(file, 'root', 'berth.db'));
  });

  void test('refuses a database from a newer berth', () => {
    const root = freshRoot();
    new SqliteStore(root).close();
    const raw = new Database(join(root, 'berth.db'));
    raw.pragma(`user_version = ${MIGRATIONS.length + 1}`);
    raw.close();
    rejects(() => new SqliteStore(root), SystemError, `schema version ${MIGRATIONS.length + 1}`, 'upgrade berth');
  });
});

void describe('store', () => {
  let store = new SqliteStore(freshRoot());
  beforeEach(() => {
    store.close();
    store = new SqliteStore(freshRoot());
  });
  after(() => store.close());

  void describe('networks', () => {
    void test('create, find by id / name / id prefix, list, delete', () => {
      const created = store.createNetwork(
        network('front', [{ subnet: 'fd00:1::/64' }, { subnet: '172.18.0.0/16', auxAddresses: { router: '172.18.0.2' } }]),
      );
      assert.match(created.id, /^[0-9a-f]{64}$/);
      assert.ok(!Number.isNaN(Date.parse(created.created)));
      assert.deepEqual(created.subnets, [
        { subnet: '172.18.0.0/16', gateway: '172.18.0.1', auxAddresses: { router: '172.18.0.2' } },
        { subnet: 'fd00:1::/64', gateway: 'fd00:1::1', auxAddresses: {} },
      ]);
      assert.deepEqual(store.getNetwork(created.id), created);
      assert.deepEqual(store.getNetwork('front'), created);
      assert.deepEqual(store.getNetwork(created.id.slice(0, 5)), created);
      assert.deepEqual(store.listNetworks(), [created]);
      assert.deepEqual(store.listAllocations(created.id), [
        { subnet: '172.18.0.0/16', address: '172.18.0.1', owner: 'gateway' },
        { subnet: '172.18.0.0/16', address: '172.18.0.2', owner: 'aux:router' },
        { subnet: 'fd00:1::/64', address: 'fd00:1::1', owner: 'gateway' },
      ]);
      store.setNetworkInterface(created.id, 'br-' + created.id.slice(0, 12));
      assert.equal(store.getNetwork('front').interfaceName, 'br-' + created.id.slice(0, 12));
      assert.equal(store.deleteNetwork(created.id), true);
      assert.equal(store.deleteNetwork(created.id), false, 'deleting what is gone is not an error');
      assert.equal(store.findNetwork('front'), undefined);
      assert.deepEqual(store.listAllocations(created.id), []);
      rejects(() => store.getNetwork('front'), NotFoundError, 'network front not found');
    });

    void test('a duplicate name is a ConflictError naming it', () => {
      store.createNetwork(network('dup'));
      rejects(() => store.createNetwork(network('dup')), ConflictError, 'network with name dup already exists');
      assert.equal(store.listNetworks().length, 1);
    });

    void test("a subnet overlapping another network's is a ConflictError naming both", () => {
      store.createNetwork(network('a', [{ subnet: '10.0.0.0/16' }]));
      rejects(() => store.createNetwork(network('b', [{ subnet: '10.0.7.0/24' }])), ConflictError, '10.0.7.0/24', '10.0.0.0/16', 'network a');
      assert.deepEqual(store.listNetworks().map((n) => n.name), ['a']);
    });

    void test('an ambiguous id prefix is a UserError', () => {
      store.createNetwork({ ...network('p1'), id: 'ab' + '0'.repeat(62) });
      store.createNetwork({ ...network('p2'), id: 'ab' + '1'.repeat(62) });
      rejects(() => store.findNetwork('ab'), UserError, 'ab', 'ambiguous');
      assert.equal(store.getNetwork('ab1').name, 'p2');
    });

    const bad: [string, NewNetwork, ...string[]][] = [
      ['name with a control character', network('a\nb'), 'network name', '"a\\nb"'],
      ['name with a slash', network('a/b'), '"a/b"'],
      ['driver', { ...network('n'), driver: 'Bridge!' }, 'network driver', '"Bridge!"'],
      ['scope', { ...network('n'), scope: 'planet' as 'local' }, 'network scope', '"planet"'],
      ['id', { ...network('n'), id: 'xyz' }, 'network id', '"xyz"', '64 lowercase hex'],
      ['interface name', { ...network('n'), interfaceName: 'much-too-long-name' }, 'interface name', '"much-too-long-name"'],
      ['created time', { ...network('n'), created: 'yesterday' }, 'creation time', '"yesterday"'],
      ['subnet', network('n', [{ subnet: '10.0.0.5/24' }]), '10.0.0.5/24', '10.0.0.0/24'],
      ['gateway', network('n', [{ subnet: '10.0.0.0/24', gateway: '10.0.1.1' }]), 'gateway 10.0.1.1'],
      ['overlapping own subnets', network('n', [{ subnet: '10.0.0.0/24' }, { subnet: '10.0.0.0/25' }]), 'overlaps'],
    ];
    for (const [what, input, ...fragments] of bad) {
      void test(`bad ${what}: UserError, nothing stored`, () => {
        rejects(() => store.createNetwork(input), UserError, ...fragments);
        assert.deepEqual(store.listNetworks(), []);
      });
    }

    void test('a network with endpoints cannot be deleted', () => {
      const net = store.createNetwork(network('busy', [{ subnet: '172.18.0.0/16' }]));
      const ep = store.createEndpoint(endpoint(net.id, newId()));
      rejects(() => store.deleteNetwork(net.id), ConflictError, 'busy', 'active endpoint');
      store.deleteEndpoint(ep.id);
      assert.equal(store.deleteNetwork(net.id), true);
    });
  });

  void describe('addresses', () => {
    void test('allocate lowest free, skipping gateway and aux; release; static', () => {
      const net = store.createNetwork(network('n', [{ subnet: '10.9.0.0/24', auxAddresses: { r: '10.9.0.3' } }]));
      const [a, b] = [newId(), newId()];
      assert.equal(store.allocateAddress(net.id, '10.9.0.0/24', a), '10.9.0.2');
      assert.equal(store.allocateAddress(net.id, '10.9.0.0/24', b), '10.9.0.4');
      assert.equal(store.allocateAddress(net.id, '10.9.0.0/24', b, { static: '10.9.0.200' }), '10.9.0.200');
      rejects(() => store.allocateAddress(net.id, '10.9.0.0/24', a, { static: '10.9.0.200' }), ConflictError, '10.9.0.200', 'in use');
      rejects(() => store.allocateAddress(net.id, '10.9.0.0/24', a, { static: '10.9.0.3' }), UserError, 'aux-address r');
      assert.equal(store.releaseAddress(net.id, '10.9.0.2'), true);
      assert.equal(store.releaseAddress(net.id, '10.9.0.2'), false);
      assert.equal(store.allocateAddress(net.id, '10.9.0.0/24', a), '10.9.0.2', 'released addresses come back first');
      assert.equal(store.releaseOwner(b), 2);
      assert.deepEqual(
        store.listAllocations(net.id).map((x) => `${x.address}=${x.owner === a ? 'a' : x.owner}`),
        ['10.9.0.1=gateway', '10.9.0.2=a', '10.9.0.3=aux:r'],
      );
    });

    void test('IPv6 subnet given in non-canonical form', () => {
      const net = store.createNetwork(network('v6', [{ subnet: 'fd00:0:0:1::/64' }]));
      assert.equal(store.allocateAddress(net.id, 'FD00:0:0:1::/64', newId()), 'fd00:0:0:1::2');
    });

    void test('exhaustion is a UserError and stores nothing', () => {
      const net = store.createNetwork(network('tiny', [{ subnet: '10.8.0.0/30' }]));
      assert.equal(store.allocateAddress(net.id, '10.8.0.0/30', newId()), '10.8.0.2');
      rejects(() => store.allocateAddress(net.id, '10.8.0.0/30', newId()), UserError, 'no free address in 10.8.0.0/30');
      assert.equal(store.listAllocations(net.id).length, 2);
    });

    void test('bad requests: UserError / NotFoundError, nothing stored', () => {
      const net = store.createNetwork(network('n', [{ subnet: '10.7.0.0/24' }]));
      rejects(() => store.allocateAddress(newId(), '10.7.0.0/24', newId()), NotFoundError, 'not found');
      rejects(() => store.allocateAddress(net.id, '10.6.0.0/24', newId()), UserError, 'no subnet 10.6.0.0/24', '10.7.0.0/24');
      rejects(() => store.allocateAddress(net.id, '10.7.0.1/24', newId()), UserError, '10.7.0.0/24');
      rejects(() => store.allocateAddress(net.id, '10.7.0.0/24', 'not an owner!'), UserError, 'address owner');
      rejects(() => store.allocateAddress(net.id, '10.7.0.0/24', newId(), { static: '10.7.1.5' }), UserError, 'not inside');
      assert.equal(store.listAllocations(net.id).length, 1);
    });
  });

  void describe('containers', () => {
    void test('create, find, update state, delete', () => {
      const c = store.createContainer({ name: 'web', config: { cmd: ['sleep', '1'] }, state: { status: 'created' } });
      assert.deepEqual(store.getContainer('web'), c);
      assert.deepEqual(store.getContainer(c.id.slice(0, 12)), c);
      store.updateContainerState(c.id, { status: 'running', pid: 42 });
      assert.deepEqual(store.getContainer(c.id).state, { status: 'running', pid: 42 });
      assert.deepEqual(store.listContainers().map((x) => x.name), ['web']);
      assert.equal(store.deleteContainer(c.id), true);
      assert.equal(store.deleteContainer(c.id), false);
      rejects(() => store.updateContainerState(c.id, {}), NotFoundError);
      rejects(() => store.getContainer('web'), NotFoundError, 'container web not found');
    });

    void test('name conflicts and bad values change nothing', () => {
      const c = store.createContainer({ name: 'db', config: {}, state: {} });
      rejects(() => store.createContainer({ name: 'db', config: {}, state: {} }), ConflictError, 'db', c.id);
      rejects(() => store.createContainer({ name: 'x', config: {}, state: {} }), UserError, 'container name', '"x"');
      rejects(() => store.createContainer({ name: 'ok', id: c.id, config: {}, state: {} }), ConflictError, c.id);
      assert.deepEqual(store.listContainers().map((x) => x.name), ['db']);
    });
  });

  void describe('endpoints', () => {
    void test('create, list, delete releases its ports and addresses', () => {
      const net = store.createNetwork(network('n', [{ subnet: '172.18.0.0/16' }]));
      const containerId = newId();
      const id = newId();
      const address = store.allocateAddress(net.id, '172.18.0.0/16', id);
      const ep = store.createEndpoint({ ...endpoint(net.id, containerId), id, addresses: [`${address}/16`] });
      assert.equal(ep.mac, '02:42:ac:12:00:02');
      assert.deepEqual(store.getEndpoint(id), ep);
      assert.deepEqual(store.listEndpoints({ networkId: net.id }), [ep]);
      assert.deepEqual(store.listEndpoints({ containerId: 'other' }), []);
      store.reservePort({ ...port('0.0.0.0', 8080, containerId), endpointId: id });
      assert.equal(store.deleteEndpoint(id), true);
      assert.equal(store.deleteEndpoint(id), false);
      assert.deepEqual(store.listPorts(), []);
      assert.deepEqual(store.listAllocations(net.id).map((a) => a.owner), ['gateway']);
    });

    void test('setEndpointContainer hands the endpoint and its ports to another container id; a bad id or endpoint changes nothing', () => {
      const net = store.createNetwork(network('n', [{ subnet: '172.18.0.0/16' }]));
      const [placeholder, sandbox] = ['docker-unjoined-0123456789ab', newId().slice(0, 12)];
      const ep = store.createEndpoint(endpoint(net.id, placeholder));
      store.reservePort({ ...port('0.0.0.0', 8080, placeholder), endpointId: ep.id });
      store.setEndpointContainer(ep.id, sandbox);
      assert.equal(store.getEndpoint(ep.id)?.containerId, sandbox);
      assert.deepEqual(store.listPorts({ containerId: sandbox }).map((p) => p.endpointId), [ep.id]);
      assert.deepEqual(store.listEndpoints({ containerId: placeholder }), []);
      rejects(() => store.setEndpointContainer(ep.id, '-bad'), UserError, 'container id', '"-bad"');
      rejects(() => store.setEndpointContainer(newId(), sandbox), NotFoundError, 'endpoint');
      assert.equal(store.getEndpoint(ep.id)?.containerId, sandbox);
    });

    void test('conflicts and bad values change nothing', () => {
      const net = store.createNetwork(network('n', [{ subnet: '172.18.0.0/16' }]));
      const ctr = newId();
      store.createEndpoint(endpoint(net.id, ctr));
      rejects(() => store.createEndpoint(endpoint(net.id, ctr)), ConflictError, 'already has an interface eth0');
      rejects(() => store.createEndpoint(endpoint(newId(), ctr, 'eth1')), NotFoundError, 'network');
      rejects(() => store.createEndpoint({ ...endpoint(net.id, ctr, 'eth1'), mac: '02:42' }), UserError, 'MAC address', '"02:42"');
      rejects(() => store.createEndpoint({ ...endpoint(net.id, ctr, 'eth1'), addresses: ['172.18.0.9'] }), UserError, '"172.18.0.9"');
      rejects(() => store.createEndpoint(endpoint(net.id, ctr, 'eth/1')), UserError, 'interface name', '"eth/1"');
      rejects(() => store.createEndpoint({ ...endpoint(net.id, ctr, 'eth1'), aliases: ['a b'] }), UserError, 'network alias');
      assert.equal(store.listEndpoints().length, 1);
    });
  });

  void describe('published ports', () => {
    void test('reserve, conflict on the same or a wildcard address, release', () => {
      const [c1, c2] = [newId(), newId()];
      store.reservePort(port('127.0.0.1', 8080, c1));
      rejects(() => store.reservePort(port('127.0.0.1', 8080, c2)), ConflictError, 'tcp 127.0.0.1:8080', 'already allocated', c1.slice(0, 12));
      rejects(() => store.reservePort(port('0.0.0.0', 8080, c2)), ConflictError, '0.0.0.0:8080');
      store.reservePort(port('127.0.0.2', 8080, c2)); // another specific address is fine
      store.reservePort(port('0.0.0.0', 8080, c2, 'udp')); // another protocol is fine
      store.reservePort(port('::', 8080, c2)); // the IPv6 wildcard does not cover IPv4
      rejects(() => store.reservePort(port('::1', 8080, c1)), ConflictError, '[::1]:8080', '[::]:8080');
      store.reservePort(port('0.0.0.0', 9090, c1));
      rejects(() => store.reservePort(port('10.0.0.1', 9090, c2)), ConflictError, '10.0.0.1:9090', '0.0.0.0:9090');
      assert.equal(store.listPorts({ containerId: c1 }).length, 2);
      assert.equal(store.releasePort('tcp', '127.0.0.1', 8080), true);
      assert.equal(store.releasePort('tcp', '127.0.0.1', 8080), false);
      assert.equal(store.releasePorts({ containerId: c2 }), 3);
      assert.deepEqual(store.listPorts().map((p) => `${p.proto} ${p.hostIp}:${p.hostPort}`), ['tcp 0.0.0.0:9090']);
    });

    const bad: [string, PortRecord, ...string[]][] = [
      ['protocol', { ...port('0.0.0.0', 80, 'c1'), proto: 'icmp' as 'tcp' }, 'protocol', '"icmp"'],
      ['host port 0', port('0.0.0.0', 0, 'c1'), 'host port', '0', '1 to 65535'],
      ['host port 70000', port('0.0.0.0', 70000, 'c1'), 'host port', '70000'],
      ['host ip', port('localhost', 80, 'c1'), 'host ip', '"localhost"'],
      ['target port', { ...port('0.0.0.0', 80, 'c1'), targetPort: 1.5 }, 'target port', '1.5'],
      ['container id', port('0.0.0.0', 80, '-c'), 'container id', '"-c"'],
    ];
    for (const [what, input, ...fragments] of bad) {
      void test(`bad ${what}: UserError, nothing stored`, () => {
        rejects(() => store.reservePort(input), UserError, ...fragments);
        assert.deepEqual(store.listPorts(), []);
      });
    }
  });

  void describe('transaction', () => {
    void test('a throwing fn rolls back everything it did, nested calls included', () => {
      assert.throws(
        () =>
          store.transaction(() => {
            store.createNetwork(network('gone', [{ subnet: '10.3.0.0/24' }]));
            store.createContainer({ name: 'gone', config: {}, state: {} });
            throw new Error('boom');
          }),
        /boom/,
      );
      assert.deepEqual(store.listNetworks(), []);
      assert.deepEqual(store.listContainers(), []);
    });

    void test('returns the value of fn and commits', () => {
      const id = store.transaction(() => store.createNetwork(network('kept')).id);
      assert.equal(store.getNetwork('kept').id, id);
    });
  });
});
