// The network configuration on stdin, validated at the edge into a typed value (CNI spec 1.1
// and the versions runtimes still send). Bad input is a CniError naming the value.
import { isIP } from 'node:net';
import type { PortBinding } from '../portmap/index.js';
import type { z } from 'zod';
import { bandwidthProblems, type SandboxBandwidth } from '../engine/bandwidth-limits.js';
import { ALIAS, decodeConfSchema, type bandwidthSchema, type ConfInput } from './conf-schema.js';
import { CNI_CODES, CniError } from './errors.js';

export { ALIAS };

export const SUPPORTED_VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'];
export const LATEST_VERSION = '1.1.0';

export interface Attachment {
  containerId: string;
  ifname: string;
}

export interface NetConf {
  cniVersion: string;
  name: string;
  /** the berth network to join, by name or id; default "bridge" */
  network: string;
  publish: PortBinding[];
  /** runtimeConfig.ips: static addresses, at most one per family */
  ip?: string;
  ip6?: string;
  /** runtimeConfig.mac */
  mac?: string;
  aliases: string[];
  /** false (conf "hostPortRelay"): the runtime binds the published host ports itself (podman does, for the container's life) */
  hostPortRelay: boolean;
  /** the previous plugin's result in a chain (kept as given, shaped on output) */
  prevResult?: Record<string, unknown>;
  /** GC: the attachments that are still valid */
  validAttachments?: Attachment[];
  /** where berth's state is, for runtimes that scrub the environment (conmon) */
  berthRoot?: string;
  berthRun?: string;
  /** the bandwidth capability (or the conf's own keys): bits per second and bits */
  bandwidth?: Bandwidth;
  /** the warm engine (src/cni/warm-engine.ts): off, or its idle period */
  engine: EngineSetting;
  /** the dns capability (or the conf's own dns): what the runtime asks the result to carry */
  dns?: { servers?: string[]; searches?: string[]; options?: string[]; domain?: string };
}

/** Whether a daemonless call leaves a warm engine for the next ones, and for how long it idles. */
export type EngineSetting = { off: true } | { off: false; idleSeconds: number };
export const ENGINE_IDLE_DEFAULT = 30;

/** ingress: to the sandbox; egress: from it (the reference bandwidth plugin's sense). */
export type Bandwidth = SandboxBandwidth;

type Json = Record<string, unknown>;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const invalid = (message: string, details = ''): CniError => new CniError(CNI_CODES.invalidConfig, message, details);

/** The raw JSON object on stdin ({} when empty). */
export function decodeConf(text: string): Json {
  let value: unknown;
  try {
    value = text.trim() ? JSON.parse(text) : {};
  } catch (err) {
    throw new CniError(CNI_CODES.decodeFailure, 'cannot decode the network configuration on stdin', (err as Error).message);
  }
  if (!isObject(value)) throw new CniError(CNI_CODES.decodeFailure, 'the network configuration on stdin is not a JSON object');
  return value;
}

/** The cniVersion, checked to be one this plugin speaks. */
export function confVersion(raw: Json): string {
  const v = raw.cniVersion;
  if (v === undefined || v === '') throw invalid('the network configuration has no "cniVersion"', `supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  if (typeof v !== 'string') throw invalid(`invalid "cniVersion" ${JSON.stringify(v)}: expected a string`);
  if (!SUPPORTED_VERSIONS.includes(v)) throw new CniError(CNI_CODES.incompatibleVersion, `incompatible CNI version "${v}"`, `supported: ${SUPPORTED_VERSIONS.join(', ')}`);
  return v;
}

/** runtimeConfig.ips (podman --ip): addresses with or without a prefix, one per family. */
function toStaticIps(ips: readonly string[], where = '"runtimeConfig.ips"'): { ip?: string; ip6?: string } {
  const out: { ip?: string; ip6?: string } = {};
  for (const entry of ips) {
    const addr = entry.split('/')[0] ?? '';
    const family = isIP(addr);
    const key = family === 4 ? 'ip' : 'ip6';
    if (out[key]) throw invalid(`invalid ${where}: two IPv${family} addresses ("${out[key]}", "${addr}"): one per family`);
    out[key] = addr;
  }
  return out;
}

type PortMappingInput = NonNullable<NonNullable<ConfInput['runtimeConfig']>['portMappings']>[number];
const toBinding = (m: PortMappingInput): PortBinding => ({ hostIp: m.hostIP || undefined, hostPort: m.hostPort, containerPort: m.containerPort, proto: (m.protocol ?? 'tcp').toLowerCase() as PortBinding['proto'] });

/** A rate needs its burst and a burst its rate (as the reference plugin); both 0 or absent: not shaped. */
function toBandwidth(bw: z.infer<typeof bandwidthSchema>, where: string): Bandwidth | undefined {
  const out: Bandwidth = {};
  for (const dir of ['ingress', 'egress'] as const) {
    const rate = bw[`${dir}Rate`] ?? 0;
    const burst = bw[`${dir}Burst`] ?? 0;
    if (!rate && !burst) continue;
    if (!rate || !burst) throw invalid(`invalid "${where}.${dir}${rate ? 'Burst' : 'Rate'}" ${rate ? burst : rate}: "${dir}Rate" and "${dir}Burst" go together`, 'a rate in bits per second and a burst in bits, both above 0');
    out[dir] = { rate, burst };
  }
  if (!out.ingress && !out.egress) return undefined;
  // what no link can honour, refused before anything is made (the frame size is checked on the link)
  const problems = bandwidthProblems(out);
  if (problems.length) throw invalid(`invalid "${where}": ${problems.join('; ')}`);
  return out;
}

/** What berth reads from CNI_ARGS: the runtime's name for the sandbox, a static address per family and a MAC (podman's --ip, --mac-address). */
export interface CniArgs {
  pod?: string;
  ip?: string;
  ip6?: string;
  mac?: string;
}

const KNOWN_ARGS = ['IgnoreUnknown', 'K8S_POD_NAMESPACE', 'K8S_POD_NAME', 'K8S_POD_INFRA_CONTAINER_ID', 'K8S_POD_UID', 'IP', 'MAC'];
const badArg = (message: string): CniError => new CniError(CNI_CODES.invalidEnv, message);

/** CNI_ARGS ("K=V;K=V"), the conventions' keys. A bad pair or value is code 4. */
export function cniArgsOf(cniArgs: string | undefined): CniArgs {
  const args = new Map<string, string>();
  for (const pair of (cniArgs ?? '').split(';').filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw badArg(`invalid CNI_ARGS pair "${pair}": expected KEY=VALUE pairs separated by ";"`);
    args.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  const ignoreUnknown = ['1', 'true'].includes((args.get('IgnoreUnknown') ?? '').toLowerCase());
  const unknown = [...args.keys()].filter((k) => !KNOWN_ARGS.includes(k));
  if (unknown.length && !ignoreUnknown) throw new CniError(CNI_CODES.invalidEnv, `unknown CNI_ARGS key "${unknown.join('", "')}"`, `accepted: ${KNOWN_ARGS.join(', ')} (or IgnoreUnknown=1)`);
  const out: CniArgs = {};
  const pod = args.get('K8S_POD_NAME');
  if (pod) {
    if (!ALIAS.test(pod)) throw badArg(`invalid CNI_ARGS K8S_POD_NAME "${pod}": expected a name of letters, digits, "_", "." and "-"`);
    out.pod = pod;
  }
  for (const entry of (args.get('IP') ?? '').split(',').filter((e) => e !== '')) {
    const addr = entry.split('/')[0] ?? '';
    const family = isIP(addr);
    if (!family) throw badArg(`invalid CNI_ARGS IP "${entry}": expected IPv4 or IPv6 addresses, comma-separated`);
    const key = family === 4 ? 'ip' : 'ip6';
    if (out[key]) throw badArg(`invalid CNI_ARGS IP: two IPv${family} addresses ("${out[key]}", "${addr}"): one per family`);
    out[key] = addr;
  }
  const mac = args.get('MAC');
  if (mac) {
    if (!MAC_ADDR.test(mac) || parseInt(mac.slice(0, 2), 16) & 1 || /^(00:){5}00$/.test(mac)) throw badArg(`invalid CNI_ARGS MAC "${mac}": expected a unicast MAC address like 02:42:ac:11:00:02`);
    out.mac = mac.toLowerCase();
  }
  return out;
}

const MAC_ADDR = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** The whole configuration of an ADD, DEL, CHECK, STATUS or GC. */
export function parseConf(raw: Json): NetConf {
  const cniVersion = confVersion(raw);
  const c = decodeConfSchema(raw);
  const rc = c.runtimeConfig ?? {};
  const conf: NetConf = {
    cniVersion,
    name: c.name ?? '',
    network: c.network ?? 'bridge',
    publish: (rc.portMappings ?? []).map(toBinding),
    ...toStaticIps(rc.ips ?? []),
    // podman keys the list by the CNI network's name (the conf's name)
    aliases: Array.isArray(rc.aliases) ? rc.aliases : (rc.aliases?.[c.name ?? ''] ?? []),
    hostPortRelay: c.hostPortRelay !== false,
    engine: c.engine === 'off' ? { off: true } : { off: false, idleSeconds: c.engine?.idleSeconds ?? ENGINE_IDLE_DEFAULT },
  };
  if (rc.mac) conf.mac = rc.mac.toLowerCase();
  if (c.prevResult) conf.prevResult = c.prevResult;
  const valid = c['cni.dev/valid-attachments'];
  if (valid) conf.validAttachments = valid.map((a) => ({ containerId: a.containerID, ifname: a.ifname }));
  if (c.berthRoot) conf.berthRoot = c.berthRoot;
  if (c.berthRun) conf.berthRun = c.berthRun;
  // the runtime's per-sandbox limit wins over the conf's
  const bandwidth = rc.bandwidth ? toBandwidth(rc.bandwidth, 'runtimeConfig.bandwidth') : c.bandwidth ? toBandwidth(c.bandwidth, 'bandwidth') : undefined;
  if (bandwidth) conf.bandwidth = bandwidth;
  const dns: NetConf['dns'] = {
    ...(rc.dns?.servers?.length ? { servers: rc.dns.servers } : c.dns?.nameservers?.length ? { servers: c.dns.nameservers } : {}),
    ...(rc.dns?.searches?.length ? { searches: rc.dns.searches } : c.dns?.search?.length ? { searches: c.dns.search } : {}),
    ...(rc.dns?.options?.length ? { options: rc.dns.options } : c.dns?.options?.length ? { options: c.dns.options } : {}),
    ...(c.dns?.domain ? { domain: c.dns.domain } : {}),
  };
  if (Object.keys(dns).length) conf.dns = dns;
  return conf;
}
