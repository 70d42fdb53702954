// Tests of the lab harness itself (test/lab): topologies, exec, background processes, cleanup,
// sweeping what crashed runs leave, and the root-namespace snapshot.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { readlink, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  BERTH_BIN,
  LAB_ENV_MARKER,
  Lab,
  REPO_ROOT,
  addressesOf,
  diffSnapshots,
  fdb,
  links,
  nftRuleset,
  routes,
  run,
  runIn,
  snapshotRootNamespace,
  sweepLabs,
  sysctl,
  withLab,
} from '../lab/index.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function netnsList(): Promise<string[]> {
  const r = await run(['ip', '-j', 'netns', 'list'], { check: true });
  const t = r.stdout.trim();
  return t ? (JSON.parse(t) as { name: string }[]).map((n) => n.name) : [];
}

function startTime(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return rest[0] === 'Z' ? undefined : rest[19];
  } catch {
    return undefined;
  }
}

/** True while pid still names the process that had start time `start`. */
const alive = (pid: number, start: string | undefined): boolean => start !== undefined && startTime(pid) === start;

async function waitGone(pid: number, start: string | undefined, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (!alive(pid, start)) return true;
    await sleep(50);
  }
  return !alive(pid, start);
}

void test('two hosts and an external peer on one switch reach each other', async () => {
  await withLab(
    async (lab) => {
      const sw = await lab.createSwitch('under');
      const h1 = await lab.createHost('h1');
      const h2 = await lab.createHost('h2');
      const ext = await lab.createExternal('inet');
      await sw.plug(h1, { ifname: 'eth0', address: ['10.99.0.1/24', 'fd99::1/64'] });
      await sw.plug(h2, { ifname: 'eth0', address: ['10.99.0.2/24', 'fd99::2/64'], gateway: '10.99.0.100' });
      await sw.plug(ext, { ifname: 'eth0', address: ['10.99.0.100/24', 'fd99::100/64'], mtu: 1400 });

      assert.match(h1.nsName, /^bt[0-9a-f]{4}-h1$/);
      assert.equal(h1.nsName, lab.nsName('h1'));
      assert.equal(h1.netnsPath, `/run/netns/${h1.nsName}`);
      assert.equal(h1.ipv4(), '10.99.0.1');
      assert.equal(ext.ipv6('eth0'), 'fd99::100');

      assert.equal(await h1.ping(h2.ipv4()), true, 'h1 -> h2 (IPv4)');
      assert.equal(await h2.ping(ext.ipv4(), { count: 2 }), true, 'h2 -> external (IPv4)');
      assert.equal(await ext.ping(h1.ipv6(), { timeout: 3 }), true, 'external -> h1 (IPv6)');
      assert.equal(await h1.ping('10.99.0.77', { timeout: 1 }), false, 'nobody has 10.99.0.77');
      assert.equal(await h1.ping('10.98.0.1', { timeout: 1 }), false, 'no route to 10.98.0.0/16 in h1');

      // The query helpers see what the harness built.
      const eth0 = (await links(h1)).find((l) => l.ifname === 'eth0');
      assert.ok(eth0, 'h1 has eth0');
      assert.equal(eth0.linkinfo?.info_kind, 'veth');
      assert.ok(eth0.flags.includes('UP'));
      assert.deepEqual((await addressesOf(h1, 'eth0', 4)), ['10.99.0.1/24']);
      assert.ok((await addressesOf(h1, 'eth0', 6)).includes('fd99::1/64'));
      assert.equal((await links(ext)).find((l) => l.ifname === 'eth0')?.mtu, 1400);
      assert.ok((await routes(h1)).some((r) => r.dst === '10.99.0.0/24' && r.dev === 'eth0'));
      assert.ok((await routes(h2)).some((r) => r.dst === 'default' && r.gateway === '10.99.0.100'));
      assert.ok((await routes(h1, 6)).some((r) => r.dst === 'fd99::/64'));
      const ports = (await links(sw.underlay)).filter((l) => l.master === sw.bridge);
      assert.equal(ports.length, 3, 'three ports on the switch bridge');
      assert.ok(ports.some((p) => p.ifalias === 'h1:eth0'));
      const macs = (await fdb(sw.underlay, { br: sw.bridge })).map((e) => e.mac);
      assert.ok(macs.includes(String(eth0.address)), 'the switch learned h1 eth0 MAC');
      assert.equal(await sysctl(h1, 'net.ipv4.ip_forward'), '0');
      assert.equal(await sysctl(h1, 'net/ipv4/conf/eth0/forwarding'), '0');
      assert.deepEqual(
        (await nftRuleset(h1)).nftables.filter((o) => !('metainfo' in o)),
        [],
        'a fresh host has an empty ruleset',
      );
    },
    { label: 'lab.test topology' },
  );
});

void test('exec runs inside the host namespace with the host berth environment', async () => {
  await withLab(async (lab) => {
    const h = await lab.createHost('h1');
    const inside = await h.execOk(['readlink', '/proc/self/ns/net']);
    assert.equal(inside.stdout.trim(), `net:[${(await stat(h.netnsPath)).ino}]`);
    assert.notEqual(inside.stdout.trim(), await readlink('/proc/self/ns/net'), 'not the root namespace');

    const env = await h.execOk([process.execPath, '-e', 'console.log(JSON.stringify(process.env))']);
    const e = JSON.parse(env.stdout) as Record<string, string>;
    assert.equal(e.BERTH_ROOT, join(lab.dir, 'h1', 'root'));
    assert.equal(e.BERTH_RUN, join(lab.dir, 'h1', 'run'));
    assert.equal(e[LAB_ENV_MARKER], lab.tag);
    assert.deepEqual(h.env, { BERTH_ROOT: e.BERTH_ROOT, BERTH_RUN: e.BERTH_RUN });
    assert.ok(existsSync(h.env.BERTH_ROOT) && existsSync(h.env.BERTH_RUN));

    // berth is this repository's bin/berth, found from the compiled file's location.
    assert.equal(BERTH_BIN, join(REPO_ROOT, 'bin', 'berth'));
    assert.ok(existsSync(BERTH_BIN));
    assert.equal(REPO_ROOT, fileURLToPath(new URL('../../..', import.meta.url)).replace(/\/$/, ''));
    assert.deepEqual(h.berthArgv(['ps', '-q']), [process.execPath, BERTH_BIN, 'ps', '-q']);

    // Failures carry argv and stderr; timeouts kill and throw.
    const bad = await h.exec(['ip', 'link', 'show', 'nosuchdev0']);
    assert.notEqual(bad.code, 0);
    await assert.rejects(h.execOk(['ip', 'link', 'show', 'nosuchdev0']), (err: Error) => {
      assert.match(err.message, /exit status 1: nsenter --net=\/run\/netns\/bt[0-9a-f]{4}-h1 -- ip link show nosuchdev0/);
      assert.match(err.message, /stderr: .*nosuchdev0/);
      return true;
    });
    await assert.rejects(h.exec(['sleep', '5'], { timeoutMs: 200 }), /timed out after 200 ms \(killed\): nsenter/);
    // A command whose background child keeps its stdout open is reported as such (the child,
    // inside the lab namespace, is killed at close).
    await assert.rejects(
      // 5 s: the timeout counts from the spawn, and Node's own start took over 500 ms at load 13
      h.exec([process.execPath, '-e', "require('child_process').spawn('sleep', ['30'], { detached: true, stdio: 'inherit' }).unref()"], {
        timeoutMs: 5000,
      }),
      /exited \(exit status 0\) but its stdout\/stderr stayed open for 5000 ms/,
    );
    const echoed = await h.execOk(['cat'], { input: 'hello' });
    assert.equal(echoed.stdout, 'hello');
  });
});

void test('the harness refuses to run anything in the root namespace', async () => {
  await assert.rejects(runIn('/proc/self/ns/net', ['true']), /root\) network namespace/);
  await assert.rejects(runIn(`/proc/${process.ppid}/ns/net`, ['true']), /root\) network namespace/);
  await assert.rejects(runIn('bad name', ['true']), /invalid netns name/);
});

void test('close kills background processes and anything left inside, and removes everything', async () => {
  const lab = await Lab.create({ label: 'lab.test close' });
  let names: string[] = [];
  let pids: { pid: number; start: string | undefined; what: string }[] = [];
  const dir = lab.dir;
  try {
    const sw = await lab.createSwitch('net');
    const h = await lab.createHost('h1');
    const ext = await lab.createExternal('peer');
    await sw.plug(h, { ifname: 'eth0', address: '10.99.1.1/24' });
    await sw.plug(ext, { ifname: 'eth0', address: '10.99.1.2/24' });
    names = [h.nsName, ext.nsName, lab.nsName('lab')];

    // Tracked: started through the harness.
    const tracked = await h.spawn(['sleep', '1000']);
    const server = await ext.spawn([process.execPath, '-e', 'console.log("ready"); setInterval(() => {}, 1000)']);
    assert.equal(await server.waitForOutput('ready'), 'ready');
    assert.equal(server.running, true);
    // Untracked: an orphan left in the host namespace, as a detached berth helper would be.
    const orphan = await h.execOk([
      process.execPath,
      '-e',
      "const c = require('child_process').spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' }); c.unref(); console.log(c.pid)",
    ]);
    const orphanPid = Number(orphan.stdout.trim());
    // A "container": a process in its own netns, bind-mounted under BERTH_RUN as berth does.
    const nsFile = join(h.runDir, 'netns-c1');
    await writeFile(nsFile, '');
    const container = await h.execOk([
      process.execPath,
      '-e',
      `const c = require('child_process').spawn('unshare', ['--net=${nsFile}', 'sleep', '1000'], { detached: true, stdio: 'ignore' }); c.unref(); console.log(c.pid)`,
    ]);
    const containerPid = Number(container.stdout.trim());
    const deadline = Date.now() + 5000;
    while (!readFileSync('/proc/self/mountinfo', 'utf8').includes(nsFile) && Date.now() < deadline) await sleep(50);
    assert.ok(readFileSync('/proc/self/mountinfo', 'utf8').includes(nsFile), 'container netns is bind-mounted');

    pids = [
      { pid: tracked.pid, start: startTime(tracked.pid), what: 'tracked sleep' },
      { pid: server.pid, start: startTime(server.pid), what: 'tracked node' },
      { pid: orphanPid, start: startTime(orphanPid), what: 'orphan in host netns' },
      { pid: containerPid, start: startTime(containerPid), what: 'process in container netns' },
    ];
    for (const p of pids) assert.ok(alive(p.pid, p.start), `${p.what} (${p.pid}) is running`);
    const present = await netnsList();
    for (const n of names) assert.ok(present.includes(n), `${n} exists`);
  } finally {
    await lab.close();
  }
  for (const p of pids) assert.ok(await waitGone(p.pid, p.start), `${p.what} (${p.pid}) was killed`);
  const after = await netnsList();
  for (const n of names) assert.ok(!after.includes(n), `${n} deleted`);
  assert.equal(existsSync(dir), false, `${dir} removed`);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), 'nothing mounted under the lab dir');
  await lab.close(); // idempotent
});

void test('close is safe after a partial or failed setup', async () => {
  const lab = await Lab.create();
  const dir = lab.dir;
  try {
    const h = await lab.createHost('h1');
    await assert.rejects(lab.createHost('h1'), /already has a node named "h1"/);
    await assert.rejects(lab.createHost('Bad_Name'), /invalid host name/);
    await assert.rejects(lab.createExternal('lab'), /reserved/);
    await assert.rejects(lab.createSwitch('a-very-long-switch-name'), /invalid switch name/);
    const sw = await lab.createSwitch('s');
    await assert.rejects(sw.plug(h, { ifname: 'eth0', address: '10.1.2.3' }), /invalid address/);
    await assert.rejects(sw.plug(h, { ifname: 'an-interface-name-too-long' }), /invalid interface name/);
    // A plug that fails in the kernel (duplicate name) leaves the lab closable.
    await sw.plug(h, { ifname: 'eth0' });
    await assert.rejects(sw.plug(h, { ifname: 'eth0' }), /exit status/);
  } finally {
    await Promise.all([lab.close(), lab.close()]);
  }
  await lab.close();
  assert.equal(existsSync(dir), false);
  assert.equal((await netnsList()).some((n) => n.startsWith(`bt${lab.tag}-`)), false);
  await assert.rejects(lab.createHost('h2'), /is closed/);
});

/** Start a separate node process that builds a lab and then is SIGKILLed: a crashed run. */
async function crashedRun(): Promise<{ tag: string; dir: string; ns: string; sleeper: number; sleeperStart: string | undefined; containerPid: number }> {
  const index = new URL('../lab/index.js', import.meta.url).href;
  const code = `
    const { Lab } = await import(process.argv[1]);
    const { writeFileSync } = await import('node:fs');
    const lab = await Lab.create({ label: 'simulated crash' });
    const h = await lab.createHost('victim');
    const p = await h.spawn(['sleep', '1000']);
    const nsFile = h.runDir + '/netns-c1';
    writeFileSync(nsFile, '');
    const c = await h.execOk([process.execPath, '-e',
      "const c = require('child_process').spawn('unshare', ['--net=" + nsFile + "', 'sleep', '1000'], { detached: true, stdio: 'ignore' }); c.unref(); console.log(c.pid)"]);
    console.log(JSON.stringify({ tag: lab.tag, dir: lab.dir, ns: h.nsName, sleeper: p.pid, containerPid: Number(c.stdout.trim()) }));
    setInterval(() => {}, 1000);
  `;
  const env = { ...process.env };
  delete env.NODE_TEST_CONTEXT;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code, index], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr.on('data', (c: Buffer) => (err += c.toString()));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`crash child did not report in time; stderr: ${err}`)), 20_000);
      child.stdout.on('data', (c: Buffer) => {
        out += c.toString();
        const nl = out.indexOf('\n');
        if (nl >= 0) {
          clearTimeout(timer);
          resolve(out.slice(0, nl));
        }
      });
      child.on('exit', (code) => reject(new Error(`crash child exited early (${code}); stderr: ${err}`)));
    });
    const info = JSON.parse(line) as { tag: string; dir: string; ns: string; sleeper: number; containerPid: number };
    return { ...info, sleeperStart: startTime(info.sleeper) };
  } finally {
    // The "crash": no finally blocks, no exit handlers run in the child.
    const exited = new Promise((r) => child.once('close', r));
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  }
}

void test('sweepLabs removes what a crashed run left and spares live labs', async () => {
  const live = await Lab.create({ label: 'lab.test live lab' });
  let crashed: Awaited<ReturnType<typeof crashedRun>> | undefined;
  try {
    const liveHost = await live.createHost('alive');
    crashed = await crashedRun();
    const containerStart = startTime(crashed.containerPid);
    assert.ok((await netnsList()).includes(crashed.ns), 'the crashed run left its netns');
    assert.ok(existsSync(crashed.dir), 'and its temp dir');
    assert.ok(alive(crashed.sleeper, crashed.sleeperStart), 'and a process inside it');

    const dry = await sweepLabs({ tags: [crashed.tag, live.tag], dryRun: true });
    assert.deepEqual(dry.removedNetns, [crashed.ns]);
    assert.ok(dry.killed.some((k) => k.pid === crashed?.sleeper));
    assert.ok(existsSync(crashed.dir), 'dry run removes nothing');

    const report = await sweepLabs({ tags: [crashed.tag, live.tag] });
    assert.deepEqual(report.errors, []);
    assert.deepEqual(report.removedNetns, [crashed.ns]);
    assert.deepEqual(report.removedDirs, [crashed.dir]);
    assert.ok(report.skipped.some((s) => s.what.includes(liveHost.nsName) && /running process/.test(s.reason)));
    assert.ok(await waitGone(crashed.sleeper, crashed.sleeperStart), 'process in the crashed host netns killed');
    assert.ok(await waitGone(crashed.containerPid, containerStart), 'process in the crashed container netns killed');
    assert.ok(!(await netnsList()).includes(crashed.ns));
    assert.equal(existsSync(crashed.dir), false);
    assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(crashed.dir));

    // The live lab is untouched.
    assert.ok((await netnsList()).includes(liveHost.nsName));
    assert.equal((await liveHost.execOk(['true'])).code, 0);
  } finally {
    await live.close();
    if (crashed) await sweepLabs({ tags: [crashed.tag] });
  }
});

void test('sweepLabs leaves bt namespaces without an owner record unless asked', async () => {
  // A namespace named like a lab's but made outside the harness (no temp dir, no owner).
  let tag = '';
  for (let i = 0; i < 100 && !tag; i++) {
    const t = Math.floor(Math.random() * 0x10000).toString(16).padStart(4, '0');
    if (!(await netnsList()).some((n) => n.startsWith(`bt${t}-`)) && !existsSync(`/tmp/berth-lab-${t}`)) tag = t;
  }
  const name = `bt${tag}-leak`;
  await run(['ip', 'netns', 'add', name], { check: true });
  try {
    const kept = await sweepLabs({ tags: [tag] });
    assert.deepEqual(kept.removedNetns, []);
    assert.ok(kept.skipped.some((s) => s.what === name && /no owner record/.test(s.reason)));
    assert.ok((await netnsList()).includes(name));

    const removed = await sweepLabs({ tags: [tag], includeUnowned: true });
    assert.deepEqual(removed.errors, []);
    assert.deepEqual(removed.removedNetns, [name]);
    assert.ok(!(await netnsList()).includes(name));
  } finally {
    if ((await netnsList()).includes(name)) await run(['ip', 'netns', 'delete', name]);
  }
});

void test('the root-namespace snapshot ignores labs and reports changes readably', async () => {
  const before = await snapshotRootNamespace();
  assert.ok(Object.keys(before.links).includes('lo'));
  assert.ok(before.routes.length > 0);
  await withLab(async (lab) => {
    const sw = await lab.createSwitch('s');
    const h = await lab.createHost('h1');
    await sw.plug(h, { ifname: 'eth0', address: '10.99.2.1/24' });
    const during = await snapshotRootNamespace();
    assert.deepEqual(diffSnapshots(before, during), [], 'labs do not change the root namespace');
  });
  const after = await snapshotRootNamespace();
  assert.deepEqual(diffSnapshots(before, after), []);

  // Synthetic changes (on copies, not on the machine) come out as readable lines.
  const changed = structuredClone(after);
  changed.links.berth0 = '{"kind":"bridge"}';
  changed.routes.push('inet {"dst":"172.17.0.0/16","dev":"berth0"}');
  changed.sysctls['net/ipv4/ip_forward'] = before.sysctls['net/ipv4/ip_forward'] === '1' ? '0' : '1';
  changed.netns.push('stray', 'bt0000-ignored');
  changed.nft.push('{"table":{"family":"inet","name":"berth"}}');
  const diff = diffSnapshots(before, changed);
  assert.deepEqual(diff.filter((l) => l.startsWith('link:')), ['link: + berth0 {"kind":"bridge"}']);
  assert.ok(diff.includes('route: + inet {"dst":"172.17.0.0/16","dev":"berth0"}'));
  assert.ok(diff.some((l) => l.startsWith('sysctl: ~ net/ipv4/ip_forward:')));
  assert.ok(diff.includes('netns: + stray'));
  assert.ok(!diff.some((l) => l.includes('bt0000-ignored')), 'suite namespaces are left to the leftover check');
  assert.ok(diff.includes('nft: + {"table":{"family":"inet","name":"berth"}}'));
});
