// End to end, `berth daemon`'s REST API from Node (issue 5, REST API): dockerode 4 manages
// networks and berth containers (ping, version, listNetworks with filters, createNetwork,
// getNetwork().inspect/connect/disconnect/remove, pruneNetworks, createContainer and friends),
// and raw HTTP checks what a client library hides: HEAD /_ping headers, versioned paths, status
// codes with {"message"} bodies, /openapi.json, /topology (checked against the kernel), /events
// (SSE), the loopback TCP listener and a clean SIGTERM stop. One lab host and one daemon.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { after, before, describe, test } from 'node:test';
import Docker from 'dockerode';
import { type Host, Lab, addrs, link, links } from '../lab/index.js';
import { ctrNet, inspect, pingFrom } from './helpers.js';
import { type Daemon, type Reply, api, assertApiError, killContainers, parseJson, sse, startDaemon, stopDaemon } from './daemon-helpers.js';

const T = { timeout: 60_000 };
const TCP_PORT = 23750;

interface ModemError extends Error {
  statusCode?: number;
  json?: unknown;
}

/** Run a dockerode call; a rejection becomes {err} so that a test can check the effect before judging the status. */
async function settle<V>(p: Promise<V>): Promise<{ value?: V; err?: ModemError }> {
  try {
    return { value: await p };
  } catch (e) {
    return { err: e as ModemError };
  }
}

function messageOf(e: ModemError | undefined): string {
  const j = e?.json as { message?: unknown } | undefined;
  return typeof j?.message === 'string' ? j.message : String(e?.message);
}

interface NetInfo {
  Id: string;
  Name: string;
  Driver: string;
  Internal: boolean;
  Labels: Record<string, string>;
  Options: Record<string, string>;
  IPAM: { Config: { Subnet: string; Gateway?: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> }[] };
  Containers: Record<string, { Name: string; IPv4Address: string }>;
}

interface TopoNode {
  id: string;
  kind: string;
  label: string;
  data?: Record<string, unknown>;
}
interface TopoEdge {
  from: string;
  to: string;
  kind: string;
  label?: string;
}

void describe('berth daemon REST API: dockerode and raw HTTP', () => {
  let lab: Lab;
  let h: Host;
  let d: Daemon;
  let dk: Docker;
  const raw = (method: string, path: string, body?: unknown, rawBody?: string): Promise<Reply> =>
    api(d.sock, method, path, body, rawBody === undefined ? {} : { rawBody });

  before(async () => {
    lab = await Lab.create({ label: 'e2e daemon dockerode' });
    h = await lab.createHost('h');
    d = await startDaemon(h, { args: ['--api', `tcp://127.0.0.1:${TCP_PORT}`] });
    dk = new Docker({ socketPath: d.sock });
  });
  after(async () => {
    await stopDaemon(d).catch(() => undefined);
    if (h) await killContainers(h);
    await lab?.close();
  });

  void test('ping and version through dockerode; the socket is 0660 root:root', T, async () => {
    const pong: unknown = await dk.ping();
    assert.equal(String(pong), 'OK');
    const v = await dk.version();
    assert.equal(v.ApiVersion, '1.41');
    assert.equal(v.Os, 'linux');
    assert.equal((v as unknown as { MinAPIVersion: string }).MinAPIVersion, '1.24');
    assert.ok(v.Version, 'a version');
    const st = await stat(d.sock);
    assert.ok(st.isSocket(), `${d.sock} is a socket`);
    assert.equal(st.mode & 0o777, 0o660, `socket mode ${(st.mode & 0o777).toString(8)}`);
    assert.equal(st.uid, 0);
    assert.equal(st.gid, 0);
  });

  void test('HEAD /_ping and GET /_ping: status, Api-Version and the other Docker headers; versioned paths', T, async () => {
    const head = await raw('HEAD', '/_ping');
    assert.equal(head.status, 200);
    assert.equal(head.headers['api-version'], '1.41');
    assert.equal(head.headers.ostype, 'linux');
    assert.equal(head.headers['docker-experimental'], 'false');
    assert.equal(head.text, '', 'HEAD has no body');
    const get = await raw('GET', '/_ping');
    assert.equal(get.status, 200);
    assert.equal(get.text, 'OK');
    assert.equal(get.headers['api-version'], '1.41');

    for (const v of ['v1.24', 'v1.41', 'v1.44']) {
      assert.equal((await raw('HEAD', `/${v}/_ping`)).status, 200, `HEAD /${v}/_ping`);
      const bridge = await raw('GET', `/${v}/networks/bridge`);
      assert.equal(bridge.status, 200, `GET /${v}/networks/bridge: ${bridge.text}`);
      assert.equal(parseJson<NetInfo>(bridge).Name, 'bridge');
    }
    const plain = parseJson<NetInfo[]>(await raw('GET', '/networks'));
    const versioned = parseJson<NetInfo[]>(await raw('GET', '/v1.41/networks'));
    assert.deepEqual(versioned, plain, '/v1.41/networks is /networks');
    assert.ok(plain.some((n) => n.Name === 'bridge'), 'the default network is listed');
  });

  void test('createNetwork, getNetwork(name | id | prefix).inspect, listNetworks with filters', T, async () => {
    const n = await dk.createNetwork({
      Name: 'dn1',
      Driver: 'bridge',
      CheckDuplicate: true,
      IPAM: { Driver: 'default', Config: [{ Subnet: '10.61.0.0/24', Gateway: '10.61.0.1', IPRange: '10.61.0.128/25', AuxiliaryAddresses: { router: '10.61.0.2' } }] },
      Labels: { app: 'shop', tier: 'front' },
      Options: { 'com.docker.network.driver.mtu': '1450' },
    });
    assert.match(n.id, /^[0-9a-f]{64}$/);
    const byName = (await dk.getNetwork('dn1').inspect()) as NetInfo;
    assert.equal(byName.Id, n.id);
    assert.deepEqual(byName.IPAM.Config, [{ Subnet: '10.61.0.0/24', Gateway: '10.61.0.1', IPRange: '10.61.0.128/25', AuxiliaryAddresses: { router: '10.61.0.2' } }]);
    assert.deepEqual(byName.Labels, { app: 'shop', tier: 'front' });
    assert.equal(byName.Options['com.docker.network.driver.mtu'], '1450');
    assert.deepEqual(await dk.getNetwork(n.id).inspect(), byName, 'inspect by id');
    assert.deepEqual(await dk.getNetwork(n.id.slice(0, 12)).inspect(), byName, 'inspect by id prefix');
    assert.deepEqual(await h.berthJson<NetInfo[]>(['network', 'inspect', 'dn1']), [byName], 'berth network inspect agrees');

    await dk.createNetwork({ Name: 'dn2', Internal: true, Labels: { app: 'shop' } });
    const names = async (filters: Record<string, string[]>) => (await dk.listNetworks({ filters })).map((x) => x.Name).sort();
    assert.deepEqual(await names({ name: ['dn1'] }), ['dn1']);
    assert.deepEqual(await names({ name: ['dn'] }), ['dn1', 'dn2'], 'name matches a substring, as Docker does');
    assert.deepEqual(await names({ label: ['app=shop'] }), ['dn1', 'dn2']);
    assert.deepEqual(await names({ label: ['tier'] }), ['dn1']);
    assert.deepEqual(await names({ label: ['app=shop', 'tier=front'] }), ['dn1'], 'several labels: all must match');
    assert.deepEqual(await names({ id: [n.id.slice(0, 10)] }), ['dn1']);
    assert.deepEqual(await names({ driver: ['bridge'] }), ['bridge', 'dn1', 'dn2']);
    assert.deepEqual(await names({ type: ['builtin'] }), ['bridge', 'host', 'none'], 'Docker lists its pre-defined host and none networks too');
    assert.deepEqual(await names({ type: ['custom'] }), ['dn1', 'dn2']);
    assert.deepEqual(await names({ name: ['nothing-like-this'] }), []);
    // the old map form of filters, as some clients still send it
    const old = await raw('GET', `/networks?filters=${encodeURIComponent(JSON.stringify({ name: { dn2: true } }))}`);
    assert.deepEqual(parseJson<NetInfo[]>(old).map((x) => x.Name), ['dn2']);
    const all = await dk.listNetworks();
    assert.deepEqual(all.map((x) => x.Name).sort(), ['bridge', 'dn1', 'dn2', 'host', 'none']);
  });

  void test('containers through the API: createContainer, inspect, listContainers, stop, remove', T, async () => {
    const c = await dk.createContainer({
      name: 'dweb',
      Cmd: ['sleep', '600'],
      HostConfig: { NetworkMode: 'dn1', PortBindings: { '80/tcp': [{ HostIp: '', HostPort: '8080' }] } },
      NetworkingConfig: { EndpointsConfig: { dn1: { IPAMConfig: { IPv4Address: '10.61.0.200' }, Aliases: ['shop'] } } },
    });
    assert.match(c.id, /^[0-9a-f]{64}$/);
    const i = await c.inspect();
    assert.equal(i.Name, '/dweb');
    assert.equal(i.State.Running, true, 'created and started');
    assert.equal(i.NetworkSettings.Networks.dn1?.IPAddress, '10.61.0.200');
    assert.deepEqual(i.NetworkSettings.Ports['80/tcp'], [{ HostIp: '0.0.0.0', HostPort: '8080' }]);
    // the kernel: the container has its address and reaches its gateway
    const ns = await ctrNet(h, 'dweb');
    assert.ok((await addrs(ns)).some((a) => a.addr_info.some((x) => x.local === '10.61.0.200')), 'the address is in the container');
    assert.equal(await pingFrom(ns, '10.61.0.1'), true, 'the container reaches its gateway');
    // berth's own CLI sees the API's container
    assert.equal((await inspect(h, 'dweb')).Id, c.id);

    const other = await dk.createContainer({ name: 'dtmp', Cmd: ['sleep', '600'] });
    const listed = (await dk.listContainers()).map((x) => x.Names[0]).sort();
    assert.deepEqual(listed, ['/dtmp', '/dweb']);
    await other.stop({ t: 0 });
    assert.equal((await other.inspect()).State.Running, false, 'stopped');
    assert.deepEqual((await dk.listContainers()).map((x) => x.Names[0]), ['/dweb'], 'list: running only');
    assert.equal((await dk.listContainers({ all: true })).length, 2, 'list all=1: stopped ones too');
    await other.remove();
    const gone = await settle(other.inspect());
    assert.equal(gone.err?.statusCode, 404, 'inspect after remove');
    assert.match(messageOf(gone.err), /no such container/);
  });

  void test('getNetwork().connect() and .disconnect() through dockerode (Docker answers 200)', T, async () => {
    const n = dk.getNetwork('dn2');
    const problems: string[] = [];
    const con = await settle(n.connect({ Container: 'dweb', EndpointConfig: { Aliases: ['inner'] } }));
    if (con.err) problems.push(`network.connect() rejected: ${con.err.message.trim()} (statusCode ${con.err.statusCode})`);
    const after1 = (await n.inspect()) as NetInfo;
    const dwebId = (await dk.getContainer('dweb').inspect()).Id;
    assert.equal(after1.Containers[dwebId]?.Name, 'dweb', 'whatever the status, the container was connected');
    assert.ok((await dk.getContainer('dweb').inspect()).NetworkSettings.Networks.dn2, 'container inspect shows dn2');
    const dis = await settle(n.disconnect({ Container: 'dweb' }));
    if (dis.err) problems.push(`network.disconnect() rejected: ${dis.err.message.trim()} (statusCode ${dis.err.statusCode})`);
    assert.deepEqual(((await n.inspect()) as NetInfo).Containers, {}, 'whatever the status, the container was disconnected');
    // what the server sent, for the report
    const rc = await raw('POST', '/networks/dn2/connect', { Container: 'dweb' });
    const rd = await raw('POST', '/networks/dn2/disconnect', { Container: 'dweb' });
    assert.deepEqual(problems, [], `raw POST /networks/dn2/connect answers ${rc.status}, /disconnect answers ${rd.status}; Docker's API (and berth's openapi.json) say 200`);
  });

  void test('network remove: 403 while in use, then removed; 404 when missing; pruneNetworks', T, async () => {
    const inUse = await settle(dk.getNetwork('dn1').remove());
    assert.equal(inUse.err?.statusCode, 403, `remove dn1 (dweb is on it): ${String(inUse.err?.message)}`);
    assert.match(messageOf(inUse.err), /active endpoints/);
    const bridge = await settle(dk.getNetwork('bridge').remove());
    assert.equal(bridge.err?.statusCode, 403);
    assert.match(messageOf(bridge.err), /pre-defined/);
    const missing = await settle(dk.getNetwork('dn-missing').remove());
    assert.equal(missing.err?.statusCode, 404);
    assert.match(messageOf(missing.err), /dn-missing/);

    await dk.createNetwork({ Name: 'dn3' });
    const pruned = await dk.pruneNetworks();
    assert.deepEqual([...(pruned.NetworksDeleted ?? [])].sort(), ['dn2', 'dn3'], 'prune removes the unused user networks only');
    assert.deepEqual((await dk.listNetworks()).map((x) => x.Name).sort(), ['bridge', 'dn1', 'host', 'none']);

    await dk.createNetwork({ Name: 'dn4' });
    await dk.getNetwork('dn4').remove();
    assert.equal((await settle(dk.getNetwork('dn4').inspect())).err?.statusCode, 404, 'dn4 is gone');
  });

  void test('status codes and {"message"} bodies: 400, 403, 404, 405, 409', T, async () => {
    assertApiError(await raw('GET', '/networks/nope'), 404, /network "nope" not found/, 'GET /networks/nope');
    assertApiError(await raw('GET', '/v1.41/networks/nope'), 404, /nope/, 'GET /v1.41/networks/nope');
    assertApiError(await raw('DELETE', '/networks/nope'), 404, /nope/, 'DELETE /networks/nope');
    assertApiError(await raw('GET', '/no/such/route'), 404, /not found/, 'GET /no/such/route');
    assertApiError(await raw('GET', '/containers/nope/json'), 404, /no such container/, 'GET /containers/nope/json');
    assertApiError(await raw('POST', '/networks/nope/connect', { Container: 'dweb' }), 404, /nope/, 'connect to a missing network');
    assertApiError(await raw('POST', '/networks/dn1/connect', { Container: 'nope' }), 404, /no such container/, 'connect a missing container');
    assertApiError(await raw('POST', '/networks/create', { Name: 'dn1' }), 409, /already exists/, 'duplicate create');
    assertApiError(await raw('POST', '/networks/create', { Name: 'bridge' }), 409, /bridge/, 'create "bridge"');
    assertApiError(await raw('POST', '/networks/dn1/connect', { Container: 'dweb' }), 409, /already connected/, 'connect twice');
    assertApiError(await raw('DELETE', '/networks/bridge'), 403, /pre-defined/, 'DELETE /networks/bridge');
    assertApiError(await raw('DELETE', '/networks/dn1'), 403, /active endpoints/, 'DELETE a network in use');
    assertApiError(await raw('POST', '/networks/create', undefined, '{"Name": "x",'), 400, /JSON/, 'a body that is not JSON');
    assertApiError(await raw('POST', '/networks/create', {}), 400, /Name/, 'create without Name');
    assertApiError(await raw('POST', '/networks/create', { Name: 'dbad', IPAM: { Config: [{ Subnet: '10.0.0.0/33' }] } }), 400, /10\.0\.0\.0\/33/, 'a bad subnet');
    assertApiError(await raw('GET', '/networks?filters=notjson'), 400, /filters/, 'filters that are not JSON');
    assertApiError(await raw('GET', `/networks?filters=${encodeURIComponent('{"colour":["red"]}')}`), 400, /colour/, 'an unknown filter');
    assertApiError(await raw('POST', '/containers/create', { Cmd: [] }), 400, /Cmd/, 'container create without Cmd');
    assertApiError(await raw('PUT', '/networks/dn1'), 405, /PUT/, 'PUT /networks/dn1');
    // nothing of that changed anything
    assert.deepEqual(parseJson<NetInfo[]>(await raw('GET', '/networks')).map((x) => x.Name).sort(), ['bridge', 'dn1', 'host', 'none']);
    assert.deepEqual((await dk.listContainers({ all: true })).map((x) => x.Names[0]), ['/dweb']);
  });

  void test('/openapi.json parses and describes the routes', T, async () => {
    const r = await raw('GET', '/openapi.json');
    assert.equal(r.status, 200);
    const doc = parseJson<{ openapi: string; info: { version: string }; paths: Record<string, Record<string, unknown>> }>(r, '/openapi.json');
    assert.match(doc.openapi, /^3\./);
    assert.equal(doc.info.version, '1.41');
    const want: [string, string][] = [
      ['/_ping', 'get'], ['/version', 'get'], ['/networks', 'get'], ['/networks/create', 'post'], ['/networks/{id}', 'get'],
      ['/networks/{id}', 'delete'], ['/networks/{id}/connect', 'post'], ['/networks/{id}/disconnect', 'post'], ['/networks/prune', 'post'],
      ['/containers/json', 'get'], ['/containers/create', 'post'], ['/containers/{id}/json', 'get'], ['/containers/{id}/stop', 'post'],
      ['/containers/{id}', 'delete'], ['/topology', 'get'], ['/events', 'get'], ['/openapi.json', 'get'],
    ];
    for (const [path, method] of want) assert.ok(doc.paths[path]?.[method], `openapi.json describes ${method.toUpperCase()} ${path}`);
  });

  void test('/topology: the host, its bridges, the container namespace, its veth pair and published ports, as the kernel has them', T, async () => {
    const r = await raw('GET', '/topology');
    assert.equal(r.status, 200);
    const g = parseJson<{ nodes: TopoNode[]; edges: TopoEdge[] }>(r, '/topology');
    const node = (id: string) => g.nodes.find((x) => x.id === id);
    const edge = (pred: (e: TopoEdge) => boolean) => g.edges.find(pred);
    assert.equal(node('host')?.kind, 'host');

    const dn1 = (await dk.getNetwork('dn1').inspect()) as NetInfo;
    const br = dn1.Options['com.docker.network.bridge.name'] as string;
    for (const b of ['berth0', br]) {
      assert.equal(node(`host/${b}`)?.kind, 'bridge', `bridge ${b} is a node`);
      assert.ok(edge((e) => e.from === `host/${b}` && e.to === 'host' && e.kind === 'in'), `${b} is in the host`);
    }
    assert.ok((node(`host/${br}`)?.data?.addresses as string[]).includes('10.61.0.1/24'), `${br} shows its gateway address`);
    assert.ok(edge((e) => e.from === 'network/dn1' && e.to === `host/${br}` && e.kind === 'attached'), 'network dn1 -> its bridge');

    const dweb = await dk.getContainer('dweb').inspect();
    const ns = node(`ns/${dweb.Id}`);
    assert.equal(ns?.kind, 'namespace', 'the container namespace is a node');
    assert.equal(ns.label, 'dweb');
    const eth0 = node(`ns/${dweb.Id}/eth0`);
    assert.ok(eth0, 'its eth0 is a node');
    assert.deepEqual(eth0.data?.addresses, ['10.61.0.200/24']);
    const veth = edge((e) => e.from === `ns/${dweb.Id}/eth0` && e.kind === 'veth');
    assert.ok(veth, 'eth0 has a veth edge to its host side');
    const hostSide = veth.to.replace(/^host\//, '');
    assert.match(hostSide, /^veth[0-9a-f]{7}$/);
    assert.ok(edge((e) => e.from === veth.to && e.to === `host/${br}` && e.kind === 'port-of'), `${hostSide} is a port of ${br}`);
    // ... and the kernel agrees
    const l = await link(h, hostSide);
    assert.equal(l?.master, br, `the kernel: ${hostSide} is on ${br}`);
    const pub = edge((e) => e.kind === 'publishes' && e.to === `ns/${dweb.Id}`);
    assert.ok(pub, 'a publishes edge for the published port');
    assert.match(pub.label ?? '', /8080\/tcp -> 10\.61\.0\.200:80/);
    // every host link is a node
    const kernelLinks = (await links(h)).map((x) => x.ifname).sort();
    const topoLinks = g.nodes.filter((x) => x.id.startsWith('host/')).map((x) => x.label).sort();
    assert.deepEqual(topoLinks, kernelLinks, 'every link of the host is in the graph');
  });

  void test('/events: an SSE client receives network create, connect, disconnect and destroy events', T, async () => {
    const ev = sse(d.sock);
    try {
      const st = await ev.status;
      assert.equal(st.status, 200);
      assert.match(String(st.headers['content-type']), /^text\/event-stream/);
      const created = await raw('POST', '/v1.41/networks/create', { Name: 'dev1', CheckDuplicate: true, Driver: 'bridge' });
      assert.equal(created.status, 201, created.text);
      const { Id, Warning } = parseJson<{ Id: string; Warning: string }>(created);
      assert.equal(Warning, '');
      const e = await ev.waitFor((x) => x.Type === 'network' && x.Action === 'create');
      assert.deepEqual(e.Actor, { ID: Id, Attributes: { name: 'dev1', type: 'bridge' } });
      assert.equal(typeof e.time, 'number');

      assert.equal((await raw('POST', '/networks/dev1/connect', { Container: 'dweb' })).status < 300, true);
      await ev.waitFor((x) => x.Type === 'network' && x.Action === 'connect');
      assert.equal((await raw('POST', '/networks/dev1/disconnect', { Container: 'dweb' })).status < 300, true);
      await ev.waitFor((x) => x.Type === 'network' && x.Action === 'disconnect');
      assert.equal((await raw('DELETE', '/networks/dev1')).status, 204);
      const gone = await ev.waitFor((x) => x.Type === 'network' && x.Action === 'destroy');
      assert.equal((gone.Actor as { ID: string }).ID, Id);
    } finally {
      ev.close();
    }
  });

  void test('/events: networks removed by prune are announced with their ids, as DELETE does', T, async () => {
    const ev = sse(d.sock);
    try {
      await ev.status;
      const { Id } = parseJson<{ Id: string }>(await raw('POST', '/networks/create', { Name: 'dev2' }));
      await ev.waitFor((x) => x.Action === 'create');
      assert.equal((await raw('POST', '/networks/prune')).status, 200);
      const gone = await ev.waitFor((x) => x.Type === 'network' && x.Action === 'destroy');
      assert.deepEqual(gone.Actor, { ID: Id, Attributes: { name: 'dev2', type: 'bridge' } }, 'the destroy event of a pruned network');
    } finally {
      ev.close();
    }
  });

  void test('the TCP listener answers on the host loopback only; a non-loopback --api is refused', T, async () => {
    const get = [
      "require('http').get({host:'127.0.0.1',port:Number(process.argv[1]),path:'/v1.41/networks/bridge'},r=>{let b='';",
      "r.on('data',c=>b+=c);r.on('end',()=>{console.log(r.statusCode,r.headers['api-version'],JSON.parse(b).Name);});})",
      ".on('error',e=>{console.log('ERR',e.code);process.exit(1);});",
    ].join('');
    const r = await h.execOk([process.execPath, '-e', get, String(TCP_PORT)]);
    assert.equal(r.stdout.trim(), '200 1.41 bridge', 'GET over tcp://127.0.0.1 inside the host');
    const bad = await h.berth(['daemon', '--api', 'tcp://0.0.0.0:23751'], { timeoutMs: 15_000 });
    assert.equal(bad.code, 1, `berth daemon --api tcp://0.0.0.0:23751: exit ${bad.code}, ${bad.stderr}`);
    assert.match(bad.stderr, /invalid --api "tcp:\/\/0\.0\.0\.0:23751".*loopback/);
  });

  void test('SIGTERM stops the daemon cleanly; the containers it started keep running', T, async () => {
    const pid = d.proc.pid;
    const r = await stopDaemon(d);
    assert.equal(r?.signal, null, `the daemon exited by itself after SIGTERM (not killed), pid ${pid}`);
    assert.equal(r?.code, 0, `exit status after SIGTERM; stderr:\n${r?.stderr}`);
    assert.match(r?.stderr ?? '', /stopping/);
    assert.equal((await inspect(h, 'dweb')).State.Running, true, 'dweb still runs');
  });
});
