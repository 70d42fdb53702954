// Shared pieces of berth's end-to-end tests: the lab every file builds (a berth host `h` and an
// external peer `ext` on one switch), tiny node servers/clients that report who they talk to,
// and a snapshot of everything berth owns on a host, to prove that failures and removals leave
// nothing behind. Every packet stays inside the lab's namespaces.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type ExecResult, type External, type Host, Lab, type LabNode, type NsRef, VIA_DAEMON, links, nftRuleset, ping, runIn } from '../lab/index.js';
import { startDaemon } from './daemon-helpers.js';

export const NODE = process.execPath;
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Host and external addresses of the lab's underlay segment. */
export const H_ADDR = '10.200.0.1';
export const EXT_ADDR = '10.200.0.2';

export interface BasicLab {
  lab: Lab;
  h: Host;
  ext: External;
}

/**
 * A berth host `h` (10.200.0.1/24) and an external peer `ext` (10.200.0.2/24) on one switch.
 * ext has no route to any container subnet: whatever reaches it from a container was NATed.
 */
export async function basicLab(label: string): Promise<BasicLab> {
  const lab = await Lab.create({ label });
  try {
    const sw = await lab.createSwitch('under');
    const h = await lab.createHost('h');
    const ext = await lab.createExternal('ext');
    await sw.plug(h, { ifname: 'eth0', address: `${H_ADDR}/24` });
    await sw.plug(ext, { ifname: 'eth0', address: `${EXT_ADDR}/24` });
    await serveViaDaemon(h);
    return { lab, h, ext };
  } catch (e) {
    await lab.close();
    throw e;
  }
}

/**
 * When the suite runs via the daemon (BERTH_E2E_VIA=daemon), h gets a `berth daemon`, so that
 * its berth commands (the thin client) go through it; the lab stops it when it closes.
 */
export async function serveViaDaemon(h: Host): Promise<void> {
  if (!VIA_DAEMON) return;
  await startDaemon(h);
  // the pass is worthless if the client quietly fell back to the in-process CLI
  const info = await h.berthJson<{ ServedBy: string }>(['system', 'info', '--format', 'json']);
  assert.match(info.ServedBy, /^daemon/, 'BERTH_E2E_VIA=daemon: commands must be served by the daemon');
}

// ---- servers and clients (node one-liners: `node -e SCRIPT ARG…`, process.argv[1…] are the args)

/**
 * TCP server: ARGS port [host]. Prints "listening PORT" once bound; for each connection prints
 * and sends back "peer=ADDR local=ADDR:PORT". Prints "error CODE" and exits 1 if it cannot bind.
 */
export const TCP_SERVER = [
  "const net=require('net');const [port,host]=process.argv.slice(1);",
  "const s=net.createServer(c=>{const m='peer='+c.remoteAddress+' local='+c.localAddress+':'+c.localPort+'\\n';process.stdout.write(m);c.end(m);});",
  "s.on('error',e=>{process.stdout.write('error '+e.code+'\\n');process.exit(1);});",
  "s.listen(Number(port),host||'0.0.0.0',()=>process.stdout.write('listening '+port+'\\n'));",
].join('');

/** UDP server: ARGS port [host]. Answers each datagram with "peer=ADDR local=PORT". */
export const UDP_SERVER = [
  "const d=require('dgram');const [port,host]=process.argv.slice(1);const s=d.createSocket('udp4');",
  "s.on('message',(m,r)=>{const t='peer='+r.address+' local='+port+'\\n';process.stdout.write(t);s.send(t,r.port,r.address);});",
  "s.on('error',e=>{process.stdout.write('error '+e.code+'\\n');process.exit(1);});",
  "s.bind(Number(port),host||'0.0.0.0',()=>process.stdout.write('listening '+port+'\\n'));",
].join('');

/** TCP client: ARGS host port. Prints what the server sent; on failure prints "ERR CODE", exits 1. */
export const TCP_CLIENT = [
  "const net=require('net');const [host,port]=process.argv.slice(1);let got='';",
  'const c=net.connect({host,port:Number(port)});c.setTimeout(2000);',
  "c.on('data',d=>{got+=d;});c.on('end',()=>{process.stdout.write(got);process.exit(got?0:1);});",
  "c.on('timeout',()=>{process.stdout.write('ERR ETIMEDOUT\\n');process.exit(1);});",
  "c.on('error',e=>{process.stdout.write('ERR '+e.code+'\\n');process.exit(1);});",
].join('');

/** UDP client: ARGS host port. Sends one datagram (retried), prints the answer; "ERR ETIMEDOUT" and exit 1 if none. */
export const UDP_CLIENT = [
  "const d=require('dgram');const [host,port]=process.argv.slice(1);const s=d.createSocket('udp4');",
  "s.on('message',m=>{process.stdout.write(m.toString());process.exit(0);});",
  "s.on('error',e=>{process.stdout.write('ERR '+e.code+'\\n');process.exit(1);});",
  "const send=()=>s.send('hello',Number(port),host);send();const t=setInterval(send,400);",
  "setTimeout(()=>{clearInterval(t);process.stdout.write('ERR ETIMEDOUT\\n');process.exit(1);},2000);",
].join('');

export type Proto = 'tcp' | 'udp';

export function clientArgv(proto: Proto, addr: string, port: number): string[] {
  return [NODE, '-e', proto === 'tcp' ? TCP_CLIENT : UDP_CLIENT, addr, String(port)];
}

export function serverArgv(proto: Proto, port: number, host?: string): string[] {
  return [NODE, '-e', proto === 'tcp' ? TCP_SERVER : UDP_SERVER, String(port), ...(host ? [host] : [])];
}

/** What a server reported to a client: the peer address it saw, or undefined if unreachable. */
export interface Probe {
  ok: boolean;
  peer?: string;
  local?: string;
  output: string;
}

export function parseProbe(r: ExecResult): Probe {
  const m = /peer=(\S+) local=(\S+)/.exec(r.stdout);
  return { ok: r.code === 0 && m !== null, ...(m ? { peer: m[1], local: m[2] } : {}), output: `${r.stdout}${r.stderr}`.trim() };
}

/**
 * Connect from a network namespace to addr:port: a lab node, or a path such as a container's
 * /proc/PID/ns/net (see ctrNet). The client runs with nsenter --net only, which is all a
 * reachability test needs and far cheaper than a `berth exec`.
 */
export async function probeFrom(ns: NsRef, proto: Proto, addr: string, port: number): Promise<Probe> {
  return parseProbe(await runIn(ns, clientArgv(proto, addr, port), { timeoutMs: 10_000 }));
}

/** Connect from inside a container through `berth exec` (all its namespaces) to addr:port. */
export async function probeFromContainer(h: Host, ctr: string, proto: Proto, addr: string, port: number): Promise<Probe> {
  return parseProbe(await h.berth(['exec', ctr, '--', ...clientArgv(proto, addr, port)], { timeoutMs: 15_000 }));
}

/** A container's network namespace as its PID 1 holds it (valid in every mode, while it runs). */
export async function ctrNet(h: Host, ctr: string): Promise<string> {
  const pid = (await inspect(h, ctr)).State.Pid;
  assert.ok(pid > 0, `container ${ctr} is running`);
  return `/proc/${pid}/ns/net`;
}

/** True if every echo request from ns to addr is answered. */
export function pingFrom(ns: NsRef, addr: string, count = 1): Promise<boolean> {
  return ping(ns, addr, { count, timeout: 3 });
}

/** IPv4 address (no prefix) of eth0 in ns, as the kernel has it. */
export async function ipOf(ns: NsRef): Promise<string> {
  const r = await runIn(ns, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { check: true });
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout);
  assert.ok(m, `no IPv4 address on eth0: ${r.stdout}`);
  return m[1] as string;
}

/** Poll a detached container's log file ($BERTH_RUN/containers/<id>/log) until it matches. */
export async function waitForLog(h: Host, id: string, pattern: RegExp, timeoutMs = 10_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  let log = '';
  while (Date.now() < end) {
    log = await readFile(join(h.runDir, 'containers', id, 'log'), 'utf8').catch(() => '');
    if (pattern.test(log)) return log;
    await sleep(50);
  }
  assert.fail(`the log of ${id} did not match ${String(pattern)} within ${timeoutMs} ms; log:\n${log}`);
}

/** Start a detached container and return its id. */
export async function runDetached(h: Host, args: readonly string[]): Promise<string> {
  const r = await h.berthOk(['run', '-d', ...args]);
  const id = r.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/, `berth run -d prints the 64-hex id, got ${JSON.stringify(r.stdout)}`);
  return id;
}

/** A detached container running a server; resolves once it listens. */
export async function runServer(h: Host, name: string, runArgs: readonly string[], proto: Proto, port: number, host?: string): Promise<string> {
  const id = await runDetached(h, ['--name', name, ...runArgs, '--', ...serverArgv(proto, port, host)]);
  await waitForLog(h, id, new RegExp(`listening ${port}\\b`));
  return id;
}

// ---- inspect ------------------------------------------------------------------------------------

export interface Inspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean; Pid: number; ExitCode: number; Error: string };
  HostConfig: { NetworkMode: string };
  NetworkSettings: {
    SandboxKey: string;
    IPAddress: string;
    Ports: Record<string, { HostIp: string; HostPort: string }[] | null>;
    Networks: Record<
      string,
      { IPAddress: string; IPPrefixLen: number; Gateway: string; MacAddress: string; NetworkID: string; EndpointID: string }
    >;
  };
}

export async function inspect(h: Host, ctr: string): Promise<Inspect> {
  const list = await h.berthJson<Inspect[]>(['inspect', ctr]);
  assert.equal(list.length, 1);
  return list[0] as Inspect;
}

/** Wait (cheaply, on a file) until path exists or not; false on timeout. */
async function waitPath(path: string, exists: boolean, timeoutMs: number): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (existsSync(path) === exists) return true;
    await sleep(25);
  }
  return false;
}

/** Wait until the container is no longer running; returns its inspect. */
export async function waitExited(h: Host, ctr: string, timeoutMs = 10_000): Promise<Inspect> {
  const end = Date.now() + timeoutMs;
  let i = await inspect(h, ctr);
  // the shim writes an exit file when the command ends: wait for it without spawning berth
  await waitPath(join(h.runDir, 'containers', i.Id, 'exit'), true, timeoutMs);
  while (i.State.Status === 'running') {
    if (Date.now() > end) assert.fail(`container ${ctr} still running after ${timeoutMs} ms`);
    await sleep(50);
    i = await inspect(h, ctr);
  }
  return i;
}

/** Wait until `berth ps -a` no longer lists the container (a detached --rm one removing itself). */
export async function waitRemoved(h: Host, id: string, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  await waitPath(join(h.runDir, 'containers', id), false, timeoutMs);
  for (;;) {
    const ids = (await h.berthOk(['ps', '-a', '-q'])).stdout.split('\n').filter(Boolean);
    if (!ids.some((i) => id.startsWith(i))) return;
    if (Date.now() > end) assert.fail(`container ${id} still listed by ps -a after ${timeoutMs} ms`);
    await sleep(50);
  }
}

// ---- what berth holds on a host -------------------------------------------------------------------

export interface HostState {
  /** every link of the host netns: name, master */
  links: string[];
  /** berth0's addresses */
  bridgeAddrs: string[];
  /** $BERTH_RUN/netns entries */
  netns: string[];
  /** mounts under $BERTH_RUN (netns bind mounts) */
  mounts: string[];
  /** $BERTH_RUN/containers entries */
  containerDirs: string[];
  /** elements of every set and map of `table inet berth` */
  nftElements: string[];
  /** number of rules of `table inet berth` */
  nftRules: number;
  /** `berth ps -a -q` */
  containers: string[];
}

async function listDir(path: string): Promise<string[]> {
  try {
    return (await readdir(path)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

export interface BerthTable {
  rules: number;
  /** set or map name -> its elements, JSON each */
  elements: Record<string, string[]>;
}

export async function berthTable(node: LabNode): Promise<BerthTable> {
  const out: BerthTable = { rules: 0, elements: {} };
  for (const o of (await nftRuleset(node)).nftables) {
    const body = o.rule ?? o.set ?? o.map;
    if (!body || body.table !== 'berth' || body.family !== 'inet') continue;
    if (o.rule) out.rules++;
    else {
      const elem = (body.elem as unknown[] | undefined) ?? [];
      out.elements[String(body.name)] = elem.map((e) => JSON.stringify(e)).sort();
    }
  }
  return out;
}

export async function hostState(h: Host): Promise<HostState> {
  const [ls, table, ps, mountinfo] = await Promise.all([
    links(h),
    berthTable(h),
    h.berthOk(['ps', '-a', '-q']),
    readFile('/proc/self/mountinfo', 'utf8'),
  ]);
  const bridge = await h.exec(['ip', '-j', 'addr', 'show', 'dev', 'berth0']);
  const bridgeAddrs =
    bridge.code === 0
      ? (JSON.parse(bridge.stdout) as { addr_info: { family: string; local: string; prefixlen: number }[] }[]).flatMap((l) =>
          l.addr_info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`),
        )
      : [];
  return {
    links: ls.map((l) => `${l.ifname}${l.master ? ` master ${l.master}` : ''}`).sort(),
    bridgeAddrs,
    netns: await listDir(join(h.runDir, 'netns')),
    mounts: mountinfo
      .split('\n')
      .map((line) => line.split(' ')[4] ?? '')
      .filter((m) => m.startsWith(`${h.runDir}/`))
      // made once per BERTH_RUN for the containers' mount namespaces and kept, as the default bridge
      .filter((m) => ![`${h.runDir}/netns`, `${h.runDir}/mntns`, `${h.runDir}/mntns/base`].includes(m))
      .sort(),
    containerDirs: await listDir(join(h.runDir, 'containers')),
    nftElements: Object.entries(table.elements).flatMap(([k, v]) => v.map((e) => `${k}: ${e}`)),
    nftRules: table.rules,
    containers: ps.stdout.split('\n').filter(Boolean).sort(),
  };
}

/** Veth ports enslaved to berth0 in the host. */
export async function bridgePorts(h: Host): Promise<string[]> {
  return (await links(h)).filter((l) => l.master === 'berth0').map((l) => l.ifname);
}

/**
 * The address the next bridge container would get: run a throwaway --rm container that prints it.
 * Proves allocations were released (the freed address is handed out again).
 */
export async function nextAddress(h: Host): Promise<string> {
  const r = await h.berthOk(['run', '--rm', '--', 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
  const m = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout);
  assert.ok(m, `no IPv4 address in: ${r.stdout}`);
  return m[1] as string;
}

/** Assert a failed berth call: its exit status and a stderr that names every given value. */
export function assertFails(r: ExecResult, code: number, ...mentions: (string | RegExp)[]): void {
  const what = `berth ${r.argv.slice(r.argv.indexOf('--') + 3).join(' ')}`;
  assert.equal(r.code, code, `${what}: exit status ${r.code}, expected ${code}; stderr: ${r.stderr}`);
  for (const m of mentions) {
    if (typeof m === 'string') assert.ok(r.stderr.includes(m), `${what}: stderr should mention ${JSON.stringify(m)}: ${r.stderr}`);
    else assert.match(r.stderr, m, `${what}: stderr`);
  }
}

// ---- crafted frames ---------------------------------------------------------------------------------

/**
 * Python (AF_PACKET) that sends one hand-made TCP SYN out of IFNAME to DST_MAC, from SRC_IP to
 * DST_IP:DPORT, whatever the sender's routing table says, and waits 1.5 s for the SYN-ACK.
 * Prints "reply flags=0x12 from ADDR" (exit 0) or "no reply" (exit 1). It lets an external
 * node do what an attacker on the host's L2 segment can: send a packet addressed to 127.0.0.1
 * to the host's MAC address, which no ordinary socket in the sender can (its own lo owns
 * 127.0.0.0/8 and the kernel never routes loopback destinations out of a NIC).
 */
export const RAW_SYN = String.raw`
import socket, struct, sys, time, random
ifn, dmac, sip, dip, dport = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((ifn, 0))
smac = s.getsockname()[4]
def csum(b):
    if len(b) % 2: b += b'\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b))
    t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
sport = random.randint(20000, 60000)
tcp = struct.pack('!HHIIBBHHH', sport, dport, random.randint(0, 2**32 - 1), 0, 5 << 4, 0x02, 64240, 0, 0)
ph = socket.inet_aton(sip) + socket.inet_aton(dip) + struct.pack('!BBH', 0, 6, len(tcp))
tcp = tcp[:16] + struct.pack('!H', csum(ph + tcp)) + tcp[18:]
ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), random.randint(0, 65535), 0, 64, 6, 0, socket.inet_aton(sip), socket.inet_aton(dip))
ip = ip[:10] + struct.pack('!H', csum(ip)) + ip[12:]
frame = bytes.fromhex(dmac.replace(':', '')) + smac + b'\x08\x00' + ip + tcp
s.settimeout(0.1)
end = time.time() + 1.5
next_send = 0
while time.time() < end:
    if time.time() >= next_send:
        s.send(frame); next_send = time.time() + 0.5
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    if len(f) < 54 or f[12:14] != b'\x08\x00' or f[23] != 6: continue
    t = f[14 + (f[14] & 15) * 4:]
    sp, dp = struct.unpack('!HH', t[:4])
    if dp == sport and sp == dport:
        print('reply flags=%#x from %s' % (t[13], socket.inet_ntoa(f[26:30]))); sys.exit(0)
print('no reply'); sys.exit(1)
`;

/** Send a crafted SYN from node out of ifname to dstMac, srcIp -> dstIp:dport; true if a SYN-ACK came back. */
export async function rawSyn(node: LabNode, ifname: string, dstMac: string, srcIp: string, dstIp: string, dport: number): Promise<{ replied: boolean; output: string }> {
  const r = await node.exec(['python3', '-c', RAW_SYN, ifname, dstMac, srcIp, dstIp, String(dport)], { timeoutMs: 10_000 });
  if (r.code !== 0 && r.code !== 1) throw new Error(`raw SYN sender failed (${r.code}): ${r.stderr}`);
  return { replied: r.code === 0 && /flags=0x12/.test(r.stdout), output: `${r.stdout}${r.stderr}`.trim() };
}

/** Counters of a netns's TCP MIB (/proc/net/snmp read from inside it). */
export async function tcpMib(netnsPath: string, node: LabNode): Promise<Record<string, number>> {
  const r = await node.execOk(['nsenter', `--net=${netnsPath}`, '--', 'cat', '/proc/net/snmp']);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('Tcp:'));
  const [keys, values] = lines.map((l) => l.split(/\s+/).slice(1));
  const out: Record<string, number> = {};
  (keys ?? []).forEach((k, i) => (out[k] = Number(values?.[i])));
  return out;
}

/**
 * `berth rm -f` each container, ignoring failures: for `finally` blocks and `t.after`, so one
 * failed test does not leave its containers to the next. A full id whose directory is already
 * gone is skipped (no berth process spent on it).
 */
export async function removeQuietly(h: Host, ...refs: string[]): Promise<void> {
  for (const r of refs) {
    if (/^[0-9a-f]{64}$/.test(r) && !existsSync(join(h.runDir, 'containers', r))) continue;
    await h.berth(['rm', '-f', r]).catch(() => undefined);
  }
}
