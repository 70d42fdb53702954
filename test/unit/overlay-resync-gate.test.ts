// The overlay agent's gate between local endpoint changes and the resync of this host's cluster
// records (src/drivers/overlay/resync-gate.ts): a resync never overlaps a change in flight.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ResyncGate } from '../../src/drivers/overlay/resync-gate.js';

/** A promise and its resolver, to hold a section open. */
function held(): { promise: Promise<void>; release: () => void } {
  let release: () => void = () => undefined;
  const promise = new Promise<void>((r) => (release = r));
  return { promise, release };
}
const tick = () => new Promise<void>((r) => setImmediate(r));

void test('changes run side by side; a resync waits for those in flight, and later changes wait for it', async () => {
  const gate = new ResyncGate();
  const log: string[] = [];
  const a = held();
  const b = held();
  const changeA = gate.shared(async () => {
    log.push('a start');
    await a.promise;
    log.push('a end');
  });
  const changeB = gate.shared(async () => {
    log.push('b start');
    await b.promise;
    log.push('b end');
  });
  await tick();
  assert.equal(gate.inFlight(), 2);
  const r = held();
  const resync = gate.exclusive(async () => {
    log.push('resync start');
    await r.promise;
    log.push('resync end');
    return 'report';
  });
  const changeC = gate.shared(async () => void log.push('c'));
  await tick();
  assert.deepEqual(log, ['a start', 'b start'], 'the resync waits; c waits behind it');
  a.release();
  await tick();
  assert.deepEqual(log, ['a start', 'b start', 'a end'], 'still one change in flight');
  b.release();
  await tick();
  await tick();
  assert.deepEqual(log, ['a start', 'b start', 'a end', 'b end', 'resync start']);
  r.release();
  assert.equal(await resync, 'report');
  await Promise.all([changeA, changeB, changeC]);
  assert.deepEqual(log, ['a start', 'b start', 'a end', 'b end', 'resync start', 'resync end', 'c']);
});

void test('a failing change or resync releases the gate', async () => {
  const gate = new ResyncGate();
  await assert.rejects(gate.shared(() => Promise.reject(new Error('attach failed'))), /attach failed/);
  assert.equal(gate.inFlight(), 0);
  await assert.rejects(gate.exclusive(() => Promise.reject(new Error('etcd down'))), /etcd down/);
  assert.equal(await gate.shared(() => Promise.resolve(7)), 7);
  assert.equal(await gate.exclusive(() => Promise.resolve(8)), 8);
});

void test('two resyncs never overlap', async () => {
  const gate = new ResyncGate();
  let running = 0;
  let most = 0;
  const resync = () =>
    gate.exclusive(async () => {
      most = Math.max(most, ++running);
      await tick();
      running--;
    });
  await Promise.all([resync(), resync(), gate.shared(tick), resync()]);
  assert.equal(most, 1);
});

void test('a change with maxWaitMs runs outside the gate once it waited that long; without, it waits', async () => {
  const gate = new ResyncGate();
  const r = held();
  const resync = gate.exclusive(() => r.promise);
  const log: string[] = [];
  const patient = gate.shared(async () => void log.push('patient'));
  const started = Date.now();
  await gate.shared(async () => void log.push('bypass'), { maxWaitMs: 30 });
  assert.ok(Date.now() - started >= 25, 'it waited first');
  assert.deepEqual(log, ['bypass'], 'the resync still runs; the change without a bound still waits');
  r.release();
  await resync;
  await patient;
  assert.deepEqual(log, ['bypass', 'patient']);
  // no resync: a bounded change runs at once, inside the gate
  await gate.shared(async () => assert.equal(gate.inFlight(), 1), { maxWaitMs: 30 });
});
