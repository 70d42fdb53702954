// berth-init's port relay (native/port-relay.c): --publish-file binds published ports in the
// shim's (host's) namespace and relays connections to the container's address; --proxy-only runs
// the relay alone (CNI sandboxes). Runs as root inside one lab host; every process started here
// is killed by PID (the lab tracks them), every packet stays inside the lab host.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { Lab, type Host } from '../lab/index.js';

const BIN = fileURLToPath(new URL('../../berth-init', import.meta.url));
const NODE = process.execPath;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The "container": a TCP server that answers once the client half-closes, and a UDP echo. */
const TARGET = [
  "const net=require('net'),d=require('dgram');const [addr,tp,up]=process.argv.slice(1);",
  "net.createServer(c=>{let got='';c.on('data',x=>got+=x);c.on('end',()=>c.end('got:'+got+' from '+c.remoteAddress))}).listen(Number(tp),addr);",
  "const u=d.createSocket('udp4');u.on('message',(m,r)=>u.send('echo:'+m,r.port,r.address));u.bind(Number(up),addr,()=>console.log('ready'));",
].join('');

/** TCP: send ARG3, half-close, print the answer. UDP: send ARG3 twice from one socket, print both answers. */
const CLIENT = [
  "const net=require('net'),d=require('dgram');const [proto,addr,port,msg]=process.argv.slice(1);",
  "setTimeout(()=>{console.log('ERR timeout');process.exit(1)},3000);",
  "if(proto==='tcp'){const c=net.connect(Number(port),addr,()=>c.end(msg));let a='';c.on('data',x=>a+=x);c.on('end',()=>{console.log(a);process.exit(0)});c.on('error',e=>{console.log('ERR '+e.code);process.exit(1)});}",
  "else{const s=d.createSocket('udp4');const a=[];s.on('message',m=>{a.push(String(m));if(a.length===2){console.log(a.join(' '));process.exit(0)}});s.send(msg,Number(port),addr);setTimeout(()=>s.send(msg,Number(port),addr),100);}",
].join('');

/** Bind ADDR:PORT/PROTO for a moment: prints "free" or the error code. */
const BINDS = [
  "const net=require('net'),d=require('dgram');const [proto,addr,port]=process.argv.slice(1);",
  "if(proto==='tcp'){const s=net.createServer();s.on('error',e=>console.log(e.code));s.listen(Number(port),addr,()=>{console.log('free');s.close()});}",
  "else{const s=d.createSocket('udp4');s.on('error',e=>{console.log(e.code);s.close()});s.bind(Number(port),addr,()=>{console.log('free');s.close()});}",
].join('');

void describe('berth-init port relay', { skip: process.getuid?.() !== 0 && 'needs root' }, () => {
  let lab: Lab;
  let h: Host;
  let dir: string;

  before(async () => {
    lab = await Lab.create({ label: 'port relay' });
    h = await lab.createHost('h');
    dir = await mkdtemp(join(tmpdir(), 'berth-relay-'));
    const target = await h.spawn([NODE, '-e', TARGET, '127.0.0.2', '9000', '9001']);
    await target.waitForOutput('ready');
  });
  after(async () => {
    await lab?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const client = async (proto: string, port: number, msg: string) => (await h.exec([NODE, '-e', CLIENT, proto, '127.0.0.1', String(port), msg])).stdout.trim();
  const binds = async (proto: string, port: number) => (await h.execOk([NODE, '-e', BINDS, proto, '127.0.0.1', String(port)])).stdout.trim();

  async function publishFile(name: string, lines: string[]): Promise<string> {
    const f = join(dir, name);
    await writeFile(f, lines.map((l) => `${l}\n`).join(''));
    return f;
  }

  it('relays TCP with half-close and UDP per client while the container runs, then frees the ports', async () => {
    const f = await publishFile('a', ['tcp 127.0.0.1 8000 127.0.0.2 9000', 'udp 127.0.0.1 8001 127.0.0.2 9001']);
    const pidfile = join(dir, 'a.pid');
    const shim = await h.spawn([BIN, '--publish-file', f, '--pidfile', pidfile, '--', 'sleep', '3']);
    while (!existsSync(pidfile)) await sleep(20);
    // the answer comes only after the server saw the client's FIN: half-close is passed on
    assert.equal(await client('tcp', 8000, 'hello'), 'got:hello from 127.0.0.1');
    assert.equal(await client('udp', 8001, 'ping'), 'echo:ping echo:ping');
    // the ports are taken on the host while the container runs
    assert.equal(await binds('tcp', 8000), 'EADDRINUSE');
    assert.equal(await binds('udp', 8001), 'EADDRINUSE');
    const r = await shim.exited;
    assert.equal(r.code, 0, r.stderr);
    // the relay ended with the container, before the shim exited
    assert.equal(await binds('tcp', 8000), 'free');
    assert.equal(await binds('udp', 8001), 'free');
  });

  it('binds more ports than the soft open-files limit allows, and the command gets the caller\'s limit back', async () => {
    const lines = Array.from({ length: 200 }, (_, i) => `tcp 127.0.0.1 ${8100 + i} 127.0.0.2 9000`);
    const f = await publishFile('many', lines);
    const r = await h.exec(['prlimit', '--nofile=64:20000', BIN, '--publish-file', f, '--', 'sh', '-c', 'ulimit -Sn']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '64');
  });

  it('a client that gives up while the container does not answer costs no CPU (no busy loop while connecting)', async () => {
    const sw = await lab.createSwitch('s');
    await sw.plug(h, { ifname: 'eth0', address: '10.201.0.1/24' });
    // 10.201.0.99 is nobody: the relay's connect waits for ARP, then fails
    const f = await publishFile('e', ['tcp 127.0.0.1 8050 10.201.0.99 80']);
    const pidfile = join(dir, 'e.pid');
    const shim = await h.spawn([BIN, '--publish-file', f, '--pidfile', pidfile, '--', 'sleep', '4']);
    while (!existsSync(pidfile)) await sleep(20);
    const shimPid = Number((await readFile(pidfile, 'utf8')).split('\n')[1]);
    const kids = (await readFile(`/proc/${shimPid}/task/${shimPid}/children`, 'utf8')).trim().split(/\s+/).map(Number);
    const relay = kids.find((k) => readFileSync(`/proc/${k}/cmdline`, 'utf8').startsWith(BIN));
    assert.ok(relay, 'the shim has a relay child');
    const cpu = () => {
      const st = readFileSync(`/proc/${relay}/stat`, 'utf8');
      const f = st.slice(st.lastIndexOf(')') + 2).split(' ');
      return Number(f[11]) + Number(f[12]);
    };
    // the client gives up with a reset while the relay still connects: its end reports HUP/ERR
    const c = await h.spawn([NODE, '-e', "const c=require('net').connect(8050,'127.0.0.1',()=>{c.write('x');setTimeout(()=>c.resetAndDestroy(),100)});c.on('error',()=>{});setTimeout(()=>process.exit(0),3000)"]);
    await sleep(300);
    const before = cpu();
    await sleep(1000);
    const used = cpu() - before;
    assert.ok(used < 10, `the relay used ${used} ticks in 1 s while connecting (100 = a busy loop)`);
    await c.exited;
    await shim.exited;
  });

  it('a client that is done while the container neither reads nor writes costs no CPU', async () => {
    // the "container" half-closes at once and never reads: the client's data and FIN wait in the relay
    const mute = await h.spawn([NODE, '-e', "require('net').createServer({allowHalfOpen:true},c=>{c.pause();c.end()}).listen(9100,'127.0.0.2',()=>console.log('up'))"]);
    await mute.waitForOutput('up');
    const f = await publishFile('g', ['tcp 127.0.0.1 8060 127.0.0.2 9100']);
    const pidfile = join(dir, 'g.pid');
    const shim = await h.spawn([BIN, '--publish-file', f, '--pidfile', pidfile, '--', 'sleep', '3']);
    while (!existsSync(pidfile)) await sleep(20);
    const shimPid = Number((await readFile(pidfile, 'utf8')).split('\n')[1]);
    const kids = (await readFile(`/proc/${shimPid}/task/${shimPid}/children`, 'utf8')).trim().split(/\s+/).map(Number);
    const relay = kids.find((k) => readFileSync(`/proc/${k}/cmdline`, 'utf8').startsWith(BIN));
    assert.ok(relay, 'the shim has a relay child');
    const cpu = () => {
      const st = readFileSync(`/proc/${relay}/stat`, 'utf8');
      const x = st.slice(st.lastIndexOf(')') + 2).split(' ');
      return Number(x[11]) + Number(x[12]);
    };
    const c = await h.spawn([NODE, '-e', "const c=require('net').connect({port:8060,host:'127.0.0.1',allowHalfOpen:true},()=>c.end(Buffer.alloc(8<<20)));c.on('error',()=>{});c.resume();setTimeout(()=>process.exit(0),2500)"]);
    await sleep(500);
    const before = cpu();
    await sleep(1000);
    const used = cpu() - before;
    assert.ok(used < 10, `the relay used ${used} ticks in 1 s (100 = a busy loop)`);
    await c.exited;
    await shim.exited;
    await mute.kill();
  });

  it('a port a host process holds fails the start with 125, naming it; nothing runs', async () => {
    const holder = await h.spawn([NODE, '-e', "require('net').createServer().listen(8010,'127.0.0.1',()=>console.log('held'))"]);
    await holder.waitForOutput('held');
    const f = await publishFile('b', ['tcp 0.0.0.0 8011 127.0.0.2 9000', 'tcp 0.0.0.0 8010 127.0.0.2 9000']);
    const pidfile = join(dir, 'b.pid');
    const r = await h.exec([BIN, '--publish-file', f, '--pidfile', pidfile, '--', 'touch', join(dir, 'ran')]);
    assert.equal(r.code, 125);
    assert.match(r.stderr, /cannot publish 0\.0\.0\.0:8010\/tcp: Address already in use/);
    assert.equal(existsSync(pidfile), false);
    assert.equal(existsSync(join(dir, 'ran')), false, 'the command did not run');
    assert.equal(await binds('tcp', 8011), 'free', 'the port bound before the failing one is released');
    await holder.kill();
  });

  it('a SIGKILLed shim takes its relay with it', async () => {
    const f = await publishFile('c', ['tcp 127.0.0.1 8020 127.0.0.2 9000']);
    const pidfile = join(dir, 'c.pid');
    const shim = await h.spawn([BIN, '--publish-file', f, '--pidfile', pidfile, '--', 'sleep', '30']);
    while (!existsSync(pidfile)) await sleep(20);
    assert.equal(await client('tcp', 8020, 'x'), 'got:x from 127.0.0.1');
    const child = Number((await readFile(pidfile, 'utf8')).split('\n')[0]);
    shim.signal('SIGKILL');
    let state = '';
    for (let i = 0; i < 50 && state !== 'free'; i++, await sleep(20)) state = await binds('tcp', 8020);
    assert.equal(state, 'free', 'the relay died with the shim');
    try {
      process.kill(child, 'SIGKILL'); // the container, which holds the shim's stdout (its own fate is not under test here)
    } catch {
      // gone already
    }
    await shim.exited;
  });

  it('--proxy-only --detach runs the relay alone until it is killed; bad usage is 125', async () => {
    const f = await publishFile('d', ['tcp 127.0.0.1 8030 127.0.0.2 9000']);
    const pidfile = join(dir, 'd.pid');
    const r = await h.exec([BIN, '--proxy-only', '--publish-file', f, '--pidfile', pidfile, '--detach', '--log', join(dir, 'd.log')]);
    assert.equal(r.code, 0, r.stderr);
    const pid = Number((await readFile(pidfile, 'utf8')).split('\n')[0]);
    try {
      assert.equal(await client('tcp', 8030, 'cni'), 'got:cni from 127.0.0.1');
    } finally {
      process.kill(pid, 'SIGKILL');
    }
    let state = '';
    for (let i = 0; i < 50 && state !== 'free'; i++, await sleep(20)) state = await binds('tcp', 8030);
    assert.equal(state, 'free');
    const bad = await h.exec([BIN, '--proxy-only', '--publish-file', f, '--', 'sleep', '1']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /--proxy-only takes no command/);
    const noFile = await h.exec([BIN, '--proxy-only']);
    assert.equal(noFile.code, 125);
    assert.match(noFile.stderr, /--proxy-only needs --publish-file/);
  });

  it('--relay-host: one relay steered over its 0600 socket (add, list, del); a second start is refused', async () => {
    const sock = join(dir, 'relay.sock');
    const pidfile = join(dir, 'r.pid');
    const r = await h.exec([BIN, '--relay-host', sock, '--pidfile', pidfile, '--detach', '--log', join(dir, 'r.log')]);
    assert.equal(r.code, 0, r.stderr);
    const pid = Number((await readFile(pidfile, 'utf8')).split('\n')[0]);
    const ctl = async (text: string) =>
      (await h.exec([process.execPath, '-e', "const s=require('net').connect(process.argv[1]);let o='';s.on('data',d=>{o+=d;if(/(^|\\n)(ok[^\\n]*|err [^\\n]*|\\.)\\n$/.test(o)){process.stdout.write(o);process.exit(0)}});s.write(process.argv[2])", sock, text], { timeoutMs: 10_000 })).stdout;
    try {
      assert.equal((await stat(sock)).mode & 0o777, 0o600);
      assert.equal(await ctl('add ep1 1\ntcp 127.0.0.1 8040 127.0.0.2 9000\n'), 'ok\n');
      assert.equal(await client('tcp', 8040, 'host'), 'got:host from 127.0.0.1');
      assert.match(await ctl('add ep2 1\ntcp 127.0.0.1 8040 127.0.0.2 9000\n'), /^err cannot publish 127\.0\.0\.1:8040\/tcp: .*in use/);
      assert.equal(await ctl('list\n'), 'ep1 tcp 127.0.0.1 8040 127.0.0.2 9000\n.\n');
      const second = await h.exec([BIN, '--relay-host', sock, '--pidfile', join(dir, 'r2.pid'), '--detach', '--log', join(dir, 'r2.log')]);
      assert.equal(second.code, 125);
      assert.match(second.stderr, /a host relay already runs/);
      assert.equal(await ctl('del ep1\n'), 'ok 1\n');
      assert.equal(await binds('tcp', 8040), 'free');
      assert.equal(await ctl('quit-if-empty\n'), 'ok\n');
    } finally {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // it quit
      }
    }
    const bad = await h.exec([BIN, '--relay-host', sock, '--publish-file', join(dir, 'x')]);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /--relay-host takes only --pidfile, --detach and --log/);
  });
});
