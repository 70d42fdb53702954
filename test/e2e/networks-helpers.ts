// Shared pieces of the user-defined network end-to-end tests (issue 4): a dual-stack lab (host h
// and external ext on one switch), dual-stack multi-port TCP servers and clients with short
// timeouts (so that "blocked" costs little), probes run in a container's network namespace (its
// sandbox, entered with nsenter --net: cheaper than `berth exec`, the same packets), and a
// snapshot of everything a refused command must leave alone. Every packet stays inside the lab.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { readFile, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { type ExecResult, type External, type Host, type IpAddrLink, Lab, type LabNode, type NsRef, addrs, links, nftRuleset, ping, routes, runIn } from '../lab/index.js';
import { serveViaDaemon } from './helpers.js';

export const NODE = process.execPath;
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const H4 = '10.200.0.1';
export const EXT4 = '10.200.0.2';
export const H6 = 'fd99::1';
export const EXT6 = 'fd99::2';

export interface NetLab {
  lab: Lab;
  h: Host;
  ext: External;
}

/** A berth host h (10.200.0.1/24, fd99::1/64) and an external ext (10.200.0.2/24, fd99::2/64) on one switch. */
export async function netLab(label: string): Promise<NetLab> {
  const lab = await Lab.create({ label });
  try {
    const sw = await lab.createSwitch('under');
    const h = await lab.createHost('h');
    const ext = await lab.createExternal('ext');
    await sw.plug(h, { ifname: 'eth0', address: [`${H4}/24`, `${H6}/64`] });
    await sw.plug(ext, { ifname: 'eth0', address: [`${EXT4}/24`, `${EXT6}/64`] });
    await serveViaDaemon(h);
    return { lab, h, ext };
  } catch (e) {
    await lab.close();
    throw e;
  }
}

// ---- servers and clients ------------------------------------------------------------------------

/**
 * TCP server on every port given as an argument, on all IPv4 and IPv6 addresses. Prints
 * "listening PORT" per port; for each connection prints and sends back
 * "peer=ADDR local=ADDR port=PORT" (IPv4-mapped addresses shown as plain IPv4).
 */
export const MULTI_SERVER = [
  "const net=require('net');const norm=a=>String(a).replace(/^::ffff:/,'');",
  'for(const p of process.argv.slice(1)){',
  "const s=net.createServer(c=>{const m='peer='+norm(c.remoteAddress)+' local='+norm(c.localAddress)+' port='+c.localPort+'\\n';process.stdout.write(m);c.end(m);});",
  "s.on('error',e=>{process.stdout.write('error '+e.code+'\\n');process.exit(1);});",
  "s.listen({port:Number(p),host:'::'},()=>process.stdout.write('listening '+p+'\\n'));}",
].join('');

/** TCP client: ARGS host port timeoutMs. Prints what the server sent, or "ERR CODE" (exit 1). */
export const CLIENT = [
  "const net=require('net');const [host,port,t]=process.argv.slice(1);let got='';",
  'const c=net.connect({host,port:Number(port)});c.setTimeout(Number(t));',
  "c.on('data',d=>{got+=d;});c.on('end',()=>{process.stdout.write(got||'ERR EMPTY\\n');process.exit(got?0:1);});",
  "c.on('timeout',()=>{process.stdout.write('ERR ETIMEDOUT\\n');process.exit(1);});",
  "c.on('error',e=>{process.stdout.write('ERR '+e.code+'\\n');process.exit(1);});",
].join('');

/**
 * Line echo server: ARGS port. Prints "conn N peer=ADDR" per connection and answers each line
 * L with "echo L"; prints "closed N" when a connection ends.
 */
export const LINE_SERVER = [
  "const net=require('net');const norm=a=>String(a).replace(/^::ffff:/,'');let n=0;",
  "net.createServer(c=>{const k=++n;process.stdout.write('conn '+k+' peer='+norm(c.remoteAddress)+'\\n');let b='';",
  "c.on('data',d=>{b+=d;let i;while((i=b.indexOf('\\n'))>=0){const l=b.slice(0,i);b=b.slice(i+1);c.write('echo '+l+'\\n');}});",
  "c.on('error',e=>process.stdout.write('error '+e.code+'\\n'));c.on('close',()=>process.stdout.write('closed '+k+'\\n'));})",
  ".listen({port:Number(process.argv[1]),host:'::'},()=>process.stdout.write('listening '+process.argv[1]+'\\n'));",
].join('');

/**
 * Line client: ARGS host port. One connection; sends "seq N" every 100 ms and checks that the
 * echoes come back in order: prints "got N" for each, "BAD line" for anything out of order,
 * "ERR CODE" or "CLOSED" (and exits) if the connection fails.
 */
export const LINE_CLIENT = [
  "const net=require('net');const [host,port]=process.argv.slice(1);let seq=0,last=-1,b='';",
  "const c=net.connect({host,port:Number(port)},()=>{process.stdout.write('connected\\n');setInterval(()=>c.write('seq '+(seq++)+'\\n'),100);});",
  "c.on('data',d=>{b+=d;let i;while((i=b.indexOf('\\n'))>=0){const l=b.slice(0,i);b=b.slice(i+1);const m=/^echo seq (\\d+)$/.exec(l);",
  "if(m&&Number(m[1])===last+1){last=Number(m[1]);process.stdout.write('got '+last+'\\n');}else process.stdout.write('BAD '+l+'\\n');}});",
  "c.on('error',e=>{process.stdout.write('ERR '+e.code+'\\n');process.exit(1);});",
  "c.on('close',()=>{process.stdout.write('CLOSED\\n');process.exit(1);});",
].join('');

export interface Probe {
  ok: boolean;
  peer?: string;
  local?: string;
  port?: number;
  output: string;
}

export function parseProbe(r: ExecResult): Probe {
  const m = /peer=(\S+) local=(\S+) port=(\d+)/.exec(r.stdout);
  return {
    // judged by what the server answered, not by berth exec's exit status
    ok: m !== null,
    ...(m ? { peer: m[1], local: m[2], port: Number(m[3]) } : {}),
    output: `${r.stdout}${r.stderr}`.trim(),
  };
}

/** Default connect timeouts: generous for "must work", short for "must be blocked". */
export const OK_MS = 3000;
export const BLOCKED_MS = 1200;

/** TCP connect from a network namespace (a lab node, a container's sandbox path) to addr:port. */
export async function tcpFrom(ns: NsRef, addr: string, port: number, timeoutMs = OK_MS): Promise<Probe> {
  return parseProbe(await runIn(ns, [NODE, '-e', CLIENT, addr, String(port), String(timeoutMs)], { timeoutMs: timeoutMs + 10_000 }));
}

const sandboxes = new Map<string, string>();

/**
 * A container's network namespace (its SandboxKey, a bind mount under $BERTH_RUN/netns). Cached:
 * a container removed and made again under the same name has a new id, so a new path.
 */
export async function ctrNs(h: Host, ctr: string): Promise<string> {
  const key = `${h.runDir}|${ctr}`;
  const known = sandboxes.get(key);
  if (known && existsSync(known)) return known;
  const path = (await ctrInspect(h, ctr)).NetworkSettings.SandboxKey;
  assert.ok(path, `container ${ctr} has a network namespace of its own`);
  sandboxes.set(key, path);
  return path;
}

/**
 * TCP connect from a container's network namespace to addr:port. The client runs with
 * nsenter --net into the sandbox: all a packet test needs, and cheaper than `berth exec`.
 */
export async function tcpFromCtr(h: Host, ctr: string, addr: string, port: number, timeoutMs = OK_MS): Promise<Probe> {
  return tcpFrom(await ctrNs(h, ctr), addr, port, timeoutMs);
}

/** Ping from a container's network namespace; true if every echo request was answered. */
export async function pingFromCtr(h: Host, ctr: string, addr: string, opts: { count?: number; deadline?: number } = {}): Promise<boolean> {
  return ping(await ctrNs(h, ctr), addr, { count: opts.count ?? 1, timeout: opts.deadline ?? 2 });
}

/** Run argv in a container's network namespace. */
export async function inCtr(h: Host, ctr: string, argv: readonly string[]): Promise<ExecResult> {
  return runIn(await ctrNs(h, ctr), argv, { check: true });
}

/** A detached container running MULTI_SERVER on the given ports; resolves with its id once all listen. */
export async function startServer(h: Host, name: string, runArgs: readonly string[], ports: readonly number[]): Promise<string> {
  const r = await h.berthOk(['run', '-d', '--name', name, ...runArgs, '--', NODE, '-e', MULTI_SERVER, ...ports.map(String)]);
  const id = r.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/, `berth run -d prints the id: ${r.stdout}`);
  await waitForLogFile(h, id, new RegExp(ports.map((p) => `(?=[^]*listening ${p}\\b)`).join('')));
  return id;
}

/** Poll a detached container's log file ($BERTH_RUN/containers/<id>/log) until it matches. */
export async function waitForLogFile(h: Host, id: string, pattern: RegExp, timeoutMs = 15_000): Promise<string> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const log = await readFile(join(h.runDir, 'containers', id, 'log'), 'utf8').catch(() => '');
    if (pattern.test(log)) return log;
    if (Date.now() > end) assert.fail(`the log of ${id.slice(0, 12)} did not match ${String(pattern)} within ${timeoutMs} ms; log:\n${log}`);
    await sleep(50);
  }
}

/** A detached `sleep` container. */
export async function startSleeper(h: Host, name: string, runArgs: readonly string[] = []): Promise<string> {
  const r = await h.berthOk(['run', '-d', '--name', name, ...runArgs, '--', 'sleep', '600']);
  return r.stdout.trim();
}

/** MULTI_SERVER running in a lab node (e.g. ext), killed at lab close. */
export async function nodeServer(node: LabNode, ports: readonly number[]) {
  const p = await node.spawn([NODE, '-e', MULTI_SERVER, ...ports.map(String)]);
  for (const port of ports) await p.waitForOutput(new RegExp(`listening ${port}\\b`));
  return p;
}

// ---- inspect ----------------------------------------------------------------------------------------

export interface NetEndpointView {
  IPAddress: string;
  IPPrefixLen: number;
  Gateway: string;
  GlobalIPv6Address: string;
  GlobalIPv6PrefixLen: number;
  MacAddress: string;
  NetworkID: string;
  EndpointID: string;
  Aliases: string[] | null;
}

export interface CtrInspect {
  Id: string;
  Name: string;
  State: { Status: string; Running: boolean };
  HostConfig: { NetworkMode: string };
  NetworkSettings: { SandboxKey: string; IPAddress: string; Networks: Record<string, NetEndpointView> };
}

export interface NetInspect {
  Name: string;
  Id: string;
  Driver: string;
  EnableIPv6: boolean;
  Internal: boolean;
  IPAM: { Config: { Subnet: string; Gateway?: string; IPRange?: string; AuxiliaryAddresses?: Record<string, string> }[] };
  Containers: Record<string, { Name: string; EndpointID: string; MacAddress: string; IPv4Address: string; IPv6Address: string }>;
  Options: Record<string, string>;
  Labels: Record<string, string>;
}

export async function ctrInspect(h: Host, ctr: string): Promise<CtrInspect> {
  const [i] = await h.berthJson<CtrInspect[]>(['inspect', ctr]);
  assert.ok(i, `berth inspect ${ctr}`);
  return i;
}

export async function netInspect(h: Host, net: string): Promise<NetInspect> {
  const [i] = await h.berthJson<NetInspect[]>(['network', 'inspect', net]);
  assert.ok(i, `berth network inspect ${net}`);
  return i;
}

/** The container's interfaces and their global addresses, read from its namespace (not from berth). */
export async function sandboxView(h: Host, ctr: string): Promise<{ links: Record<string, { mac: string; mtu: number; up: boolean }>; addrs: Record<string, string[]> }> {
  const key = await ctrNs(h, ctr);
  const [ls, as] = await Promise.all([links(key), addrs(key)]);
  return {
    links: Object.fromEntries(ls.map((l) => [l.ifname, { mac: l.address ?? '', mtu: l.mtu, up: l.flags.includes('UP') }])),
    addrs: Object.fromEntries(
      as.map((a) => [a.ifname, a.addr_info.filter((i) => i.scope === 'global').map((i) => `${i.local}/${i.prefixlen}`).sort()]),
    ),
  };
}

/** Default routes inside a container, as "via GW dev IF" strings. */
export async function defaultRoutes(h: Host, ctr: string, family: 4 | 6): Promise<string[]> {
  return (await routes(await ctrNs(h, ctr), family)).filter((r) => r.dst === 'default').map((r) => `via ${r.gateway ?? '?'} dev ${r.dev ?? '?'}`);
}

// ---- berth's nft table and failures --------------------------------------------------------------------

export interface BerthTable {
  rules: number;
  /** set or map name -> its elements, JSON each, sorted */
  elements: Record<string, string[]>;
}

/** The sets, maps and rule count of berth's `table inet berth` in node. */
export async function berthTable(node: NsRef): Promise<BerthTable> {
  const out: BerthTable = { rules: 0, elements: {} };
  for (const o of (await nftRuleset(node)).nftables) {
    const body = o.rule ?? o.set ?? o.map;
    if (!body || body.table !== 'berth' || body.family !== 'inet') continue;
    if (o.rule) out.rules++;
    else out.elements[String(body.name)] = ((body.elem as unknown[] | undefined) ?? []).map((e) => JSON.stringify(e)).sort();
  }
  return out;
}

/** Assert a failed berth call: its exit status and a stderr that mentions every given value. */
export function assertFails(r: ExecResult, code: number, ...mentions: (string | RegExp)[]): void {
  const i = r.argv.indexOf('--');
  const what = `berth ${r.argv.slice(i + 3).join(' ')}`;
  assert.equal(r.code, code, `${what}: exit status ${r.code}, expected ${code}; stderr: ${r.stderr}`);
  assert.ok(r.stderr.trim() !== '', `${what}: says why on stderr`);
  assert.doesNotMatch(r.stderr, /\n\s+at /, `${what}: a message, not a stack trace`);
  for (const m of mentions) {
    if (typeof m === 'string') assert.ok(r.stderr.includes(m), `${what}: stderr should mention ${JSON.stringify(m)}: ${r.stderr}`);
    else assert.match(r.stderr, m, `${what}: stderr`);
  }
}

// ---- what a refused command must leave alone ----------------------------------------------------------

export interface Snapshot {
  /** every row of every table of berth's store, as JSON, sorted: networks, allocations, containers, endpoints, ports */
  store: Record<string, string[]>;
  /** berth's CLI views, when asked for: network ls and inspect of every network, inspect of every container */
  cli?: { networks: unknown; containers: unknown };
  sandboxes: Record<string, unknown>;
  hostLinks: string[];
  hostAddrs: string[];
  hostRoutes: string[];
  nftElements: Record<string, string[]>;
  nftRules: number;
  /** $BERTH_RUN/netns and $BERTH_RUN/containers entries: sandboxes and container files */
  runDirs: string[];
}

/**
 * Links (name, master, admin state, MTU, MAC) and addresses, from one `ip -j addr show`. The admin
 * state (the UP flag) is what berth sets; a bridge's operstate follows its ports through the
 * kernel's linkwatch, up to a second after a port came or went, so it is no "nothing changed" check.
 */
function linksAndAddrs(as: IpAddrLink[]): { links: string[]; addrs: string[] } {
  return {
    links: as.map((l) => `${l.ifname} master=${l.master ?? '-'} ${l.flags.includes('UP') ? 'up' : 'down'} mtu=${l.mtu} ${typeof l.address === 'string' ? l.address : ''}`).sort(),
    addrs: as.flatMap((a) => a.addr_info.map((i) => `${a.ifname} ${i.local}/${i.prefixlen}`)).sort(),
  };
}

/**
 * berth's store, read directly (read-only) and schema-agnostically: every row of every table but
 * the change log.
 * It holds all berth knows (networks and their IPAM, address reservations, containers, their
 * endpoints, published ports), so a leaked reservation shows as well as a new network.
 */
/** berth's store, table by table; with writes, also the change log's head (how many writes). */
export function storeDump(h: Host, opts: { writes?: boolean } = {}): Record<string, string[]> {
  const db = new Database(join(h.rootDir, 'berth.db'), { readonly: true, fileMustExist: true });
  try {
    const out: Record<string, string[]> = {};
    const tables = db.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'").all() as { name: string }[];
    for (const { name } of tables) {
      // the change log (migration 3) records writes, not state: only its head, and only when
      // asked (a refused command must write nothing, not even a record it undoes at once)
      if (name === 'changes') {
        if (opts.writes) out[name] = [JSON.stringify(db.prepare('SELECT max(seq) AS head FROM changes').get())];
        continue;
      }
      out[name] = db.prepare(`SELECT * FROM "${name.replace(/"/g, '""')}"`).all().map((r) => JSON.stringify(r)).sort();
    }
    return out;
  } finally {
    db.close();
  }
}

/**
 * Everything a refused network command could have touched: berth's store, the host's links,
 * addresses and routes, berth's nft sets and maps, and the interfaces, addresses and routes
 * inside the named containers (those the command was about). With cli, also berth's own views
 * (network ls + inspect, ps -a + inspect): slower, as each is a berth process.
 */
export async function snapshot(h: Host, opts: { sandboxes?: readonly string[]; cli?: boolean; writes?: boolean } = {}): Promise<Snapshot> {
  const sandboxes: Record<string, unknown> = {};
  for (const name of opts.sandboxes ?? []) {
    const key = await ctrNs(h, name);
    const [as, r4, r6] = await Promise.all([addrs(key), routes(key, 4), routes(key, 6)]);
    sandboxes[name] = { ...linksAndAddrs(as), routes: [...r4, ...r6].map((r) => `${r.dst} ${r.gateway ?? ''} ${r.dev ?? ''}`).sort() };
  }
  const cli = opts.cli
    ? await Promise.all([
        (async () => {
          const ids = (await h.berthOk(['network', 'ls', '-q'])).stdout.split('\n').filter(Boolean);
          return ids.length ? await h.berthJson<unknown[]>(['network', 'inspect', ...ids]) : [];
        })(),
        (async () => {
          const ids = (await h.berthOk(['ps', '-a', '-q'])).stdout.split('\n').filter(Boolean);
          return ids.length ? await h.berthJson<unknown[]>(['inspect', ...ids]) : [];
        })(),
      ])
    : undefined;
  const [as, r4, r6, table] = await Promise.all([addrs(h), routes(h, 4), routes(h, 6), berthTable(h)]);
  const host = linksAndAddrs(as);
  return {
    store: storeDump(h, { writes: opts.writes === true }),
    ...(cli ? { cli: { networks: cli[0], containers: cli[1] } } : {}),
    sandboxes,
    hostLinks: host.links,
    hostAddrs: host.addrs,
    hostRoutes: [...r4, ...r6].map((r) => `${r.dst} ${r.gateway ?? ''} ${r.dev ?? ''} ${r.metric ?? ''}`).sort(),
    nftElements: table.elements,
    nftRules: table.rules,
    runDirs: [
      ...(await readdir(join(h.runDir, 'netns')).catch(() => [])).map((e) => `netns/${e}`),
      ...(await readdir(join(h.runDir, 'containers')).catch(() => [])).map((e) => `containers/${e}`),
    ].sort(),
  };
}
