// Docker's plugin protocol at berth's edge (issue 14): the handshake, capabilities, and bodies
// refused before the engine is touched, with Docker's error shapes ({"Err"} for the network
// driver, {"Error"} for IPAM) naming the bad field; unknown calls are 404 (libnetwork: not implemented).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Server } from 'node:http';
import type { Engine } from '../../src/engine/context.js';
import { portBindingsOf } from '../../src/plugin/network-driver.js';
import { createPluginServer, PLUGIN_CONTENT_TYPE } from '../../src/plugin/server.js';

// any use of the engine fails the test: bad input must be refused at the edge
const noEngine = new Proxy({}, { get: (_t, p) => assert.fail(`the engine was used (${String(p)})`) }) as Engine;

describe('docker plugin edge', () => {
  let dir = '';
  let sock = '';
  let server: Server;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-plugin-unit-'));
    sock = join(dir, 'p.sock');
    server = createPluginServer(noEngine, { log: () => undefined });
    await new Promise<void>((r) => server.listen(sock, r));
  });
  after(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    rmSync(dir, { recursive: true, force: true });
  });

  const call = (path: string, body?: unknown, method = 'POST') =>
    new Promise<{ status: number; type: string; json: Record<string, unknown> }>((resolve, reject) => {
      const req = request({ socketPath: sock, path, method, headers: { 'Content-Type': PLUGIN_CONTENT_TYPE } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type']), json: JSON.parse(text) as Record<string, unknown> }));
      });
      req.on('error', reject);
      req.end(body === undefined ? '' : typeof body === 'string' ? body : JSON.stringify(body));
    });

  it('Plugin.Activate: a network driver and an IPAM driver; capabilities of both', async () => {
    const a = await call('/Plugin.Activate');
    assert.equal(a.status, 200);
    assert.equal(a.type, PLUGIN_CONTENT_TYPE);
    assert.deepEqual(a.json, { Implements: ['NetworkDriver', 'IpamDriver'] });
    assert.deepEqual((await call('/NetworkDriver.GetCapabilities', {})).json, { Scope: 'local', ConnectivityScope: 'global' });
    assert.deepEqual((await call('/IpamDriver.GetDefaultAddressSpaces', {})).json, { LocalDefaultAddressSpace: 'berth-local', GlobalDefaultAddressSpace: 'berth-global' });
  });

  it('an unknown call is 404, a GET 405, a body that is not JSON 400', async () => {
    assert.equal((await call('/NetworkDriver.AllocateNetwork', {})).status, 404);
    assert.equal((await call('/Plugin.Activate', undefined, 'GET')).status, 405);
    const bad = await call('/NetworkDriver.CreateNetwork', '{nope');
    assert.equal(bad.status, 400);
    assert.match(String(bad.json.Err), /not JSON/);
  });

  it('a field of the wrong type answers {"Err"} naming it; IPAM answers {"Error"}', async () => {
    const net = await call('/NetworkDriver.CreateNetwork', { NetworkID: 7, Options: {} });
    assert.match(String(net.json.Err), /NetworkID/);
    const generic = await call('/NetworkDriver.CreateNetwork', { NetworkID: 'x', Options: { 'com.docker.network.generic': { a: 1 } } });
    assert.match(String(generic.json.Err), /com\.docker\.network\.generic\.a/);
    // ports come with ProgramExternalConnectivity (after Join), as Docker's bridge driver takes them
    const proto = await call('/NetworkDriver.ProgramExternalConnectivity', {
      NetworkID: 'n', EndpointID: 'e', Options: { 'com.docker.network.portmap': [{ Proto: 99, Port: 80, HostPort: 8080 }] },
    });
    assert.match(String(proto.json.Err), /portmap\[0\]\.Proto 99/);
    const join = await call('/NetworkDriver.Join', { NetworkID: 'n', EndpointID: 'e' });
    assert.match(String(join.json.Err), /SandboxKey/);
    const ipam = await call('/IpamDriver.RequestAddress', { Address: '' });
    assert.match(String(ipam.json.Error), /PoolID/);
    assert.equal(ipam.json.Err, undefined);
  });

  it('an overlay with Docker\'s own IPAM is refused before the engine is touched; berth\'s address space passes that check', async () => {
    const id = 'a'.repeat(64);
    const body = (space: string) => ({
      NetworkID: id,
      Options: { 'com.docker.network.generic': { 'berth.driver': 'overlay' } },
      IPv4Data: [{ AddressSpace: space, Pool: '10.9.0.0/24', Gateway: '10.9.0.1/24' }],
    });
    const docker = await call('/NetworkDriver.CreateNetwork', body('LocalDefault'));
    assert.match(String(docker.json.Err), /berth\.driver=overlay needs berth's IPAM.*--ipam-driver/);
    // berth's own space gets past the edge: the (absent) engine is reached, so the call fails there
    const berth = await call('/NetworkDriver.CreateNetwork', body('berth-global'));
    assert.match(String(berth.json.Err), /the engine was used/);
  });

  it('com.docker.network.portmap becomes berth bindings: HostPort 0 is picked, HostIP "" is every address, ranges', () => {
    const b = portBindingsOf({
      'com.docker.network.portmap': [
        { Proto: 6, IP: '', Port: 80, HostIP: '', HostPort: 8080, HostPortEnd: 8080 },
        { Proto: 17, IP: '', Port: 53, HostIP: '127.0.0.1', HostPort: 0, HostPortEnd: 0 },
        { Proto: 132, IP: '', Port: 9, HostIP: '', HostPort: 9000, HostPortEnd: 9010 },
      ],
    });
    assert.deepEqual(b, [
      { proto: 'tcp', hostIp: undefined, hostPort: 8080, containerPort: 80 },
      { proto: 'udp', hostIp: '127.0.0.1', hostPort: undefined, containerPort: 53 },
      { proto: 'sctp', hostIp: undefined, hostPort: undefined, containerPort: 9, hostPortRange: [9000, 9010] },
    ]);
    assert.deepEqual(portBindingsOf({}), []);
  });
});
