// End to end, berth run by a user other than root (issue 11, item 18: "`berth logs` as a
// non-root user prints a Node stack trace"). Every command but help and version says once that
// it needs root, exits 1 and changes nothing, through the in-process CLI and the thin client
// (whose daemon socket is root-only). BERTH_DEBUG=1 lets the command fail where it fails, with
// its stack.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BERTH_BIN, BERTH_CLIENT, type Host, Lab } from '../lab/index.js';
import { asNobody } from './auth-helpers.js';
import { type Daemon, startDaemon, stopDaemon } from './daemon-helpers.js';

const T = { timeout: 90_000 };

void describe('berth as a non-root user', () => {
  let lab: Lab;
  let h: Host;
  let d: Daemon | undefined;

  before(async () => {
    lab = await Lab.create({ label: 'e2e non-root' });
    h = await lab.createHost('h');
    await h.berthOk(['run', '-d', '--name', 'mine', '--', 'sh', '-c', 'echo root-secret; sleep 300']);
  });
  after(async () => {
    await stopDaemon(d).catch(() => undefined);
    await h?.berth(['rm', '-f', 'mine']).catch(() => undefined);
    await lab?.close();
  });

  const commands = [
    ['logs', 'mine'],
    ['ps', '-a'],
    ['inspect', 'mine'],
    ['network', 'ls'],
    ['network', 'create', 'sneaky'],
    ['run', '--rm', '--network', 'host', '--', 'true'],
    ['rm', '-f', 'mine'],
    ['system', 'check', '--repair'],
    ['daemon'],
  ];

  for (const via of ['in-process', 'thin client'] as const) {
    void test(`${via}: one line "permission denied … run berth as root", exit 1, no stack, nothing changed`, T, async () => {
      if (via === 'thin client') d ??= await startDaemon(h);
      const argv0 = via === 'thin client' ? [BERTH_CLIENT] : [process.execPath, BERTH_BIN];
      for (const args of commands) {
        const r = await h.exec(asNobody([...argv0, ...args]), { timeoutMs: 15_000 });
        const what = `berth ${args.join(' ')} as nobody (${via})`;
        assert.equal(r.code, 1, `${what}: exit ${r.code}\n${r.stderr}`);
        assert.equal(r.stderr, 'berth: permission denied: berth programs the kernel and keeps root-only state; run berth as root\n', what);
        assert.equal(r.stdout, '', `${what}: no output`);
      }
      for (const args of [['version'], ['--help'], ['network', '--help']]) {
        const r = await h.exec(asNobody([...argv0, ...args]));
        assert.equal(r.code, 0, `berth ${args.join(' ')} as nobody works: ${r.stderr}`);
      }
      const names = (await h.berthJson<{ Name: string }[]>(['network', 'ls', '--format', 'json'])).map((n) => n.Name);
      assert.ok(!names.includes('sneaky'), 'no network was made');
      const ps = await h.berthJson<{ Name?: string; Names?: string }[]>(['ps', '--format', 'json']);
      assert.equal(ps.length, 1, 'the container still runs');
    });
  }

  void test('BERTH_DEBUG=1 shows where it failed (a stack)', T, async () => {
    const r = await h.exec(asNobody([process.execPath, BERTH_BIN, 'network', 'ls']), { env: { BERTH_DEBUG: '1' } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /\n\s+at /, `a stack: ${r.stderr}`);
  });
});
