// berth-cni: the CNI front end (spec 1.1.0 and 0.3.1/0.4.0/1.0.0: ADD, DEL, CHECK, VERSION,
// STATUS, GC). A runtime hands over a network namespace; berth plugs it into a berth network.
// Parse, call, format. runCni serves the plugin process (src/cni-main.ts) and the daemon, for
// the thin client (src/cni/gateway.ts).
import { existsSync } from 'node:fs';
import { BerthError, ConflictError, NotFoundError, UserError } from '../common/errors.js';
import type { Engine } from '../engine/context.js';
import { DEFAULT_NETWORK, dnsAddressesOf } from '../engine/networks.js';
import type { SandboxAttachment } from '../engine/sandboxes.js';
import { LATEST_VERSION, SUPPORTED_VERSIONS, confVersion, decodeConf, parseConf, cniArgsOf, type EngineSetting, type NetConf } from './conf.js';
import { CNI_CODES, CniError } from './errors.js';
import { formatResult, mergeResults, readResult, type CniDns, type CniResult } from './result.js';
import { trace } from '../common/trace.js';

export type CniEnv = Record<string, string | undefined>;

/** The spec's container ID and interface name (IFNAMSIZ) rules. */
const CONTAINER_ID = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const IFNAME = /^[^/:\s]{1,15}$/;

/** Where the conf says berth's state is (unset: the environment's BERTH_ROOT/BERTH_RUN). */
export interface StateLocation {
  berthRoot?: string;
  berthRun?: string;
}

function envVar(env: CniEnv, name: string): string {
  const v = env[name] ?? '';
  if (!v) throw new CniError(CNI_CODES.invalidEnv, `${name} is not set`, `CNI_COMMAND=${env.CNI_COMMAND ?? ''} needs ${name}`);
  return v;
}

function ownResult(a: SandboxAttachment, ifname: string, netns: string, conf: NetConf): CniResult {
  const interfaces = [...(a.hostIfname ? [{ name: a.hostIfname }] : []), { name: ifname, ...(a.endpoint.mac ? { mac: a.endpoint.mac } : {}), sandbox: netns }];
  const sandboxIndex = interfaces.length - 1;
  const gatewayOf = (address: string) => a.network.subnets.find((s) => s.subnet.includes(':') === address.includes(':'))?.gateway;
  const routes = a.network.internal
    ? []
    : a.endpoint.addresses.flatMap((address) => {
        const gw = gatewayOf(address);
        return gw ? [{ dst: address.includes(':') ? '::/0' : '0.0.0.0/0', gw }] : [];
      });
  return {
    interfaces,
    ips: a.endpoint.addresses.map((address) => {
      const gateway = gatewayOf(address);
      return { address, ...(gateway ? { gateway } : {}), interface: sandboxIndex };
    }),
    routes,
    dns: dnsOf(a, conf),
  };
}

/**
 * The dns capability: as `berth run` writes resolv.conf. A network with the embedded DNS (user-
 * defined ones) names its resolver; the default bridge has none (as in Docker): the runtime's
 * servers. The runtime's searches and options, and the conf's domain, follow.
 */
function dnsOf(a: SandboxAttachment, conf: NetConf): CniDns {
  const embedded = a.network.name === DEFAULT_NETWORK ? [] : dnsAddressesOf(a.network);
  const resolver = embedded.find((ip) => !ip.includes(':')) ?? embedded[0];
  const nameservers = resolver ? [resolver] : (conf.dns?.servers ?? []);
  return {
    ...(nameservers.length ? { nameservers } : {}),
    ...(conf.dns?.domain ? { domain: conf.dns.domain } : {}),
    ...(conf.dns?.searches ? { search: conf.dns.searches } : {}),
    ...(conf.dns?.options ? { options: conf.dns.options } : {}),
  };
}

/** This plugin's result, after the previous plugin's when chained, in the input's version. */
function resultText(conf: NetConf, own: CniResult): string {
  const merged = conf.prevResult ? mergeResults(readResult(conf.prevResult), own) : own;
  return `${JSON.stringify(formatResult(conf.cniVersion, merged))}\n`;
}

/** What the runtime's prevResult says about this interface and berth's record disagree on. */
function prevResultDrift(conf: NetConf, a: SandboxAttachment, ifname: string): string[] {
  if (!conf.prevResult) return [];
  const prev = readResult(conf.prevResult);
  const index = prev.interfaces.findIndex((i) => i.name === ifname && i.sandbox !== undefined);
  if (index < 0) return [`prevResult has no interface "${ifname}"`];
  const problems: string[] = [];
  const mac = prev.interfaces[index]?.mac;
  if (mac && a.endpoint.mac && mac.toLowerCase() !== a.endpoint.mac.toLowerCase()) problems.push(`prevResult gives "${ifname}" MAC ${mac}, berth attached ${a.endpoint.mac}`);
  const listed = prev.ips.filter((ip) => ip.interface === index).map((ip) => ip.address);
  for (const address of a.endpoint.addresses) if (!listed.includes(address)) problems.push(`prevResult lacks address ${address} of "${ifname}"`);
  for (const address of listed) if (!a.endpoint.addresses.includes(address)) problems.push(`prevResult gives "${ifname}" address ${address}, which berth did not attach`);
  return problems;
}

/** The netns a runtime handed over must exist (else: unknown container, nothing to clean up). */
function existingNetns(env: CniEnv, reach: NetnsReach): string {
  const netns = reach(envVar(env, 'CNI_NETNS'));
  if (!existsSync(netns)) throw new CniError(CNI_CODES.unknownContainer, `network namespace "${netns}" does not exist`, 'CNI_NETNS must name the container\'s network namespace');
  return netns;
}

/**
 * Where this process opens the runtime's CNI_NETNS: the path itself in the plugin process; in
 * the daemon, the path as seen from the calling plugin's mount namespace (/proc/<pid>/root/...).
 */
export type NetnsReach = (given: string) => string;

/** How the caller runs the plugin: see runCni. */
export interface CniHostOptions {
  /** a long-lived process (the daemon): published ports are bound by the host's one relay (engine/host-relay.ts) */
  hostRelay?: boolean;
}

async function handle(engineFor: (loc: StateLocation) => Engine, env: CniEnv, raw: Record<string, unknown>, out: (text: string) => void, reach: NetnsReach, opts: CniHostOptions, seen: { engine?: EngineSetting }): Promise<void> {
  const command = envVar(env, 'CNI_COMMAND');
  if (command === 'VERSION') {
    // the runtime's own version echoed when it is one this plugin speaks
    const asked = typeof raw.cniVersion === 'string' && SUPPORTED_VERSIONS.includes(raw.cniVersion) ? raw.cniVersion : LATEST_VERSION;
    out(`${JSON.stringify({ cniVersion: asked, supportedVersions: SUPPORTED_VERSIONS })}\n`);
    return;
  }
  if (!['ADD', 'DEL', 'CHECK', 'STATUS', 'GC'].includes(command)) {
    throw new CniError(CNI_CODES.invalidEnv, `unknown CNI_COMMAND "${command}": expected ADD, DEL, CHECK, GC, STATUS or VERSION`);
  }
  const conf = parseConf(raw);
  seen.engine = conf.engine;
  trace('cni: conf parsed');
  const loc: StateLocation = { ...(conf.berthRoot ? { berthRoot: conf.berthRoot } : {}), ...(conf.berthRun ? { berthRun: conf.berthRun } : {}) };
  let opened: Engine | undefined;
  const engine = () => (opened ??= engineFor(loc));
  const sandboxes = await import('../engine/sandboxes.js');
  if (command === 'STATUS') {
    // ready when the network can be served (the store opens, the network exists)
    try {
      await sandboxes.sandboxNetwork(engine(), conf.network);
    } catch (err) {
      throw new CniError(CNI_CODES.notAvailable, `berth cannot serve network "${conf.network}": ${err instanceof Error ? err.message : String(err)}`);
    }
    return;
  }
  if (command === 'GC') {
    // GC needs only CNI_COMMAND and CNI_PATH
    await sandboxes.collectSandboxes(engine(), conf.network, conf.validAttachments ?? []);
    return;
  }
  const containerId = envVar(env, 'CNI_CONTAINERID');
  if (!CONTAINER_ID.test(containerId)) throw new CniError(CNI_CODES.invalidEnv, `invalid CNI_CONTAINERID "${containerId}": expected letters, digits, "_", "." and "-"`);
  const ifname = envVar(env, 'CNI_IFNAME');
  if (!IFNAME.test(ifname) || ifname === '.' || ifname === '..') throw new CniError(CNI_CODES.invalidEnv, `invalid CNI_IFNAME "${ifname}": expected an interface name of 1-15 characters without "/", ":" or spaces`);
  switch (command) {
    case 'ADD': {
      const netns = existingNetns(env, reach);
      trace('cni: netns exists');
      if (sandboxes.findSandboxEndpoint(engine(), containerId, ifname)) {
        throw new CniError(CNI_CODES.alreadyAttached, `container "${containerId}" already has interface "${ifname}" on a berth network`, 'a runtime must DEL an attachment before adding it again');
      }
      // runtimeConfig first; CNI_ARGS where it is silent (podman gives one --ip and --mac-address there)
      const args = cniArgsOf(env.CNI_ARGS);
      const ip = conf.ip ?? args.ip;
      const ip6 = conf.ip6 ?? args.ip6;
      const mac = conf.mac ?? args.mac;
      // the runtime's names for the sandbox: its pod name, then runtimeConfig aliases
      const pod = args.pod;
      const aliases = [...new Set([...(pod ? [pod] : []), ...conf.aliases])];
      const a = await sandboxes.attachSandbox(engine(), {
        containerId,
        netns,
        ifname,
        network: conf.network,
        publish: conf.publish,
        ...(ip ? { ip } : {}),
        ...(ip6 ? { ip6 } : {}),
        ...(mac ? { mac } : {}),
        ...(aliases.length ? { aliases } : {}),
        ...(conf.bandwidth ? { bandwidth: conf.bandwidth } : {}),
        ...(conf.dns?.servers?.length ? { dnsServers: conf.dns.servers } : {}),
        relay: conf.hostPortRelay,
        ...(opts.hostRelay ? { hostRelay: true } : {}),
      });
      trace('cni: attached');
      // the result names the sandbox as the runtime does
      out(resultText(conf, ownResult(a, ifname, envVar(env, 'CNI_NETNS'), conf)));
      return;
    }
    case 'DEL':
      // best effort and idempotent: succeed even if the netns or the endpoint is gone
      await sandboxes.detachSandbox(engine(), containerId, ifname, env.CNI_NETNS ? reach(env.CNI_NETNS) : '');
      return;
    case 'CHECK': {
      const netns = existingNetns(env, reach);
      if (!sandboxes.findSandboxEndpoint(engine(), containerId, ifname)) {
        throw new CniError(CNI_CODES.unknownContainer, `container "${containerId}" has no interface "${ifname}" on a berth network`, 'CHECK needs an attachment made by ADD');
      }
      const a = await sandboxes.checkSandbox(engine(), containerId, ifname, netns);
      const shaping = conf.bandwidth ? await (await import('../engine/sandbox-bandwidth.js')).bandwidthDrift(a.hostIfname, conf.bandwidth) : [];
      const problems = [...prevResultDrift(conf, a, ifname), ...a.problems, ...shaping];
      if (problems.length) throw new CniError(CNI_CODES.checkFailed, `CHECK of container "${containerId}" interface "${ifname}" failed: ${problems.join('; ')}`);
      return;
    }
  }
}

function codeOf(err: unknown): number {
  if (err instanceof CniError) return err.code;
  if (err instanceof NotFoundError || err instanceof ConflictError || err instanceof UserError) return CNI_CODES.invalidConfig;
  if (err instanceof BerthError) return CNI_CODES.tryAgainLater;
  return CNI_CODES.internal;
}

/** What a plugin call answers; engine: the conf's warm-engine setting, when the conf was valid. */
export interface CniAnswer {
  stdout: string;
  status: number;
  engine?: EngineSetting;
}

/** One plugin call: CNI_* variables and the configuration on stdin; what to print and the exit status. */
export async function runCni(engineFor: (loc: StateLocation) => Engine, env: CniEnv, stdin: string, reach: NetnsReach = (p) => p, opts: CniHostOptions = {}): Promise<CniAnswer> {
  let stdout = '';
  const seen: { engine?: EngineSetting } = {};
  const out = (text: string) => void (stdout += text);
  let version = LATEST_VERSION;
  try {
    const raw = decodeConf(stdin);
    // errors answer in the input's cniVersion when it is one this plugin speaks
    try {
      version = confVersion(raw);
    } catch {
      // refused below, by the command that needs it
    }
    // the engine (and its store) is opened only by the commands that need it, not by VERSION
    await handle(engineFor, env, raw, out, reach, opts, seen);
    return { stdout, status: 0, ...seen };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    const details = err instanceof CniError ? err.details : '';
    return { stdout: `${JSON.stringify({ cniVersion: version, code: codeOf(err), msg, details })}\n`, status: 1, ...seen };
  }
}
