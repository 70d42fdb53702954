// End to end, the stock docker CLI against `berth daemon` (issue 5, REST API): every docker CLI
// on this machine (/usr/local/bin/docker 28.x, Debian's docker.io 20.10 at /usr/bin/docker) runs
// `network create/ls/inspect/connect/disconnect/rm/prune` with DOCKER_HOST=unix://<berth.sock>;
// its output parses and agrees with `berth network …` and with the kernel, networks made on
// either side are seen by the other, and refusals exit non-zero with the daemon's message.
// One lab host and one daemon for the file; each CLI gets its own names and subnets.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type Host, Lab, addrs, addressesOf, link } from '../lab/index.js';
import { type Inspect, inspect, pingFrom, removeQuietly, runDetached } from './helpers.js';
import { type Daemon, type DockerCli, api, docker, dockerOk, findDockerClis, parseJson, startDaemon, stopDaemon } from './daemon-helpers.js';

const T = { timeout: 120_000 };

interface NetInspect {
  Name: string;
  Id: string;
  Driver: string;
  Scope: string;
  EnableIPv6: boolean;
  Internal: boolean;
  IPAM: { Driver: string; Config: { Subnet: string; Gateway?: string; IPRange?: string }[] };
  Options: Record<string, string>;
  Labels: Record<string, string>;
  Containers: Record<string, { Name: string; IPv4Address: string; MacAddress: string; EndpointID: string }>;
}

interface LsLine {
  ID: string;
  Name: string;
  Driver: string;
  Scope: string;
  Internal: string;
  IPv6: string;
  Labels: string;
}

const { present: CLIS, missing: MISSING } = await findDockerClis();

void describe('docker CLI against berth daemon', () => {
  let lab: Lab;
  let h: Host;
  let d: Daemon;

  before(async () => {
    lab = await Lab.create({ label: 'e2e daemon docker cli' });
    h = await lab.createHost('h');
    d = await startDaemon(h);
  });
  after(async () => {
    await stopDaemon(d).catch(() => undefined);
    await lab?.close();
  });

  for (const why of MISSING) void test(`a docker CLI is missing`, { skip: why }, () => undefined);
  if (CLIS.length === 0) void test('docker CLI', { skip: 'no docker CLI on this machine' }, () => undefined);

  for (const cli of CLIS) cliSuite(cli);

  function cliSuite(cli: DockerCli): void {
    // names and subnets of this CLI: d28-…, 10.128.x.0/24; d20-…, 10.120.x.0/24 (never on the lab's wire)
    const p = cli.tag;
    const o = 100 + (Number(cli.tag.slice(1)) % 100);
    const net = (n: number) => `10.${o}.${n}`;
    const dk = (args: string[]) => docker(h, cli, d.sock, args);
    const dkOk = (args: string[]) => dockerOk(h, cli, d.sock, args);
    const berthNet = async (name: string) => (await h.berthJson<NetInspect[]>(['network', 'inspect', name]))[0] as NetInspect;
    const dockerNet = async (name: string) => {
      const list = JSON.parse((await dkOk(['network', 'inspect', name])).stdout) as NetInspect[];
      assert.equal(list.length, 1, `docker network inspect ${name} prints one network`);
      return list[0] as NetInspect;
    };
    const apiNames = async () => parseJson<{ Name: string }[]>(await api(d.sock, 'GET', '/networks')).map((n) => n.Name).sort();
    const apiCtr = async () => parseJson<Inspect>(await api(d.sock, 'GET', `/containers/${ctr}/json`));
    const berthNames = async () => (await h.berthJson<{ Name: string; ID: string }[]>(['network', 'ls', '--format', 'json'])).map((n) => n.Name).sort();
    const lsJson = async (extra: string[] = []) =>
      (await dkOk(['network', 'ls', ...extra, '--format', '{{json .}}'])).stdout
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as LsLine);
    const ctr = `${p}-ctr`;
    let ctrId = '';
    let fullId = '';

    void describe(`docker ${cli.version} (${cli.path})`, () => {
      before(async () => {
        ctrId = await runDetached(h, ['--name', ctr, '--', 'sleep', '600']);
      });
      after(async () => {
        await removeQuietly(h, ctr);
      });

      void test('network create with --subnet --gateway --ip-range --internal -o --label --ipv6; inspect agrees with berth and the kernel', T, async () => {
        const name = `${p}-full`;
        const r = await dkOk([
          'network', 'create',
          '--subnet', `${net(1)}.0/24`, '--gateway', `${net(1)}.254`, '--ip-range', `${net(1)}.128/25`,
          '--internal', '-o', 'com.docker.network.driver.mtu=1400', '--label', 'team=blue', '--label', 'tier=db', '--ipv6',
          name,
        ]);
        fullId = r.stdout.trim();
        assert.match(fullId, /^[0-9a-f]{64}$/, `docker network create prints the 64-hex id, got ${JSON.stringify(r.stdout)}`);

        const n = await dockerNet(name);
        assert.equal(n.Name, name);
        assert.equal(n.Id, fullId);
        assert.equal(n.Driver, 'bridge');
        assert.equal(n.Scope, 'local');
        assert.equal(n.Internal, true);
        assert.equal(n.EnableIPv6, true);
        const v4 = n.IPAM.Config.find((c) => !c.Subnet.includes(':'));
        assert.deepEqual(v4, { Subnet: `${net(1)}.0/24`, Gateway: `${net(1)}.254`, IPRange: `${net(1)}.128/25` });
        const v6 = n.IPAM.Config.find((c) => c.Subnet.includes(':'));
        assert.ok(v6?.Gateway, `--ipv6 without a subnet gets an IPv6 subnet and gateway: ${JSON.stringify(n.IPAM.Config)}`);
        assert.equal(n.Options['com.docker.network.driver.mtu'], '1400');
        assert.deepEqual(n.Labels, { team: 'blue', tier: 'db' });
        assert.deepEqual(n.Containers, {});

        // the same network, as berth's own CLI (running the engine in-process) sees it
        assert.deepEqual(await berthNet(name), n, 'docker network inspect and berth network inspect agree');
        assert.deepEqual(await berthNet(fullId.slice(0, 12)), n, 'berth network inspect by id prefix');

        // and in the kernel: the bridge with both gateways and the MTU
        const br = n.Options['com.docker.network.bridge.name'];
        assert.ok(br, 'Options names the bridge');
        const l = await link(h, br);
        assert.ok(l, `bridge ${br} exists in the host`);
        assert.equal(l.linkinfo?.info_kind, 'bridge');
        assert.equal(l.mtu, 1400, `bridge ${br} MTU`);
        const have = await addressesOf(h, br);
        assert.ok(have.includes(`${net(1)}.254/24`), `${br} holds the gateway ${net(1)}.254/24: ${have.join(', ')}`);
        assert.ok(have.includes(`${v6.Gateway}/${v6.Subnet.split('/')[1]}`), `${br} holds the IPv6 gateway ${v6.Gateway}: ${have.join(', ')}`);
      });

      void test('network ls: the table, --filter name=… -q, --filter label=…, --no-trunc, --format {{json .}}', T, async () => {
        const name = `${p}-full`;
        assert.ok(fullId, 'the create test ran');
        const table = (await dkOk(['network', 'ls'])).stdout.split('\n').filter(Boolean);
        assert.match(table[0] ?? '', /^NETWORK ID\s+NAME\s+DRIVER\s+SCOPE$/, 'header');
        assert.ok(
          table.some((l) => new RegExp(`^${fullId.slice(0, 12)}\\s+${name}\\s+bridge\\s+local$`).test(l)),
          `a row for ${name}:\n${table.join('\n')}`,
        );
        assert.ok(table.some((l) => /^[0-9a-f]{12}\s+bridge\s+bridge\s+local$/.test(l)), `a row for the default network:\n${table.join('\n')}`);

        assert.deepEqual((await dkOk(['network', 'ls', '--filter', `name=${name}`, '-q'])).stdout.split('\n').filter(Boolean), [fullId.slice(0, 12)]);
        assert.deepEqual((await dkOk(['network', 'ls', '--filter', `name=${name}`, '-q', '--no-trunc'])).stdout.split('\n').filter(Boolean), [fullId]);
        assert.deepEqual((await dkOk(['network', 'ls', '--filter', 'label=team=blue', '-q'])).stdout.split('\n').filter(Boolean), [fullId.slice(0, 12)]);
        assert.deepEqual((await dkOk(['network', 'ls', '--filter', 'name=no-such-network-anywhere', '-q'])).stdout, '');

        const rows = await lsJson();
        const row = rows.find((x) => x.Name === name);
        assert.ok(row, `{{json .}} lists ${name}: ${JSON.stringify(rows)}`);
        assert.equal(row.ID, fullId.slice(0, 12));
        assert.equal(row.Driver, 'bridge');
        assert.equal(row.Scope, 'local');
        assert.equal(row.Internal, 'true');
        assert.equal(row.IPv6, 'true');
        assert.deepEqual(row.Labels.split(',').sort(), ['team=blue', 'tier=db']);
        assert.equal(rows.find((x) => x.Name === 'bridge')?.Internal, 'false');
      });

      void test('a network created through docker is seen by berth, and one created by berth is seen by docker', T, async () => {
        assert.ok((await berthNames()).includes(`${p}-full`), 'berth network ls lists the docker-made network');
        const r = await h.berthOk(['network', 'create', '--subnet', `${net(2)}.0/24`, `${p}-cli`]);
        const id = r.stdout.trim();
        assert.match(id, /^[0-9a-f]{64}$/);
        assert.ok((await lsJson()).some((x) => x.Name === `${p}-cli` && x.ID === id.slice(0, 12)), 'docker network ls lists the berth-made network');
        const n = await dockerNet(`${p}-cli`);
        assert.equal(n.Id, id);
        assert.deepEqual(n.IPAM.Config, [{ Subnet: `${net(2)}.0/24`, Gateway: `${net(2)}.1` }]);
      });

      void test('network connect / disconnect a container started with berth run -d', T, async () => {
        const name = `${p}-cli`;
        await dkOk(['network', 'connect', '--ip', `${net(2)}.50`, '--alias', 'web', name, ctr]);
        const i = await inspect(h, ctr);
        const ep = i.NetworkSettings.Networks[name] as (typeof i.NetworkSettings.Networks)[string] & { Aliases: string[] | null };
        assert.ok(ep, `berth inspect ${ctr} shows the network: ${JSON.stringify(Object.keys(i.NetworkSettings.Networks))}`);
        assert.equal(ep.IPAddress, `${net(2)}.50`);
        assert.ok(ep.Aliases?.includes('web'), `alias web: ${JSON.stringify(ep.Aliases)}`);
        assert.ok(i.NetworkSettings.Networks.bridge, 'still on the default network');

        const n = await dockerNet(name);
        assert.deepEqual(Object.keys(n.Containers), [ctrId], 'docker network inspect lists the container by id');
        assert.equal(n.Containers[ctrId]?.Name, ctr);
        assert.equal(n.Containers[ctrId]?.IPv4Address, `${net(2)}.50/24`);

        // the kernel: an interface in the container with that address, and the gateway answers
        const ns = `/proc/${i.State.Pid}/ns/net`;
        const iface = (await addrs(ns)).find((a) => a.addr_info.some((x) => x.local === `${net(2)}.50`));
        assert.ok(iface, `an interface in ${ctr} holds ${net(2)}.50`);
        assert.equal(await pingFrom(ns, `${net(2)}.1`), true, `${ctr} reaches the gateway of ${name}`);

        const again = await dk(['network', 'connect', name, ctr]);
        assert.notEqual(again.code, 0, 'connecting twice fails');
        assert.match(again.stderr, /already connected/);

        await dkOk(['network', 'disconnect', name, ctr]);
        const j = await apiCtr();
        assert.equal(j.NetworkSettings.Networks[name], undefined, `${ctr} left ${name}`);
        assert.deepEqual((await dockerNet(name)).Containers, {});
        assert.equal(
          (await addrs(ns)).some((a) => a.addr_info.some((x) => x.local === `${net(2)}.50`)),
          false,
          `no interface in ${ctr} holds ${net(2)}.50 any more`,
        );
        const twice = await dk(['network', 'disconnect', name, ctr]);
        assert.notEqual(twice.code, 0, 'disconnecting twice fails');
        assert.match(twice.stderr, /not connected/);
      });

      void test('network rm and network prune -f', T, async () => {
        const full = await dockerNet(`${p}-full`);
        const br = full.Options['com.docker.network.bridge.name'] as string;
        const rm = await dkOk(['network', 'rm', `${p}-full`]);
        assert.equal(rm.stdout.trim(), `${p}-full`, 'docker network rm prints the name');
        assert.ok(!(await apiNames()).includes(`${p}-full`), 'the network is gone');
        assert.equal(await link(h, br), undefined, `bridge ${br} is gone`);

        // two unused networks and one in use
        await dkOk(['network', 'create', `${p}-spare1`]);
        await dkOk(['network', 'create', '--subnet', `${net(3)}.0/24`, `${p}-spare2`]);
        await dkOk(['network', 'connect', `${p}-cli`, ctr]);
        const pr = await dkOk(['network', 'prune', '-f']);
        const lines = pr.stdout.split('\n').map((l) => l.trim()).filter(Boolean);
        assert.equal(lines[0], 'Deleted Networks:', pr.stdout);
        assert.ok(lines.includes(`${p}-spare1`) && lines.includes(`${p}-spare2`), `prune names both unused networks: ${pr.stdout}`);
        assert.ok(!lines.includes(`${p}-cli`) && !lines.includes('bridge'), `prune keeps networks in use and the default one: ${pr.stdout}`);
        const names = await berthNames();
        assert.ok(!names.includes(`${p}-spare1`) && !names.includes(`${p}-spare2`), `berth network ls: ${names.join(' ')}`);
        assert.ok(names.includes(`${p}-cli`) && names.includes('bridge'), `berth network ls: ${names.join(' ')}`);

        // rm by id prefix once it is free
        await dkOk(['network', 'disconnect', `${p}-cli`, ctr]);
        const id = (await dockerNet(`${p}-cli`)).Id;
        await dkOk(['network', 'rm', id.slice(0, 12)]);
        assert.ok(!(await apiNames()).includes(`${p}-cli`));
      });

      void test('refusals: rm bridge, duplicate create, inspect/rm of a missing network, rm in use, bad subnet, unknown container', T, async () => {
        const before = await apiNames();
        const rmBridge = await dk(['network', 'rm', 'bridge']);
        assert.notEqual(rmBridge.code, 0, 'docker network rm bridge fails');
        assert.match(rmBridge.stderr, /"bridge" is a pre-defined network and cannot be removed/);

        await dkOk(['network', 'create', `${p}-dup`]);
        const dup = await dk(['network', 'create', `${p}-dup`]);
        assert.notEqual(dup.code, 0, 'a second docker network create of the same name fails');
        assert.match(dup.stderr, new RegExp(`network with name ${p}-dup already exists`));

        const missing = await dk(['network', 'inspect', `${p}-missing`]);
        assert.notEqual(missing.code, 0, 'docker network inspect of a missing network fails');
        assert.match(missing.stderr, new RegExp(`${p}-missing`), 'the message names it');
        assert.match(missing.stderr, /not found|No such network/i);
        const rmMissing = await dk(['network', 'rm', `${p}-missing`]);
        assert.notEqual(rmMissing.code, 0, 'docker network rm of a missing network fails');
        assert.match(rmMissing.stderr, new RegExp(`${p}-missing`));

        await dkOk(['network', 'connect', `${p}-dup`, ctr]);
        const inUse = await dk(['network', 'rm', `${p}-dup`]);
        assert.notEqual(inUse.code, 0, 'docker network rm of a network in use fails');
        assert.match(inUse.stderr, /active endpoints/);
        await dkOk(['network', 'disconnect', `${p}-dup`, ctr]);

        const bad = await dk(['network', 'create', '--subnet', '10.0.0.0/33', `${p}-bad`]);
        assert.notEqual(bad.code, 0, 'docker network create --subnet 10.0.0.0/33 fails');
        assert.match(bad.stderr, /10\.0\.0\.0\/33/, 'the message names the bad subnet');

        const noCtr = await dk(['network', 'connect', `${p}-dup`, `${p}-no-such-ctr`]);
        assert.notEqual(noCtr.code, 0, 'connecting a missing container fails');
        assert.match(noCtr.stderr, /no such container/i);

        await dkOk(['network', 'rm', `${p}-dup`]);
        assert.deepEqual(await apiNames(), before, 'the refusals changed nothing');
      });
    });
  }
});
