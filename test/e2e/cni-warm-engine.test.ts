// End to end, the warm CNI engine (src/cni/warm-engine.ts, issues 13 and 16): without a daemon, the
// native berth-cni's first call runs in-process and leaves an engine on $BERTH_RUN/cni-engine.sock
// that serves the next calls (proved by counting the node processes a call execs: none), exits
// when idle, is replaced when killed or when its socket is not root's 0600, is not started when
// the conf or the environment says "off" (or the conf is bad: code 7 naming the field), and an
// engine that dies during a call is CNI error 11, never a success. Concurrent calls, cold (several
// engines started: one remains) or warm (served one at a time), all succeed. A daemon started later wins.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, rm, stat } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type External, type Host, Lab, REPO_ROOT } from '../lab/index.js';
import { cniEnginePids } from './cni-runtimes-helpers.js';
import { sleep, startDaemon, stopDaemon, type Daemon } from './daemon-helpers.js';

const T = { timeout: 120_000 };
const PLUGIN = join(REPO_ROOT, 'dist', 'berth-cni');

interface CniOut {
  cniVersion?: string;
  ips?: { address: string; gateway?: string }[];
  code?: number;
  msg?: string;
}

const conf = (engine?: unknown, extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.0.0', name: 'lab', type: 'berth', ...(engine !== undefined ? { engine } : {}), ...extra });

function hasStrace(): boolean {
  try {
    execFileSync('strace', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

void describe('the warm CNI engine (berth-cni without a daemon)', () => {
  let lab: Lab;
  let h: Host;
  let sock: string;
  let daemon: Daemon | undefined;
  const sandboxes: External[] = [];
  let n = 0;

  before(async () => {
    lab = await Lab.create({ label: 's6-warm cni engine' });
    h = await lab.createHost('h');
    sock = join(h.runDir, 'cni-engine.sock');
  });
  after(async () => {
    await stopDaemon(daemon);
    await lab?.close();
  });

  const sandbox = async (): Promise<External> => {
    const sb = await lab.createExternal(`sb${n++}`);
    sandboxes.push(sb);
    return sb;
  };
  const call = (command: string, sb: External, input: string, env: Record<string, string> = {}, wrap: string[] = []) =>
    h.exec([...wrap, PLUGIN], {
      input,
      env: { CNI_COMMAND: command, CNI_CONTAINERID: `warm-${sb.name}`, CNI_NETNS: sb.netnsPath, CNI_IFNAME: 'eth0', CNI_PATH: '/opt/cni/bin', ...env },
      timeoutMs: 60_000,
    });
  const ok = async (command: string, sb: External, input = conf(), env: Record<string, string> = {}): Promise<CniOut> => {
    const r = await call(command, sb, input, env);
    assert.equal(r.code, 0, `${command} ${sb.name}: ${r.stdout}${r.stderr}`);
    return r.stdout.trim() ? (JSON.parse(r.stdout) as CniOut) : {};
  };

  const engines = () => cniEnginePids(sock);
  /** The one engine, once it listens (its socket answers). */
  const engineUp = async (not?: number): Promise<number> => {
    for (const end = Date.now() + 30_000; Date.now() < end; ) {
      const pids = (await engines()).filter((p) => p !== not);
      if (pids.length === 1 && existsSync(sock)) {
        const st = await stat(sock);
        if (st.isSocket()) return pids[0] as number;
      }
      await sleep(50);
    }
    assert.fail(`no engine came up on ${sock}: ${JSON.stringify(await engines())}`);
  };
  const gone = async (pid: number, ms = 15_000): Promise<boolean> => {
    for (const end = Date.now() + ms; Date.now() < end; await sleep(100)) if (!(await engines()).includes(pid)) return true;
    return false;
  };
  const killEngines = async () => {
    for (const pid of await engines()) process.kill(pid, 'SIGKILL');
    for (const pid of await engines()) assert.ok(await gone(pid), `engine ${pid} survived SIGKILL`);
    await rm(sock, { force: true });
  };
  /** How many times a call exec'd node (strace -f): the in-process plugin is one, the engine none. */
  const nodeExecs = async (sb: External, command: string): Promise<number> => {
    const trace = join(lab.dir, `strace-${sb.name}-${command}`);
    const r = await call(command, sb, conf(), {}, ['strace', '-f', '-qq', '-e', 'trace=execve', '-o', trace]);
    assert.equal(r.code, 0, `${command} under strace: ${r.stdout}${r.stderr}`);
    const lines = (await readFile(trace, 'utf8')).split('\n');
    return lines.filter((l) => l.includes(`execve("${process.execPath}"`) && !l.includes('= -1')).length;
  };

  test('the first call runs in-process and leaves an engine; the next calls are served by it', T, async (t) => {
    const sb1 = await sandbox();
    const r1 = await ok('ADD', sb1);
    assert.match(r1.ips?.[0]?.address ?? '', /^\d+\.\d+\.\d+\.\d+\/\d+$/);
    const pid = await engineUp();
    const st = await stat(sock);
    assert.equal(st.mode & 0o777, 0o600, 'the engine socket is 0600');
    assert.equal(st.uid, 0, "the engine socket is root's");
    const sb2 = await sandbox();
    if (hasStrace()) {
      // served by the engine: the client exec'd no node at all
      assert.equal(await nodeExecs(sb2, 'ADD'), 0, 'the second ADD ran no node process');
    } else {
      t.diagnostic('strace missing: the no-exec proof is skipped');
      await ok('ADD', sb2);
    }
    await ok('CHECK', sb2);
    assert.ok(await sb2.ping(r1.ips?.[0]?.gateway ?? '', { count: 1 }), 'the sandbox added by the engine reaches its gateway');
    // a long-lived engine keeps what it opens per state location, not per call (no descriptor leak)
    const fds = async () => (await readdir(`/proc/${pid}/fd`)).length;
    const before = await fds();
    for (let k = 0; k < 4; k++) await ok('CHECK', k % 2 ? sb1 : sb2);
    assert.equal(await fds(), before, 'four more calls opened no descriptor for good');
    assert.deepEqual(await engines(), [pid], 'the same engine served every call');
    await ok('DEL', sb2);
    await ok('DEL', sb1);
    const links = await sb2.exec(['ip', '-o', 'link', 'show']);
    assert.doesNotMatch(links.stdout, /eth0/, 'DEL through the engine removed the interface');
    // VERSION goes to the engine too
    const v = await ok('VERSION', sb1, '');
    assert.ok((v as { supportedVersions?: string[] }).supportedVersions?.includes('1.1.0'));
  });

  test('an engine killed between calls: the next call runs in-process, succeeds and leaves a new one', T, async () => {
    const [old] = await engines();
    assert.ok(old, 'an engine from the previous test');
    process.kill(old, 'SIGKILL');
    assert.ok(await gone(old));
    assert.ok(existsSync(sock), 'the dead engine left its socket file');
    const sb = await sandbox();
    await ok('ADD', sb);
    const fresh = await engineUp(old);
    assert.notEqual(fresh, old);
    await ok('DEL', sb);
  });

  test("a socket that is not root's 0600 is refused: the call runs in-process and a new engine replaces it", T, async () => {
    const [old] = await engines();
    assert.ok(old);
    await chmod(sock, 0o666);
    const sb = await sandbox();
    await ok('ADD', sb);
    const fresh = await engineUp(old);
    assert.notEqual(fresh, old, 'a new engine');
    assert.ok(await gone(old), 'the engine whose socket was replaced left');
    assert.equal((await stat(sock)).mode & 0o777, 0o600);
    await ok('DEL', sb);
  });

  test('an idle engine exits and removes its socket ("engine": {"idleSeconds": 2})', T, async () => {
    await killEngines();
    const sb = await sandbox();
    // started with the default 30 s (alive for sure when the next call comes, whatever the load),
    // then a call asking for 2 s: the idle period after a call is its conf's
    await ok('ADD', sb);
    const pid = await engineUp();
    await ok('DEL', sb, conf({ idleSeconds: 2 }));
    assert.ok(await gone(pid, 25_000), 'the engine exited after its idle period');
    assert.ok(!existsSync(sock), 'and removed its socket');
  });

  test('"engine": "off" in the conf or BERTH_CNI_ENGINE=off leaves no process behind; a bad switch is code 4', T, async () => {
    await killEngines();
    const sb = await sandbox();
    await ok('ADD', sb, conf('off'));
    await ok('CHECK', sb, conf(), { BERTH_CNI_ENGINE: 'off' });
    await ok('DEL', sb, conf('off'));
    await sleep(1500);
    assert.deepEqual(await engines(), [], 'no engine process');
    assert.ok(!existsSync(sock), 'no engine socket');
    const bad = await call('ADD', sb, conf(), { BERTH_CNI_ENGINE: 'sometimes' });
    assert.equal(bad.code, 1);
    const out = JSON.parse(bad.stdout) as CniOut;
    assert.equal(out.code, 4);
    assert.match(out.msg ?? '', /BERTH_CNI_ENGINE/);
    await sleep(500);
    assert.deepEqual(await engines(), []);
  });

  test('a bad "engine" conf is code 7 naming the field, with and without an engine running; it starts none', T, async () => {
    await killEngines();
    const sb = await sandbox();
    const cases: [unknown, RegExp][] = [
      [{ idleSeconds: 0 }, /"engine\.idleSeconds" 0/],
      [{ idleSeconds: 1.5 }, /"engine\.idleSeconds"/],
      [{ idle: 3 }, /"engine\.idle"/],
      ['sometimes', /"engine" "sometimes": expected "off" or \{"idleSeconds": N\}/],
    ];
    for (const running of [false, true]) {
      for (const [engine, msg] of cases) {
        const r = await call('ADD', sb, conf(engine));
        assert.equal(r.code, 1, r.stdout);
        const out = JSON.parse(r.stdout) as CniOut;
        assert.equal(out.code, 7, r.stdout);
        assert.match(out.msg ?? '', msg);
      }
      if (!running) {
        await sleep(1000);
        assert.deepEqual(await engines(), [], 'a refused conf started no engine');
        // one good call starts it, for the second round
        await ok('ADD', sb);
        await engineUp();
      }
    }
    await ok('DEL', sb);
  });

  test('concurrent calls: cold ones race to start engines and one remains; warm ones are served one at a time, all correct', T, async () => {
    await killEngines();
    const sbs = await Promise.all([0, 1, 2, 3].map(() => sandbox()));
    const addresses = async () => {
      const rs = await Promise.all(sbs.map((sb) => ok('ADD', sb)));
      const ips = rs.map((r) => r.ips?.[0]?.address ?? '');
      assert.equal(new Set(ips).size, ips.length, `distinct addresses: ${ips.join(', ')}`);
      for (const [k, sb] of sbs.entries()) assert.ok(await sb.ping(rs[k]?.ips?.[0]?.gateway ?? '', { count: 1 }), `${sb.name} reaches its gateway`);
    };
    // no engine: four in-process calls at once, each starting an engine; the extra ones leave
    await addresses();
    let left: number[] = [];
    for (const end = Date.now() + 30_000; Date.now() < end; await sleep(200)) if ((left = await engines()).length === 1 && existsSync(sock)) break;
    assert.equal(left.length, 1, `one engine remains: ${JSON.stringify(left)}`);
    await Promise.all(sbs.map((sb) => ok('DEL', sb)));
    // the same through that engine
    await addresses();
    await Promise.all(sbs.map((sb) => ok('DEL', sb)));
    assert.deepEqual(await engines(), left, 'the same engine served them');
  });

  test('an engine that dies during a call is CNI error 11; one that goes before accepting is no error', T, async () => {
    await killEngines();
    const sb = await sandbox();
    for (const [what, accept] of [
      ['dies after accepting', true],
      ['goes before accepting', false],
    ] as const) {
      await rm(sock, { force: true });
      // a stand-in engine on the same socket (root's, 0600): "+" then gone, or gone at once
      const fake = createServer((c) => (accept ? c.end('+') : c.destroy()));
      const umask = process.umask(0o177);
      await new Promise<void>((resolve) => fake.listen(sock, resolve));
      process.umask(umask);
      try {
        const r = await call('ADD', sb, conf());
        if (accept) {
          assert.equal(r.code, 1, `${what}: ${r.stdout}${r.stderr}`);
          const out = JSON.parse(r.stdout) as CniOut;
          assert.equal(out.code, 11, r.stdout);
          assert.equal(out.cniVersion, '1.0.0');
          assert.match(out.msg ?? '', /went away during the call/);
        } else {
          assert.equal(r.code, 0, `${what}: ${r.stdout}${r.stderr}`);
          await ok('DEL', sb);
        }
      } finally {
        fake.close();
      }
    }
    await killEngines();
  });

  test('a daemon started later takes precedence over a running engine', T, async () => {
    const sb = await sandbox();
    const withPort = conf(undefined, { runtimeConfig: { portMappings: [{ hostPort: 8181, containerPort: 80, protocol: 'tcp' }] } });
    await ok('ADD', sb, withPort);
    const pid = await engineUp();
    await ok('DEL', sb, withPort);
    daemon = await startDaemon(h);
    await ok('ADD', sb, withPort);
    // the daemon's ADD: its ports go to the host's one relay (a "host" mark), not a relay process of their own
    const [dir] = await readdir(join(h.runDir, 'relays'));
    assert.ok(existsSync(join(h.runDir, 'relays', dir ?? '', 'host')), 'the daemon served the ADD');
    await ok('DEL', sb, withPort);
    assert.deepEqual(await engines(), [pid], 'the engine is still there, unused');
  });
});
