// End to end, berth as Docker's network driver (issue 14): a real dockerd 20.10 in a lab host
// drives `berth daemon --docker-plugin` through the remote NetworkDriver + IpamDriver protocol.
// docker network create -d berth (Docker's IPAM and berth's), docker run with --ip, --mac-address,
// --network-alias and -p (reached from another lab node with its address preserved; a
// 127.0.0.1-only port not reachable from the LAN), Docker's embedded DNS, IPv6, network
// connect/disconnect, berth network inspect listing Docker's containers, and a bad -o that
// reaches the docker CLI naming the option and leaves nothing behind. One lab for the file.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { BasicLab } from './helpers.js';
import { EXT_ADDR, H_ADDR } from './helpers.js';
import { dockerCmd, dockerEndpointLinks, dockerMissing, dockerOk, httpGet, pluginLab, type Dockerd, type PluginLab } from './docker-plugin-helpers.js';

const T = { timeout: 180_000 };

const missing = dockerMissing();

interface BerthNet {
  Name: string;
  Id: string;
  Driver: string;
  Labels: Record<string, string>;
  IPAM: { Config: { Subnet: string; Gateway?: string }[] };
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
}

void describe('berth as Docker network driver: docker run on berth networks', { skip: missing }, () => {
  let P: PluginLab;
  let L: BasicLab;
  let d: Dockerd;
  let img = '';
  let driver = '';

  const berthNet = async (ref: string) => (await L.h.berthJson<BerthNet[]>(['network', 'inspect', ref, '--format', 'json']))[0] as BerthNet;
  const berthNetNames = async () => (await L.h.berthJson<{ Name: string }[]>(['network', 'ls', '--format', 'json'])).map((n) => n.Name).sort();
  const dockerNetId = async (name: string) => dockerOk(d, ['network', 'inspect', '-f', '{{.Id}}', name]);
  const exec = (ctr: string, ...argv: string[]) => dockerCmd(d, ['exec', ctr, ...argv]);

  before(async () => {
    P = await pluginLab('docker-plugin');
    ({ L, d, img, driver } = P);
  });
  after(() => P?.close());

  test('network create -d berth: a berth network with Docker\'s subnets (IPv4 and IPv6), labelled with Docker\'s id', T, async () => {
    await dockerOk(d, ['network', 'create', '-d', driver, '--subnet', '10.31.0.0/24', '--gateway', '10.31.0.1', '--ipv6', '--subnet', 'fd00:31::/64', '--gateway', 'fd00:31::1', 'dn1']);
    const id = await dockerNetId('dn1');
    const net = await berthNet(`docker-${id.slice(0, 12)}`);
    assert.equal(net.Driver, 'bridge');
    assert.equal(net.Labels['berth.docker.network-id'], id);
    assert.deepEqual(net.IPAM.Config.map((c) => [c.Subnet, c.Gateway]), [['10.31.0.0/24', '10.31.0.1'], ['fd00:31::/64', 'fd00:31::1']]);
  });

  test('docker run --ip --mac-address --network-alias: the container has them; berth network inspect lists it; DNS resolves the alias', T, async () => {
    await dockerOk(d, [
      'run', '-d', '--name', 'web', '--network', 'dn1', '--ip', '10.31.0.10', '--ip6', 'fd00:31::10', '--mac-address', '02:42:0a:1f:00:63', '--network-alias', 'www',
      img, 'sh', '-c', 'echo hello-from-web > /tmp/index.html; exec httpd -f -v -p 80 -h /tmp',
    ]);
    const addr = (await exec('web', 'ip', 'addr', 'show', 'eth0')).stdout;
    assert.match(addr, /inet 10\.31\.0\.10\/24/);
    assert.match(addr, /inet6 fd00:31::10\/64/);
    assert.match(addr, /link\/ether 02:42:0a:1f:00:63/);
    const routes = (await exec('web', 'ip', 'route')).stdout;
    assert.match(routes, /default via 10\.31\.0\.1 dev eth0/, 'the default route via berth\'s bridge (no docker_gwbridge leg)');
    // berth's record of Docker's endpoint
    const id = await dockerNetId('dn1');
    const net = await berthNet(`docker-${id.slice(0, 12)}`);
    const eps = Object.values(net.Containers);
    assert.equal(eps.length, 1);
    assert.equal(eps[0]?.IPv4Address, '10.31.0.10/24');
    assert.equal(eps[0]?.IPv6Address, 'fd00:31::10/64');
    assert.equal(eps[0]?.MacAddress, '02:42:0a:1f:00:63');
    // gateway (berth's bridge) over IPv4 and IPv6, and Docker's embedded DNS names on the network
    assert.equal((await exec('web', 'ping', '-c', '1', '-W', '2', '10.31.0.1')).code, 0);
    assert.equal((await exec('web', 'ping', '-c', '1', '-W', '2', 'fd00:31::1')).code, 0);
    // busybox's own resolver (its static wget's getaddrinfo would need glibc's NSS modules)
    for (const name of ['www', 'web']) {
      const ns = await dockerOk(d, ['run', '--rm', '--network', 'dn1', img, 'nslookup', name]);
      assert.match(ns, /Address:\s*10\.31\.0\.10\b/, `nslookup ${name} through Docker's embedded DNS:\n${ns}`);
    }
    const got = await dockerOk(d, ['run', '--rm', '--network', 'dn1', img, ...httpGet('10.31.0.10', 80)]);
    assert.match(got, /^hello-from-web$/m);
  });

  test('-p: reached from the LAN with the client address preserved; a 127.0.0.1 port is not reachable from the LAN', T, async () => {
    await dockerOk(d, ['run', '-d', '--name', 'pub', '--network', 'dn1', '-p', '8080:80', '-p', '127.0.0.1:8081:80', img, 'sh', '-c', 'echo hello-pub > /tmp/index.html; exec httpd -f -v -p 80 -h /tmp']);
    const got = await L.ext.exec(httpGet(H_ADDR, 8080), { timeoutMs: 15_000 });
    assert.equal(got.code, 0, `GET from ext: ${got.stderr}`);
    assert.match(got.stdout, /^hello-pub$/m);
    const logs = await dockerCmd(d, ['logs', 'pub']);
    assert.match(logs.stdout + logs.stderr, new RegExp(EXT_ADDR.replace(/\./g, '\\.')), 'httpd saw the client\'s own address');
    const local = await L.ext.exec(httpGet(H_ADDR, 8081), { timeoutMs: 10_000 });
    assert.doesNotMatch(local.stdout, /hello-pub/, 'the 127.0.0.1-only port answered the LAN');
    const fromHost = await L.h.exec(httpGet('127.0.0.1', 8081), { timeoutMs: 10_000 });
    assert.match(fromHost.stdout, /^hello-pub$/m, `the host's own 127.0.0.1:8081: ${fromHost.stderr}`);
    await dockerOk(d, ['rm', '-f', 'pub']);
  });

  test('docker network connect/disconnect on a running container; berth IPAM (--ipam-driver)', T, async () => {
    await dockerOk(d, ['network', 'create', '-d', driver, '--ipam-driver', driver, '--subnet', '10.32.0.0/24', '-o', 'berth.name=dn2-berth', 'dn2']);
    const id = await dockerNetId('dn2');
    assert.equal((await berthNet('dn2-berth')).Labels['berth.docker.network-id'], id, '-o berth.name names the berth network');
    await dockerOk(d, ['network', 'connect', 'dn2', 'web']);
    const addr = (await exec('web', 'ip', '-4', 'addr')).stdout;
    assert.match(addr, /inet 10\.32\.0\.\d+\/24/);
    const net = await berthNet('dn2-berth');
    assert.equal(Object.keys(net.Containers).length, 1);
    assert.equal((await exec('web', 'ping', '-c', '1', '-W', '2', '10.32.0.1')).code, 0);
    await dockerOk(d, ['network', 'disconnect', 'dn2', 'web']);
    assert.doesNotMatch((await exec('web', 'ip', '-4', 'addr')).stdout, /10\.32\.0\./);
    assert.equal(Object.keys((await berthNet('dn2-berth')).Containers).length, 0);
    await dockerOk(d, ['network', 'rm', 'dn2']);
    assert.ok(!(await berthNetNames()).includes('dn2-berth'), 'docker network rm removed the berth network');
    // no --subnet: berth's IPAM picks a free one, as `berth network create` would
    await dockerOk(d, ['network', 'create', '-d', driver, '--ipam-driver', driver, 'dn3']);
    const subnet = await dockerOk(d, ['network', 'inspect', '-f', '{{(index .IPAM.Config 0).Subnet}}', 'dn3']);
    const picked = (await berthNet(`docker-${(await dockerNetId('dn3')).slice(0, 12)}`)).IPAM.Config[0]?.Subnet;
    assert.equal(picked, subnet, 'Docker and berth agree on the subnet berth picked');
    const ip = await dockerOk(d, ['run', '--rm', '--network', 'dn3', img, 'ip', '-4', '-o', 'addr', 'show', 'eth0']);
    assert.match(ip, new RegExp(`inet ${subnet.split('.').slice(0, 2).join('\\.')}\\.`), ip);
    await dockerOk(d, ['network', 'rm', 'dn3']);
  });

  test('-o berth.network=NAME: Docker joins an existing berth network (its containers and berth\'s share it); --internal', T, async () => {
    await L.h.berthOk(['network', 'create', '--subnet', '10.34.0.0/24', 'shared']);
    const wrong = await dockerCmd(d, ['network', 'create', '-d', driver, '--subnet', '10.35.0.0/24', '-o', 'berth.network=shared', 'dj-bad']);
    assert.match(wrong.stderr, /berth\.network=shared.*10\.34\.0\.0\/24/, wrong.stderr);
    await dockerOk(d, ['network', 'create', '-d', driver, '--subnet', '10.34.0.0/24', '-o', 'berth.network=shared', 'dj']);
    await L.h.berthOk(['run', '-d', '--name', 'bctr', '--network', 'shared', '--ip', '10.34.0.50', '--', 'sleep', '300']);
    await dockerOk(d, ['run', '-d', '--name', 'jctr', '--network', 'dj', img, 'sleep', '300']);
    const shared = await berthNet('shared');
    assert.equal(Object.keys(shared.Containers).length, 2, 'berth\'s container and Docker\'s on one berth network');
    assert.equal((await exec('jctr', 'ping', '-c', '1', '-W', '2', '10.34.0.50')).code, 0, 'Docker\'s container reaches berth\'s');
    await dockerOk(d, ['rm', '-f', 'jctr']);
    await dockerOk(d, ['network', 'rm', 'dj']);
    assert.ok((await berthNetNames()).includes('shared'), 'docker network rm of a joined network leaves the berth network');
    await L.h.berthOk(['rm', '-f', 'bctr']);
    await L.h.berthOk(['network', 'rm', 'shared']);
    // --internal: a berth internal network; Docker adds no way out either
    await dockerOk(d, ['network', 'create', '-d', driver, '--internal', '--subnet', '10.36.0.0/24', 'di']);
    const id = await dockerNetId('di');
    assert.equal((await L.h.berthJson<{ Internal: boolean }[]>(['network', 'inspect', `docker-${id.slice(0, 12)}`, '--format', 'json']))[0]?.Internal, true);
    const routes = await dockerOk(d, ['run', '--rm', '--network', 'di', img, 'ip', 'route']);
    assert.doesNotMatch(routes, /default/, `an internal network's container has no default route:\n${routes}`);
    await dockerOk(d, ['network', 'rm', 'di']);
  });

  test('-o berth.driver=macvlan -o parent=eth0: a Docker container on the LAN at its own address', T, async () => {
    // ext (10.200.0.2) plays the LAN's router; h's own 10.200.0.1 is kept out of Docker's picks by --ip
    await dockerOk(d, ['network', 'create', '-d', driver, '-o', 'berth.driver=macvlan', '-o', 'parent=eth0', '--subnet', '10.200.0.0/24', '--gateway', '10.200.0.2', 'dm']);
    const id = await dockerNetId('dm');
    assert.equal((await berthNet(`docker-${id.slice(0, 12)}`)).Driver, 'macvlan');
    await dockerOk(d, ['run', '-d', '--name', 'mv', '--network', 'dm', '--ip', '10.200.0.60', img, 'sleep', '300']);
    // on-link for ext: only a macvlan child of h's eth0 answers ARP for it on the switch
    assert.ok(await L.ext.ping('10.200.0.60'), 'the LAN reaches the container at its own address');
    assert.equal((await exec('mv', 'ping', '-c', '1', '-W', '2', '10.200.0.2')).code, 0, 'the container reaches the LAN');
    await dockerOk(d, ['rm', '-f', 'mv']);
    assert.equal(Object.keys((await berthNet(`docker-${id.slice(0, 12)}`)).Containers).length, 0);
    assert.deepEqual((await dockerEndpointLinks(L.h)).filter((l) => l.name.startsWith('bth')), [], 'the macvlan child went with the container');
    await dockerOk(d, ['network', 'rm', 'dm']);
    // an overlay needs berth's IPAM (cluster-wide addresses) and a daemon joined to a cluster (this one is not)
    const r = await dockerCmd(d, ['network', 'create', '-d', driver, '-o', 'berth.driver=overlay', '--subnet', '10.37.0.0/24', 'dov']);
    assert.match(r.stderr, /berth\.driver=overlay needs berth's IPAM/, r.stderr);
    const r2 = await dockerCmd(d, ['network', 'create', '-d', driver, '--ipam-driver', driver, '-o', 'berth.driver=overlay', '--subnet', '10.37.0.0/24', 'dov']);
    assert.match(r2.stderr, /overlay networks need a daemon joined to a cluster/, r2.stderr);
    assert.equal((await dockerCmd(d, ['network', 'inspect', 'dov'])).code, 1, 'nothing left in Docker');
  });

  test('a bad -o reaches the docker CLI naming the option; nothing is left in Docker or berth', T, async () => {
    const before = await berthNetNames();
    const dockerBefore = await dockerOk(d, ['network', 'ls', '-q']);
    const r = await dockerCmd(d, ['network', 'create', '-d', driver, '--subnet', '10.33.0.0/24', '-o', 'berth.bogus=1', 'bad']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /berth\.bogus/, r.stderr);
    const r2 = await dockerCmd(d, ['network', 'create', '-d', driver, '--subnet', '10.33.0.0/24', '-o', 'berth.driver=nope', 'bad']);
    assert.match(r2.stderr, /berth\.driver=nope/, r2.stderr);
    assert.deepEqual(await berthNetNames(), before);
    assert.equal(await dockerOk(d, ['network', 'ls', '-q']), dockerBefore);
  });

  test('docker rm and network rm leave nothing of Docker\'s in berth', T, async () => {
    const id = await dockerNetId('dn1');
    await dockerOk(d, ['rm', '-f', 'web']);
    assert.equal(Object.keys((await berthNet(`docker-${id.slice(0, 12)}`)).Containers).length, 0);
    await dockerOk(d, ['network', 'rm', 'dn1']);
    assert.ok(!(await berthNetNames()).includes(`docker-${id.slice(0, 12)}`));
    assert.deepEqual(await dockerEndpointLinks(L.h), [], 'no veth of Docker\'s endpoints is left on the host');
  });
});
