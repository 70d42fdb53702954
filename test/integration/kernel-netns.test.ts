// Namespaces persisted as bind mounts, entering them, and per-namespace sysctls.
import assert from 'node:assert/strict';
import { createSocket } from 'node:dgram';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import { addAddress } from '../../src/kernel/addresses.js';
import { getLink, setLinkUp } from '../../src/kernel/links.js';
import { createNetns, deleteNetns, deleteNetnsAsync, hostNetnsId, isNetnsPath, listNetns, netnsId, openNetns, openNetnsOfPid, withNetns } from '../../src/kernel/netns.js';
import { withRtnl } from '../../src/kernel/rtnl.js';
import { bindUdpInNetns } from '../../src/kernel/sockets.js';
import { readSysctl, sysctls, writeSysctl } from '../../src/kernel/sysctl.js';
import { Lab, links, sysctl, type Host } from '../lab/index.js';

describe('kernel: network namespaces and sysctls', () => {
  let lab: Lab;
  let host: Host;
  let dir: string;

  before(async () => {
    lab = await Lab.create();
    host = await lab.createHost('h');
    dir = join(host.runDir, 'netns');
  });
  after(async () => {
    await lab?.close();
  });

  it('creates a namespace persisted as a bind mount, lists it, and deletes it idempotently', async () => {
    const path = createNetns(dir, 'ctr1');
    assert.equal(path, join(dir, 'ctr1'));
    assert.ok(isNetnsPath(path));
    assert.deepEqual(listNetns(dir), ['ctr1']);
    assert.notEqual(netnsId(path), hostNetnsId(), 'a new namespace, not the host');
    // it is a real, empty namespace: only lo
    assert.deepEqual((await links(path)).map((l) => l.ifname), ['lo']);
    assert.throws(() => createNetns(dir, 'ctr1'), /already exists/);
    deleteNetns(path);
    deleteNetns(path);
    assert.equal(existsSync(path), false);
    assert.deepEqual(listNetns(dir), []);
    assert.deepEqual(listNetns(join(dir, 'nope')), []);
  });

  it('deletes many namespaces side by side off the event loop, idempotently', async () => {
    const paths = Array.from({ length: 16 }, (_, i) => createNetns(dir, `many${i}`));
    assert.equal(listNetns(dir).length, 16);
    await Promise.all(paths.map((p) => deleteNetnsAsync(p)));
    await Promise.all(paths.map((p) => deleteNetnsAsync(p))); // already gone: success
    assert.deepEqual(listNetns(dir), []);
    for (const p of paths) assert.equal(existsSync(p), false);
  });

  it('rejects bad names and paths that are not namespaces, naming them', () => {
    for (const bad of ['', '-x', 'a/b', 'x'.repeat(65)]) {
      assert.throws(() => createNetns(dir, bad), (e: Error) => e instanceof UserError && e.message.includes(`"${bad}"`));
    }
    assert.throws(() => openNetns('/nonexistent/ns'), (e: Error) => e instanceof UserError && /"\/nonexistent\/ns" does not exist/.test(e.message));
    const file = join(host.runDir, 'plain-file');
    writeFileSync(file, '');
    assert.throws(() => openNetns(file), /is not a network namespace/);
    assert.throws(() => withNetns(file, () => 1), /is not a network namespace/);
    assert.throws(() => openNetnsOfPid(-4), /invalid pid "-4"/);
  });

  it('opens a namespace by PID', () => {
    const h = openNetnsOfPid(process.pid);
    try {
      assert.equal(netnsId(h.fd), hostNetnsId());
    } finally {
      h.close();
    }
  });

  it('runs a function inside a namespace: a socket bound there uses its addresses', async () => {
    const path = createNetns(dir, 'sock');
    try {
      await withRtnl(path, async (nl) => {
        const lo = await getLink(nl, 'lo');
        await setLinkUp(nl, lo.index);
        await addAddress(nl, lo.index, '10.123.0.1/32');
      });
      // 10.123.0.1 exists only inside the namespace: binding it outside fails
      const bindTo = (sock: ReturnType<typeof createSocket>) =>
        new Promise<void>((resolve, reject) => {
          sock.once('error', reject);
          sock.bind(0, '10.123.0.1', () => resolve());
        });
      const outside = createSocket('udp4');
      await assert.rejects(bindTo(outside), /EADDRNOTAVAIL/);
      outside.close();
      const inside = await bindUdpInNetns(path, 'udp4', '10.123.0.1', 0);
      assert.equal(inside.address().address, '10.123.0.1');
      inside.close();
      assert.equal(netnsId('/proc/thread-self/ns/net'), hostNetnsId(), 'switched back afterwards');
      assert.throws(() => withNetns(path, () => Promise.resolve(1)), /must be synchronous/);
      assert.equal(netnsId('/proc/thread-self/ns/net'), hostNetnsId(), 'switched back after an error too');
    } finally {
      deleteNetns(path);
    }
  });

  it('reads and writes sysctls of one namespace only', async () => {
    const rootBefore = readSysctl(null, sysctls.ipForward);
    writeSysctl(host.netnsPath, sysctls.ipForward, '1');
    writeSysctl(host.netnsPath, sysctls.routeLocalnet('all'), '1');
    writeSysctl(host.netnsPath, sysctls.ipv6Forwarding, '1');
    assert.equal(await sysctl(host, 'net.ipv4.ip_forward'), '1');
    assert.equal(readSysctl(host.netnsPath, sysctls.routeLocalnet('all')), '1');
    assert.equal(readSysctl(host.netnsPath, sysctls.acceptRa('lo')), readSysctl(host.netnsPath, 'net.ipv6.conf.lo.accept_ra'));
    assert.equal(readSysctl(null, sysctls.ipForward), rootBefore, 'the machine itself is untouched');
    assert.throws(() => writeSysctl(host.netnsPath, 'kernel.hostname', 'x'), /only sets net\.\* keys/);
    assert.throws(() => readSysctl(host.netnsPath, 'net.ipv4/../../kernel'), UserError);
  });
});
