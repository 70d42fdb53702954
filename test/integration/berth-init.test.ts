// berth-init (native/berth-init.c), the container shim: namespaces, exit reporting, signal
// forwarding, detaching and --on-exit. Runs as root. The only network namespaces made here are
// bt<hex>-init, deleted in `finally`; every process started here is ended by PID (checked
// against its start time) even when a test fails.
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { chmod, copyFile, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { type ExecResult, run, runOk } from '../lab/exec.js';
import { type ProcStat, killProcesses, readMountinfo, readStat } from '../lab/procfs.js';

// dist/test/integration/berth-init.test.js -> dist/berth-init
const BIN = fileURLToPath(new URL('../../berth-init', import.meta.url));

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, probe: () => T | undefined | Promise<T | undefined>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(20);
  }
}

/** Processes this file started besides its own children (containers, detached shims). */
const started: ProcStat[] = [];
/** berth-init processes that are this file's children. */
const shims: Shim[] = [];
async function track(pid: number): Promise<ProcStat> {
  const st = await readStat(pid);
  if (!st) throw new Error(`process ${pid} is gone already`);
  started.push(st);
  return st;
}

/** The container of a shim: its only child. */
function childOf(shimPid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${shimPid}/task/${shimPid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return kids[0];
  } catch {
    return undefined;
  }
}

/** Fields of /proc/PID/stat from field 3 (state) on: field N is [N - 3]. */
function statFields(pid: number): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** Running: not gone, not a zombie. */
function alive(pid: number): boolean {
  try {
    return statFields(pid)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** berth-init started in the background, its output collected. */
class Shim {
  readonly proc: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  constructor(args: readonly string[]) {
    this.proc = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc.stdout?.on('data', (c: Buffer) => (this.stdout += c.toString()));
    this.proc.stderr?.on('data', (c: Buffer) => (this.stderr += c.toString()));
    this.exited = new Promise((resolve, reject) => {
      this.proc.on('error', reject);
      this.proc.on('exit', (code, signal) => resolve({ code, signal }));
    });
    shims.push(this);
  }
  get pid(): number {
    if (this.proc.pid === undefined) throw new Error('berth-init did not start');
    return this.proc.pid;
  }
  async container(): Promise<ProcStat> {
    const pid = await waitFor('the container process', () => childOf(this.pid));
    return track(pid);
  }
  async wait(timeoutMs = 10_000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`berth-init did not exit within ${timeoutMs} ms; stderr: ${this.stderr}`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Run berth-init to completion (killed after 10 s). */
function init(args: readonly string[]): Promise<ExecResult> {
  return run([BIN, ...args], { timeoutMs: 10_000 });
}

/** A fresh network namespace bt<hex>-init for the length of fn. */
async function withNetns<T>(fn: (path: string) => Promise<T>): Promise<T> {
  const name = `bt${randomBytes(2).toString('hex')}-init`;
  await runOk(['ip', 'netns', 'add', name]);
  try {
    return await fn(`/run/netns/${name}`);
  } finally {
    await runOk(['ip', 'netns', 'del', name]);
  }
}

interface ExitFile {
  exitCode: number;
  signal: string | null;
  pid: number;
  finishedAt: string;
}
function readExitFile(path: string): ExitFile {
  return JSON.parse(readFileSync(path, 'utf8')) as ExitFile;
}

function kb(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!m?.[1]) throw new Error(`no ${field} in /proc/PID/status`);
  return Number(m[1]);
}

describe('berth-init: the container shim', () => {
  let dir: string;
  before(async () => {
    assert.ok(existsSync(BIN), `${BIN} is missing: build it with bash native/build.sh`);
    dir = await mkdtemp(join(tmpdir(), 'berth-init-test-'));
  });
  after(async () => {
    // Containers first (ending a PID namespace's init ends all of it), then the shims. Our own
    // children are signalled through node, which does so only while they are unreaped.
    for (const s of shims) {
      const running = s.proc.exitCode === null && s.proc.signalCode === null;
      const ctr = running ? childOf(s.pid) : undefined;
      if (ctr !== undefined) await track(ctr).catch(() => undefined);
    }
    const containers = started.filter((p) => p.comm !== 'berth-init');
    await killProcesses(containers, 0); // checks each PID still names the process we saw
    for (const s of shims) if (s.proc.exitCode === null && s.proc.signalCode === null) s.proc.kill('SIGKILL');
    await killProcesses(started.filter((p) => p.comm === 'berth-init'), 0);
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('runs the command with its arguments and exits with its exit code', async () => {
    const r = await init(['--', 'sh', '-c', 'echo "[$1] [$2]"; exit 7', 'sh', 'a b', 'c']);
    assert.equal(r.stdout, '[a b] [c]\n');
    assert.equal(r.stderr, '');
    assert.equal(r.code, 7);
  });

  it('exits 127 for a missing command and 126 for one it cannot execute, saying why', async () => {
    const missing = await init(['--', 'berth-no-such-command']);
    assert.equal(missing.code, 127);
    assert.equal(missing.stderr, 'berth-init: cannot run "berth-no-such-command": No such file or directory\n');
    const plain = join(dir, 'not-executable');
    await writeFile(plain, 'x\n');
    await chmod(plain, 0o644);
    const denied = await init(['--', plain]);
    assert.equal(denied.code, 126);
    assert.equal(denied.stderr, `berth-init: cannot run "${plain}": Permission denied\n`);
  });

  it('rejects bad usage with 125 and a message naming the problem, running nothing', async () => {
    const mark = join(dir, 'usage-mark');
    const touch = ['--', 'touch', mark];
    const cases: [string[], RegExp][] = [
      [[], /missing "--" and the command/],
      [['--'], /missing the command after "--"/],
      [['--bogus', ...touch], /unknown option "--bogus"/],
      [['touch', mark], /unexpected argument "touch" \(the command goes after "--"\)/],
      [['--hostname'], /--hostname needs a value/],
      [['--hostname', '', ...touch], /--hostname: empty value/],
      [['--hostname', '--detach', ...touch], /--hostname needs a value, got the option "--detach"/],
      [['--hostname', 'a', '--hostname', 'b', ...touch], /--hostname given twice/],
      [['--hostname', 'bad_name!', ...touch], /--hostname "bad_name!": expected/],
      [['--hostname', 'x'.repeat(65), ...touch], /--hostname "x+": expected 1-64/],
      [['--bind', '/etc/hosts', ...touch], /--bind "\/etc\/hosts": expected SRC:DST with two absolute paths/],
      [['--bind', 'rel:/etc/hosts', ...touch], /--bind "rel:\/etc\/hosts": expected SRC:DST/],
      [['--on-exit', '/usr/bin/touch', mark, ...touch], /--on-exit: missing "--end"/],
      [['--on-exit', '--end', ...touch], /--on-exit needs a program before "--end"/],
      [['--on-exit', 'touch', mark, '--end', ...touch], /--on-exit "touch": the program must be an absolute path/],
      [['--detach', ...touch], /--detach needs --log FILE/],
      [['--log', join(dir, 'log'), ...touch], /--log is only used with --detach/],
      [['--netns', '/run/netns/x', '--no-netns-unshare', ...touch], /--netns and --no-netns-unshare exclude each other/],
      [['--rootfs', 'relative', ...touch], /--rootfs "relative": must be an absolute path/],
      [['--workdir', 'relative', ...touch], /--workdir "relative": must be an absolute path/],
    ];
    for (const [args, message] of cases) {
      const r = await init(args);
      assert.equal(r.code, 125, `${JSON.stringify(args)}: ${r.stderr}`);
      assert.match(r.stderr, /^berth-init: .*\n$/, JSON.stringify(args));
      assert.match(r.stderr, message, JSON.stringify(args));
      assert.equal(existsSync(mark), false, `${JSON.stringify(args)} ran the command`);
    }
  });

  it('fails setup with 125 and the reason, writing no pidfile or exit file and running no --on-exit', async () => {
    const pidfile = join(dir, 'setup.pid');
    const exitfile = join(dir, 'setup.exit');
    const mark = join(dir, 'setup-mark');
    const files = ['--pidfile', pidfile, '--exit-file', exitfile, '--on-exit', '/usr/bin/touch', mark, '--end'];
    const cases: [string[], string][] = [
      [['--netns', '/nonexistent/ns'], '--netns "/nonexistent/ns": No such file or directory'],
      [['--netns', '/etc/hostname'], '--netns "/etc/hostname": not a network namespace'],
      // these fail inside the container, before exec: reported through the setup pipe
      [['--workdir', '/nonexistent'], '--workdir "/nonexistent": No such file or directory'],
      [['--bind', '/nonexistent:/etc/hostname'], '--bind "/nonexistent:/etc/hostname": source "/nonexistent": No such file or directory'],
      [['--bind', '/etc/hostname:/nonexistent'], '--bind "/etc/hostname:/nonexistent": mount on "/nonexistent": No such file or directory'],
      [['--rootfs', '/nonexistent'], '--rootfs "/nonexistent": bind mount on itself: No such file or directory'],
    ];
    for (const [args, message] of cases) {
      const r = await init([...args, ...files, '--', 'touch', mark]);
      assert.equal(r.code, 125, `${JSON.stringify(args)}: ${r.stderr}`);
      assert.equal(r.stderr, `berth-init: ${message}\n`);
      for (const f of [pidfile, exitfile, mark]) assert.equal(existsSync(f), false, `${JSON.stringify(args)} left ${f}`);
    }
    // The command not found is also reported before anything is written (no exit file: it never ran).
    const r = await init([...files, '--', 'berth-no-such-command']);
    assert.equal(r.code, 127);
    for (const f of [pidfile, exitfile, mark]) assert.equal(existsSync(f), false);
    // A pidfile that cannot be written: the caller could not track the container, so it is killed.
    const badPidfile = join(dir, 'no/such/dir/pid');
    const p = await init(['--pidfile', badPidfile, '--exit-file', exitfile, '--on-exit', '/usr/bin/touch', mark, '--end', '--', 'sleep', '100']);
    assert.equal(p.code, 125);
    assert.equal(p.stderr, `berth-init: --pidfile "${badPidfile}": No such file or directory\n`);
    assert.ok(p.durationMs < 5000, `took ${p.durationMs} ms`);
    for (const f of [exitfile, mark]) assert.equal(existsSync(f), false);
  });

  it('sets the hostname in the container only', async () => {
    const before = hostname();
    const r = await init(['--hostname', 'bt-init-box', '--', 'hostname']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'bt-init-box\n');
    assert.equal(hostname(), before);
  });

  it('runs the command as PID 1 of its own PID namespace, with its own /proc', async () => {
    const r = await init(['--', 'ps', '-e', '-o', 'pid=,comm=']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => l.trim().split(/\s+/)), [['1', 'ps']]);
    const sh = await init(['--', 'sh', '-c', 'echo $$ /proc/[0-9]*']);
    assert.equal(sh.code, 0, sh.stderr);
    assert.equal(sh.stdout, '1 /proc/1\n');
  });

  it('bind-mounts a file in a private mount namespace: the host does not see it', async () => {
    const hostsBefore = await readFile('/etc/hostname', 'utf8');
    const mountsBefore = (await readMountinfo()).filter((m) => m.mountPoint === '/etc/hostname').length;
    const src = join(dir, 'hostname');
    await writeFile(src, 'bt-init-bound\n');
    const r = await init(['--bind', `${src}:/etc/hostname`, '--', 'cat', '/etc/hostname']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'bt-init-bound\n');
    assert.equal(await readFile('/etc/hostname', 'utf8'), hostsBefore);
    assert.equal((await readMountinfo()).filter((m) => m.mountPoint === '/etc/hostname').length, mountsBefore);
  });

  it('joins --netns: the command sees only that namespace\'s links', async () => {
    await withNetns(async (ns) => {
      const r = await init(['--netns', ns, '--', 'ip', '-o', 'link', 'show']);
      assert.equal(r.code, 0, r.stderr);
      const names = r.stdout.trim().split('\n').map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1]);
      assert.deepEqual(names, ['lo']);
    });
  });

  it('writes --pidfile with the host PID of the container, in --netns; the shim stays light in the host namespaces', async (t) => {
    await withNetns(async (ns) => {
      const pidfile = join(dir, 'netns.pid');
      const exitfile = join(dir, 'netns.exit');
      const shim = new Shim(['--netns', ns, '--pidfile', pidfile, '--exit-file', exitfile, '--', 'sleep', '100']);
      const ctr = await shim.container();
      const text = await waitFor('the pidfile', () => (existsSync(pidfile) ? readFileSync(pidfile, 'utf8') : undefined));
      const pid = Number(text.split('\n')[0]);
      // line 1: the container's PID 1; line 2: the shim; line 3: the container's start time
      // (/proc/PID/stat field 22, after the parenthesised command name)
      const startTime = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ')[19];
      assert.equal(readFileSync(pidfile, 'utf8'), `${pid}\n${shim.pid}\n${startTime}\n`);
      assert.equal(pid, ctr.pid);
      assert.equal(ctr.ppid, shim.pid);
      assert.equal(readlinkSync(`/proc/${pid}/ns/net`), `net:[${statSync(ns).ino}]`);
      assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), new RegExp(`^NSpid:\\s+${pid}\\s+1$`, 'm'));
      for (const kind of ['net', 'mnt', 'uts', 'pid']) {
        assert.equal(readlinkSync(`/proc/${shim.pid}/ns/${kind}`), readlinkSync(`/proc/self/ns/${kind}`), `the shim's ${kind} namespace`);
      }
      for (const kind of ['mnt', 'uts', 'pid']) {
        assert.notEqual(readlinkSync(`/proc/${pid}/ns/${kind}`), readlinkSync(`/proc/self/ns/${kind}`), `the container's ${kind} namespace`);
      }
      // Light: blocked in a wait, not spinning, small.
      await sleep(500);
      const status = readFileSync(`/proc/${shim.pid}/status`, 'utf8');
      const stat = statFields(shim.pid);
      const cpuTicks = Number(stat[11]) + Number(stat[12]); // utime + stime
      t.diagnostic(`shim VmRSS ${kb(status, 'VmRSS')} kB, VmHWM ${kb(status, 'VmHWM')} kB, CPU ${cpuTicks} ticks`);
      assert.equal(stat[0], 'S');
      assert.ok(cpuTicks <= 5, `the shim used ${cpuTicks} CPU ticks while waiting`);
      assert.ok(kb(status, 'VmRSS') < 8192, `shim VmRSS ${kb(status, 'VmRSS')} kB`);

      process.kill(pid, 'SIGKILL');
      assert.deepEqual(await shim.wait(), { code: 137, signal: null });
      const exit = readExitFile(exitfile);
      assert.equal(exit.exitCode, 137);
      assert.equal(exit.signal, 'SIGKILL');
      assert.equal(exit.pid, pid);
    });
  });

  it('writes --exit-file atomically when the command ends', async () => {
    const sub = join(dir, 'exit');
    await mkdir(sub);
    const exitfile = join(sub, 'ctr.exit');
    const t0 = Date.now();
    const r = await init(['--exit-file', exitfile, '--', 'sh', '-c', 'exit 3']);
    assert.equal(r.code, 3, r.stderr);
    const text = readFileSync(exitfile, 'utf8');
    assert.match(text, /^\{"exitCode":3,"signal":null,"pid":\d+,"finishedAt":"[^"]+"\}\n$/);
    const exit = readExitFile(exitfile);
    assert.equal(new Date(exit.finishedAt).toISOString(), exit.finishedAt);
    const at = Date.parse(exit.finishedAt);
    assert.ok(at >= t0 - 1000 && at <= Date.now() + 1000, `finishedAt ${exit.finishedAt}`);
    assert.deepEqual(await readdir(sub), ['ctr.exit']); // no temp file left
  });

  it('forwards signals to the command; one that handles SIGTERM ends as it chooses', async () => {
    const exitfile = join(dir, 'trap.exit');
    const script = 'trap "echo got-USR1" USR1; trap "exit 42" TERM; echo ready; while :; do sleep 100 & wait $!; done';
    const shim = new Shim(['--exit-file', exitfile, '--', 'sh', '-c', script]);
    await shim.container();
    await waitFor('ready', () => (shim.stdout.includes('ready') ? true : undefined));
    process.kill(shim.pid, 'SIGUSR1');
    await waitFor('the USR1 trap', () => (shim.stdout.includes('got-USR1') ? true : undefined));
    process.kill(shim.pid, 'SIGTERM');
    assert.deepEqual(await shim.wait(), { code: 42, signal: null });
    assert.equal(readExitFile(exitfile).exitCode, 42);
    assert.equal(readExitFile(exitfile).signal, null);
  });

  it('records death by a signal as 128+N; a PID 1 without a handler ignores SIGTERM (kernel rule, as in Docker)', async () => {
    const exitfile = join(dir, 'kill.exit');
    const shim = new Shim(['--exit-file', exitfile, '--', 'sleep', '100']);
    const ctr = await shim.container();
    await waitFor('sleep to run', async () => ((await readStat(ctr.pid))?.comm === 'sleep' ? true : undefined));
    // The kernel drops signals to a PID namespace's init that it has no handler for (only
    // SIGKILL and SIGSTOP get through): `berth stop` must escalate to SIGKILL, as docker stop does.
    process.kill(shim.pid, 'SIGTERM');
    await sleep(300);
    assert.ok(alive(ctr.pid), 'sleep as PID 1 ignores SIGTERM');
    assert.ok(alive(shim.pid));
    process.kill(ctr.pid, 'SIGKILL');
    assert.deepEqual(await shim.wait(), { code: 137, signal: null });
    const exit = readExitFile(exitfile);
    assert.deepEqual([exit.exitCode, exit.signal, exit.pid], [137, 'SIGKILL', ctr.pid]);
  });

  it('--detach returns once the container runs; the shim outlives its caller and logs the output', async (t) => {
    const log = join(dir, 'detach.log');
    const pidfile = join(dir, 'detach.pid');
    const exitfile = join(dir, 'detach.exit');
    const t0 = Date.now();
    const caller = new Shim(['--detach', '--log', log, '--pidfile', pidfile, '--exit-file', exitfile, '--',
      'sh', '-c', 'echo out; echo err >&2; exec sleep 100']);
    const callerPid = caller.pid;
    assert.deepEqual(await caller.wait(5000), { code: 0, signal: null });
    const elapsed = Date.now() - t0;
    t.diagnostic(`the detaching call returned in ${elapsed} ms`);
    assert.ok(elapsed < 2000, `the detaching call took ${elapsed} ms`);
    assert.equal(caller.stdout + caller.stderr, '');
    // Ready means the pidfile is there when the caller returns.
    const [pid, shimPid] = readFileSync(pidfile, 'utf8').trim().split('\n').map(Number);
    const ctr = await track(pid ?? 0);
    const shim = await track(ctr.ppid);
    assert.equal(shimPid, shim.pid, 'line 2 of the pidfile is the shim');
    assert.equal(shim.comm, 'berth-init');
    assert.notEqual(shim.pid, callerPid);
    assert.notEqual(shim.ppid, callerPid, 'the shim was re-parented when its caller exited');
    assert.ok(alive(shim.pid), 'the shim survives its caller');
    assert.equal(Number(statFields(shim.pid)[3]), shim.pid, 'the shim leads its own session'); // field 6: session
    assert.equal(readlinkSync(`/proc/${shim.pid}/fd/0`), '/dev/null');
    assert.equal(readlinkSync(`/proc/${shim.pid}/fd/1`), log);
    // Nothing else of the caller's is held (the readiness pipe is closed right after use).
    await waitFor('only stdio open in the shim', async () => ((await readdir(`/proc/${shim.pid}/fd`)).length === 3 ? true : undefined));
    assert.deepEqual((await readdir(`/proc/${shim.pid}/fd`)).sort(), ['0', '1', '2']);
    await waitFor('the output in the log', () => (/out\n/.test(readFileSync(log, 'utf8')) && /err\n/.test(readFileSync(log, 'utf8')) ? true : undefined));

    process.kill(ctr.pid, 'SIGKILL');
    const exit = await waitFor('the exit file', () => (existsSync(exitfile) ? readExitFile(exitfile) : undefined));
    assert.deepEqual([exit.exitCode, exit.signal], [137, 'SIGKILL']);
    // Gone, or a zombie when PID 1 of this machine does not reap orphans.
    await waitFor('the shim to end', () => (alive(shim.pid) ? undefined : true));
  });

  it('--detach reports a failed start to its caller, with the status', async () => {
    const log = join(dir, 'detach-fail.log');
    const pidfile = join(dir, 'detach-fail.pid');
    const missing = await init(['--detach', '--log', log, '--pidfile', pidfile, '--', 'berth-no-such-command']);
    assert.equal(missing.code, 127);
    assert.equal(missing.stderr, 'berth-init: cannot run "berth-no-such-command": No such file or directory\n');
    const bad = await init(['--detach', '--log', log, '--pidfile', pidfile, '--netns', '/nonexistent/ns', '--', 'true']);
    assert.equal(bad.code, 125);
    assert.equal(bad.stderr, 'berth-init: --netns "/nonexistent/ns": No such file or directory\n');
    assert.equal(existsSync(pidfile), false);
    assert.match(readFileSync(log, 'utf8'), /cannot run "berth-no-such-command"[\s\S]*--netns "\/nonexistent\/ns"/);
    const nolog = await init(['--detach', '--log', join(dir, 'no/such/dir/log'), '--', 'true']);
    assert.equal(nolog.code, 125);
    assert.match(nolog.stderr, /^berth-init: --log ".*no\/such\/dir\/log": No such file or directory\n$/);
  });

  it('--on-exit runs the program with its arguments after the exit file is written', async () => {
    const exitfile = join(dir, 'onexit-touch.exit');
    const mark = join(dir, 'onexit-mark');
    const r = await init(['--exit-file', exitfile, '--on-exit', '/usr/bin/touch', mark, '--end', '--', 'sh', '-c', 'exit 5']);
    assert.equal(r.code, 0, r.stderr); // the status of --on-exit, which replaced the shim
    assert.ok(existsSync(mark));
    assert.equal(readExitFile(exitfile).exitCode, 5);
  });

  it('--on-exit runs in the host namespaces, and can start processes', async () => {
    await withNetns(async (ns) => {
      const exitfile = join(dir, 'onexit.exit');
      const copy = join(dir, 'onexit.copy');
      const nsOut = join(dir, 'onexit.ns');
      // readlink is a child of sh: forking works (pid_for_children is the host's again)
      const script = 'cat "$1" > "$2" && readlink /proc/self/ns/net /proc/self/ns/mnt /proc/self/ns/uts /proc/self/ns/pid > "$3"';
      const r = await init(['--netns', ns, '--hostname', 'bt-init-x', '--exit-file', exitfile,
        '--on-exit', '/bin/sh', '-c', script, 'sh', exitfile, copy, nsOut, '--end', '--', 'sh', '-c', 'exit 9']);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(readFileSync(copy, 'utf8'), readFileSync(exitfile, 'utf8'));
      assert.equal(readExitFile(copy).exitCode, 9);
      const self = ['net', 'mnt', 'uts', 'pid'].map((k) => readlinkSync(`/proc/self/ns/${k}`));
      assert.deepEqual(readFileSync(nsOut, 'utf8').trim().split('\n'), self);
    });
  });

  it('--rootfs pivots into a tiny rootfs: / holds only its files, binds and /dev work', async (t) => {
    const root = join(dir, 'rootfs');
    const shell = busyboxOrSh();
    const libs = await sharedLibraries(shell);
    if (libs === undefined) {
      t.skip(`cannot tell the shared libraries of ${shell} (no ldd): no rootfs to build`);
      return;
    }
    t.diagnostic(`rootfs from ${shell}${libs.length ? ` and ${libs.join(', ')}` : ''}`);
    await mkdir(join(root, 'bin'), { recursive: true });
    await copyFile(shell, join(root, 'bin', 'sh'));
    await chmod(join(root, 'bin', 'sh'), 0o755);
    for (const lib of libs) {
      await mkdir(join(root, dirname(lib)), { recursive: true });
      await copyFile(lib, join(root, lib)); // follows symlinks: a plain file in the rootfs
    }
    const top = await readdir(root);
    const src = join(dir, 'rootfs-hostname');
    await writeFile(src, 'bt-init-rootfs\n');
    const script = 'echo /* /.*; pwd; read h < /etc/hostname; echo "$h"; echo /proc/[0-9]*; echo x > /dev/null && echo devnull-ok';
    const r = await init(['--rootfs', root, '--bind', `${src}:/etc/hostname`, '--workdir', '/etc', '--', '/bin/sh', '-c', script]);
    assert.equal(r.code, 0, r.stderr);
    const [entries = '', cwd, bound, procs, devnull] = r.stdout.split('\n');
    const seen = entries.split(' ').filter((e) => e !== '/.' && e !== '/..').sort();
    const expected = [...new Set([...top, 'dev', 'etc', 'proc'])].map((e) => `/${e}`).sort();
    assert.deepEqual(seen, expected);
    assert.deepEqual([cwd, bound, procs, devnull], ['/etc', 'bt-init-rootfs', '/proc/1', 'devnull-ok']);
    assert.equal(existsSync(join(root, '.berth-oldroot')), false);
    assert.deepEqual((await readMountinfo()).filter((m) => m.mountPoint.startsWith(root)), []);
  });
});

/** busybox if installed (its sh applet), else the system's /bin/sh. */
function busyboxOrSh(): string {
  for (const d of (process.env.PATH ?? '').split(delimiter)) {
    if (d && existsSync(join(d, 'busybox'))) return join(d, 'busybox');
  }
  return '/bin/sh';
}

/** The shared libraries (and loader) a binary needs, from ldd; [] for a static one, undefined without ldd. */
async function sharedLibraries(bin: string): Promise<string[] | undefined> {
  let r: ExecResult;
  try {
    r = await run(['ldd', bin]);
  } catch {
    return undefined;
  }
  if (r.code !== 0) return /not a dynamic executable|statically linked/.test(r.stdout + r.stderr) ? [] : undefined;
  // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)", "/lib64/ld-linux-x86-64.so.2 (0x…)"; vdso has no path
  return r.stdout.split('\n').flatMap((l) => /(?:=>\s*|^\s*)(\/\S+)/.exec(l)?.[1] ?? []);
}
