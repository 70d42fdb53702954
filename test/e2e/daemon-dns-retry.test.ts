// End to end, the daemon's DNS listeners when their address cannot be bound (issue 11, item
// 17: "dns <gateway>: bind EADDRNOTAVAIL … once a second forever"). Now each address is retried
// with backoff (1 s, doubling, at most 30 s) and each kind of error is logged once; a listener
// that comes up at last says so. Two real cases in a lab host: an isolated internal network
// (its gateway address is on no interface: EADDRNOTAVAIL for as long as it exists) and a
// gateway whose port 53 another process holds (EADDRINUSE until it lets go).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type BackgroundProcess, type Host, Lab } from '../lab/index.js';
import { type Daemon, startDaemon, stopDaemon, waitFor } from './daemon-helpers.js';
import { sleep } from './helpers.js';

const T = { timeout: 90_000 };

const linesAbout = (d: Daemon, address: string) => d.proc.stderr().split('\n').filter((l) => l.includes(`dns ${address}:`));

void describe('daemon DNS listeners: retried with backoff, logged once per kind', () => {
  let lab: Lab;
  let h: Host;
  let d: Daemon | undefined;
  let squatter: BackgroundProcess | undefined;

  before(async () => {
    lab = await Lab.create({ label: 'e2e daemon dns retry' });
    h = await lab.createHost('h');
  });
  after(async () => {
    await stopDaemon(d).catch(() => undefined);
    await squatter?.kill().catch(() => undefined);
    await lab?.close();
  });

  void test('an address that never comes (isolated network): one log line in 7 s, not one a second', T, async () => {
    d = await startDaemon(h);
    await h.berthOk(['network', 'create', '--internal', '-o', 'gateway_mode_ipv4=isolated', '--subnet', '10.62.0.0/24', 'iso']);
    await sleep(7000);
    const lines = linesAbout(d, '10.62.0.1');
    assert.equal(lines.length, 1, `one line about 10.62.0.1:\n${lines.join('\n')}`);
    assert.match(lines[0] ?? '', /EADDRNOTAVAIL.*logged once/);
  });

  void test('a port held by another process: logged once; when it lets go the listener starts and says so', T, async () => {
    await stopDaemon(d);
    d = undefined;
    await h.berthOk(['network', 'create', '--subnet', '10.63.0.0/24', 'sq']);
    const hold = "const s=require('dgram').createSocket('udp4');s.bind(53,'10.63.0.1',()=>console.log('bound'));";
    squatter = await h.spawn([process.execPath, '-e', hold]);
    await squatter.waitForOutput('bound');
    d = await startDaemon(h);
    await sleep(5000);
    const held = linesAbout(d, '10.63.0.1');
    assert.equal(held.length, 1, `one line while the port is held:\n${held.join('\n')}`);
    assert.match(held[0] ?? '', /EADDRINUSE/);
    await squatter.kill();
    squatter = undefined;
    const daemon = d;
    await waitFor(async () => linesAbout(daemon, '10.63.0.1').some((l) => /listening$/.test(l)), 30_000, () => `no "listening" line:\n${daemon.proc.stderr()}`, 200);
    const ss = await h.execOk(['ss', '-H', '-uln', 'src', '10.63.0.1:53']);
    assert.match(ss.stdout, /10\.63\.0\.1:53/, 'the daemon now listens on 10.63.0.1:53');
    assert.equal(linesAbout(daemon, '10.62.0.1').length, 1, 'the isolated network: still one line');
  });
});
