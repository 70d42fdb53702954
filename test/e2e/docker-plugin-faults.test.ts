// End to end, faults around berth's Docker plugin (issue 14): the berth daemon restarted while
// Docker's containers run (traffic carries on, nothing is re-created, later calls are answered);
// dockerd restarted with containers running (the replayed calls leave exactly one endpoint per
// container, no leftovers); `docker rm -f` while berth was down (the next `system check --repair`
// finds and removes what was left); dockerd killed with -9 and started again, without and with
// --live-restore (containers keep their network; nothing duplicated or leaked); --ip-range with
// berth's IPAM. One lab for the file, with a real dockerd.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { stopDaemon } from './daemon-helpers.js';
import { dockerCmd, dockerEndpointLinks, dockerMissing, dockerOk, httpGet, killDockerd, pluginLab, startDockerd, type PluginLab } from './docker-plugin-helpers.js';

const T = { timeout: 180_000 };
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

interface BerthNet {
  Containers: Record<string, { EndpointID: string; IPv4Address: string }>;
}

void describe('berth as Docker network driver: restarts and leftovers', { skip: dockerMissing() }, () => {
  let P: PluginLab;
  let netName = '';

  /** web answers from another container on fn */
  const webAnswers = async () => assert.match(await dockerOk(P.d, ['run', '--rm', '--network', 'fn', P.img, ...httpGet('10.41.0.10', 80)]), /^hello-web$/m);
  const waitRunning = async (name: string) => {
    const end = Date.now() + 30_000;
    while ((await dockerCmd(P.d, ['inspect', '-f', '{{.State.Running}}', name])).stdout.trim() !== 'true') {
      assert.ok(Date.now() < end, `${name} did not come back after dockerd started again: ${(await dockerCmd(P.d, ['inspect', '-f', '{{json .State}}', name])).stdout}\n${P.d.proc.stderr().slice(-3000)}`);
      await sleep(200);
    }
  };
  /** no endpoint of berth's is left unjoined (a placeholder container id), and system check finds nothing of Docker's */
  const nothingLeft = async () => {
    const check = await P.L.h.berth(['system', 'check']);
    assert.doesNotMatch(check.stdout + check.stderr, /Docker endpoint/, `system check:\n${check.stdout}${check.stderr}`);
    const inspect = await P.L.h.berthOk(['network', 'inspect', netName, '--format', 'json']);
    assert.doesNotMatch(inspect.stdout, /docker-unjoined-/);
  };

  const endpoints = async () => Object.values((await P.L.h.berthJson<BerthNet[]>(['network', 'inspect', netName, '--format', 'json']))[0]?.Containers ?? {});

  before(async () => {
    P = await pluginLab('docker-faults');
    await dockerOk(P.d, ['network', 'create', '-d', P.driver, '--subnet', '10.41.0.0/24', 'fn']);
    netName = `docker-${(await dockerOk(P.d, ['network', 'inspect', '-f', '{{.Id}}', 'fn'])).slice(0, 12)}`;
    await dockerOk(P.d, ['run', '-d', '--restart', 'always', '--name', 'web', '--network', 'fn', '--ip', '10.41.0.10', P.img, 'sh', '-c', 'echo hello-web > /tmp/index.html; exec httpd -f -p 80 -h /tmp']);
  });
  after(() => P?.close());

  test('berth daemon restarted while Docker\'s containers run: traffic carries on, nothing is re-created', T, async () => {
    await dockerOk(P.d, ['run', '-d', '--name', 'pinger', '--network', 'fn', P.img, 'ping', '-i', '0.2', '10.41.0.10']);
    await sleep(1000);
    const linksBefore = await dockerEndpointLinks(P.L.h);
    const epsBefore = (await endpoints()).map((e) => e.EndpointID).sort();
    assert.equal(epsBefore.length, 2);
    await stopDaemon(P.berthd);
    const seqAtStop = lastSeq((await dockerCmd(P.d, ['logs', 'pinger'])).stdout);
    await sleep(1500);
    await P.startBerth();
    await sleep(1500);
    const log = (await dockerCmd(P.d, ['logs', 'pinger'])).stdout;
    const seqs = [...log.matchAll(/seq=(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(lastSeq(log) >= seqAtStop + 10, `pings went on through the restart (seq ${seqAtStop} at stop, ${lastSeq(log)} now)`);
    const missingSeqs = seqs.length ? lastSeq(log) + 1 - new Set(seqs).size : 0;
    assert.ok(missingSeqs <= 1, `at most one ping lost (in flight at a sample), got ${missingSeqs} of ${seqs.length}:\n${log.slice(-600)}`);
    assert.deepEqual(await dockerEndpointLinks(P.L.h), linksBefore, 'the same veths (names and ifindexes): nothing re-created');
    assert.deepEqual((await endpoints()).map((e) => e.EndpointID).sort(), epsBefore);
    // calls after the restart are answered: the pinger's endpoint goes with it
    await dockerOk(P.d, ['rm', '-f', 'pinger']);
    assert.equal((await endpoints()).length, 1);
    assert.equal((await dockerEndpointLinks(P.L.h)).length, 1);
  });

  test('dockerd restarted with containers running: one endpoint per container again, nothing leaked or duplicated', T, async () => {
    await P.d.proc.kill(30_000);
    P.d = await startDockerd(P.L.h);
    // --restart always: dockerd starts web again, through CreateEndpoint/Join
    const end = Date.now() + 30_000;
    while ((await dockerCmd(P.d, ['inspect', '-f', '{{.State.Running}}', 'web'])).stdout.trim() !== 'true') {
      assert.ok(Date.now() < end, 'web did not come back after dockerd restarted');
      await sleep(200);
    }
    const eps = await endpoints();
    assert.equal(eps.length, 1, `one endpoint for web: ${JSON.stringify(eps)}`);
    assert.equal(eps[0]?.IPv4Address, '10.41.0.10/24');
    const links = await dockerEndpointLinks(P.L.h);
    assert.equal(links.length, 1, `one veth on the host, no sandbox end left behind: ${JSON.stringify(links)}`);
    const got = await dockerOk(P.d, ['run', '--rm', '--network', 'fn', P.img, ...httpGet('10.41.0.10', 80)]);
    assert.match(got, /^hello-web$/m);
  });

  test('system check sees Docker\'s endpoints: a veth taken off its bridge is reported, and put back by --repair', T, async () => {
    const veth = (await dockerEndpointLinks(P.L.h)).find((l) => l.name.startsWith('veth'));
    if (!veth) return assert.fail('web\'s veth is on the host');
    await P.L.h.execOk(['ip', 'link', 'set', veth.name, 'nomaster']);
    const check = await P.L.h.berth(['system', 'check']);
    assert.match(check.stdout + check.stderr, new RegExp(`Docker endpoint bth[0-9a-f]{12}.*${veth.name} is not on bridge`), `system check:\n${check.stdout}${check.stderr}`);
    await P.L.h.berthOk(['system', 'check', '--repair']);
    assert.doesNotMatch((await P.L.h.berth(['system', 'check'])).stdout, /Docker endpoint/);
    const got = await dockerOk(P.d, ['run', '--rm', '--network', 'fn', P.img, ...httpGet('10.41.0.10', 80)]);
    assert.match(got, /^hello-web$/m);
  });

  test('docker rm -f while berth was down: system check --repair finds and removes the leftovers', T, async () => {
    await dockerOk(P.d, ['run', '-d', '--name', 'gone', '--network', 'fn', P.img, 'sleep', '300']);
    assert.equal((await endpoints()).length, 2);
    await stopDaemon(P.berthd);
    P.berthd = undefined;
    // dockerd cannot reach the plugin: it removes the container anyway (or says why)
    const rm = await dockerCmd(P.d, ['rm', '-f', 'gone']);
    if (rm.code !== 0) await dockerCmd(P.d, ['rm', '-f', 'gone']);
    assert.equal((await dockerCmd(P.d, ['ps', '-aq', '-f', 'name=gone'])).stdout.trim(), '', 'docker removed the container');
    const check = await P.L.h.berth(['system', 'check']);
    assert.match(check.stdout + check.stderr, /Docker endpoint bth[0-9a-f]{12}/, `system check reports the leftover:\n${check.stdout}${check.stderr}`);
    await P.L.h.berthOk(['system', 'check', '--repair']);
    assert.equal((await endpoints()).length, 1, 'only web\'s endpoint is left');
    assert.equal((await dockerEndpointLinks(P.L.h)).length, 1, 'only web\'s veth is left');
    const again = await P.L.h.berth(['system', 'check']);
    assert.doesNotMatch(again.stdout + again.stderr, /Docker endpoint/);
    await P.startBerth();
    const got = await dockerOk(P.d, ['run', '--rm', '--network', 'fn', P.img, ...httpGet('10.41.0.10', 80)]);
    assert.match(got, /^hello-web$/m);
  });

  test('--ip-range with berth\'s IPAM: addresses come from the range; berth\'s network has it', T, async () => {
    const { driver } = P;
    await dockerOk(P.d, ['network', 'create', '-d', driver, '--ipam-driver', driver, '--subnet', '10.43.0.0/24', '--ip-range', '10.43.0.128/28', 'rn']);
    const id = await dockerOk(P.d, ['network', 'inspect', '-f', '{{.Id}}', 'rn']);
    const net = (await P.L.h.berthJson<{ IPAM: { Config: { Subnet: string; IPRange?: string }[] } }[]>(['network', 'inspect', `docker-${id.slice(0, 12)}`, '--format', 'json']))[0];
    assert.deepEqual(net?.IPAM.Config.map((c) => [c.Subnet, c.IPRange]), [['10.43.0.0/24', '10.43.0.128/28']]);
    const addrs = [];
    for (const n of [1, 2]) {
      const out = await dockerOk(P.d, ['run', '--rm', '--network', 'rn', P.img, 'sh', '-c', `ip -o -4 addr show eth0; echo run ${n}`]);
      addrs.push(/inet (10\.43\.0\.\d+)\/24/.exec(out)?.[1] ?? out);
    }
    for (const a of addrs) assert.match(a, /^10\.43\.0\.(12[89]|13\d|14[0-3])$/, `${a} is in 10.43.0.128/28`);
    // outside the range, asked for: Docker's own rule (--ip may be anywhere in the subnet)
    assert.match(await dockerOk(P.d, ['run', '--rm', '--network', 'rn', '--ip', '10.43.0.20', P.img, 'ip', '-o', '-4', 'addr', 'show', 'eth0']), /inet 10\.43\.0\.20\/24/);
    const bad = await dockerCmd(P.d, ['network', 'create', '-d', driver, '--ipam-driver', driver, '--subnet', '10.44.0.0/24', '--ip-range', '10.45.0.0/28', 'rn2']);
    assert.notEqual(bad.code, 0);
    // dockerd checks this one itself before it asks the plugin (berth's RequestPool refuses it too)
    assert.match(bad.stderr, /10\.45\.0\.0\/28/);
    await dockerOk(P.d, ['network', 'rm', 'rn']);
  });

  test('dockerd killed with -9 and started again: web comes back on its network, nothing leaked or duplicated', T, async () => {
    await killDockerd(P.d);
    P.d = await startDockerd(P.L.h);
    await waitRunning('web');
    const eps = await endpoints();
    assert.equal(eps.length, 1, `one endpoint for web: ${JSON.stringify(eps)}`);
    assert.equal(eps[0]?.IPv4Address, '10.41.0.10/24');
    assert.equal((await dockerEndpointLinks(P.L.h)).length, 1, 'one veth on the host');
    await webAnswers();
    await nothingLeft();
  });

  test('--live-restore: dockerd killed with -9 and started again; containers keep their network (pings go on), nothing re-created', T, async () => {
    // dockerd with --live-restore from here on (web is started again by its restart policy)
    await killDockerd(P.d);
    P.d = await startDockerd(P.L.h, 'dockerd', { liveRestore: true });
    await waitRunning('web');
    await dockerOk(P.d, ['run', '-d', '--name', 'pinger2', '--network', 'fn', P.img, 'ping', '-i', '0.2', '10.41.0.10']);
    await sleep(1000);
    const linksBefore = await dockerEndpointLinks(P.L.h);
    const epsBefore = (await endpoints()).map((e) => e.EndpointID).sort();
    assert.equal(epsBefore.length, 2);
    const seqAtKill = lastSeq((await dockerCmd(P.d, ['logs', 'pinger2'])).stdout);
    await killDockerd(P.d);
    await sleep(1500);
    P.d = await startDockerd(P.L.h, 'dockerd', { liveRestore: true });
    await sleep(1000);
    const log = (await dockerCmd(P.d, ['logs', 'pinger2'])).stdout;
    assert.ok(lastSeq(log) >= seqAtKill + 10, `pings went on while dockerd was down (seq ${seqAtKill} at the kill, ${lastSeq(log)} now)`);
    const seqs = [...log.matchAll(/seq=(\d+)/g)].map((m) => Number(m[1]));
    assert.ok(lastSeq(log) + 1 - new Set(seqs).size <= 1, `at most one ping lost:\n${log.slice(-600)}`);
    assert.deepEqual(await dockerEndpointLinks(P.L.h), linksBefore, 'the same veths (names and ifindexes): nothing re-created');
    assert.deepEqual((await endpoints()).map((e) => e.EndpointID).sort(), epsBefore, 'the same endpoints, none added');
    await webAnswers();
    await dockerOk(P.d, ['rm', '-f', 'pinger2']);
    assert.equal((await endpoints()).length, 1);
    assert.equal((await dockerEndpointLinks(P.L.h)).length, 1);
    await nothingLeft();
  });
});

function lastSeq(log: string): number {
  return Math.max(-1, ...[...log.matchAll(/seq=(\d+)/g)].map((m) => Number(m[1])));
}
