// The network configuration on stdin, validated at the edge into a typed value (CNI spec 1.1
// and the versions runtimes still send). Bad input is a CniError naming the value.
import { isIP } from 'node:net';
import type { PortBinding } from '../portmap/index.js';
import { CNI_CODES, CniError } from './errors.js';

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
  /** the previous plugin's result in a chain (kept as given, shaped on output) */
  prevResult?: Record<string, unknown>;
  /** GC: the attachments that are still valid */
  validAttachments?: Attachment[];
  /** where berth's state is, for runtimes that scrub the environment (conmon) */
  berthRoot?: string;
  berthRun?: string;
  /** "hostPortRelay": false when the runtime binds the published host ports itself (podman does, for the container's life) */
  hostPortRelay: boolean;
}

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

function optString(raw: Json, key: string, where = ''): string | undefined {
  const v = raw[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string' || !v) throw invalid(`invalid ${where}"${key}" ${JSON.stringify(v)}: expected a non-empty string`);
  return v;
}

function toBindings(maps: unknown): PortBinding[] {
  if (maps === undefined || maps === null) return [];
  if (!Array.isArray(maps)) throw invalid(`invalid runtimeConfig "portMappings" ${JSON.stringify(maps)}: expected an array`);
  return maps.map((m: unknown) => {
    if (!isObject(m)) throw invalid(`invalid portMappings entry ${JSON.stringify(m)}: expected an object`);
    const proto = m.protocol === undefined ? 'tcp' : typeof m.protocol === 'string' ? m.protocol.toLowerCase() : JSON.stringify(m.protocol);
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') {
      throw invalid(`invalid portMappings protocol ${JSON.stringify(m.protocol)}: expected tcp, udp or sctp`);
    }
    for (const what of ['hostPort', 'containerPort'] as const) {
      const port = m[what];
      if (!Number.isInteger(port) || (port as number) < 1 || (port as number) > 65535) throw invalid(`invalid portMappings ${what} "${String(port)}": expected 1-65535`);
    }
    const hostIP = m.hostIP;
    if (hostIP !== undefined && hostIP !== '' && (typeof hostIP !== 'string' || !isIP(hostIP))) throw invalid(`invalid portMappings hostIP ${JSON.stringify(hostIP)}: expected an IPv4 or IPv6 address`);
    return { hostIp: hostIP || undefined, hostPort: m.hostPort as number, containerPort: m.containerPort as number, proto };
  });
}

/** runtimeConfig.ips (podman --ip): addresses with or without a prefix, one per family. */
function toStaticIps(ips: unknown): { ip?: string; ip6?: string } {
  if (ips === undefined || ips === null) return {};
  if (!Array.isArray(ips)) throw invalid(`invalid runtimeConfig "ips" ${JSON.stringify(ips)}: expected an array of addresses`);
  const out: { ip?: string; ip6?: string } = {};
  for (const entry of ips) {
    const addr = typeof entry === 'string' ? (entry.split('/')[0] ?? '') : '';
    const family = isIP(addr);
    if (!family) throw invalid(`invalid runtimeConfig ips entry ${JSON.stringify(entry)}: expected an IPv4 or IPv6 address (a /prefix is allowed)`);
    const key = family === 4 ? 'ip' : 'ip6';
    if (out[key]) throw invalid(`invalid runtimeConfig ips: two IPv${family} addresses ("${out[key]}", "${addr}"): one per family`);
    out[key] = addr;
  }
  return out;
}

const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

/** runtimeConfig.mac (podman --mac-address): a unicast MAC. */
function toMac(mac: unknown): string | undefined {
  if (mac === undefined || mac === null || mac === '') return undefined;
  if (typeof mac !== 'string' || !MAC.test(mac)) throw invalid(`invalid runtimeConfig "mac" ${JSON.stringify(mac)}: expected a MAC address like 02:42:ac:11:00:02`);
  if (parseInt(mac.slice(0, 2), 16) & 1) throw invalid(`invalid runtimeConfig "mac" "${mac}": a multicast MAC (first octet odd); expected a unicast one`);
  if (/^(00:){5}00$/i.test(mac)) throw invalid(`invalid runtimeConfig "mac" "${mac}": the zero MAC`);
  return mac.toLowerCase();
}

/** A name the sandbox answers to (runtimeConfig aliases, K8S_POD_NAME): DNS-label characters. */
export const ALIAS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

function toAliases(given: unknown, network: string): string[] {
  // podman (the dnsname convention) sends {"<conf name>": [names]}: this network's entry
  const aliases = isObject(given) ? given[network] : given;
  if (aliases === undefined || aliases === null) return [];
  if (!Array.isArray(aliases)) throw invalid(`invalid runtimeConfig "aliases" ${JSON.stringify(given)}: expected an array of names, or an object of such arrays by network name`);
  for (const a of aliases) if (typeof a !== 'string' || !ALIAS.test(a)) throw invalid(`invalid runtimeConfig aliases entry ${JSON.stringify(a)}: expected a name of letters, digits, "_", "." and "-"`);
  return aliases as string[];
}

/** CNI_ARGS ("K=V;K=V"): the runtime's name for the sandbox (K8S_POD_NAME), if valid. */
export function podNameOf(cniArgs: string | undefined): string | undefined {
  for (const pair of (cniArgs ?? '').split(';')) {
    const [k, v] = pair.split('=', 2);
    if (k === 'K8S_POD_NAME' && v && ALIAS.test(v)) return v;
  }
  return undefined;
}

/** CNI_ARGS "IP=a[,b]" and "MAC=m" (how podman 4 passes --ip and --mac-address; host-local's convention), checked as runtimeConfig's. */
export function cniArgsAddressing(cniArgs: string | undefined): { ip?: string; ip6?: string; mac?: string } {
  const args = new Map((cniArgs ?? '').split(';').map((pair) => pair.split('=', 2) as [string, string | undefined]));
  const ips = args.get('IP');
  const mac = toMac(args.get('MAC'));
  return { ...(ips ? toStaticIps(ips.split(',')) : {}), ...(mac ? { mac } : {}) };
}

function toAttachments(list: unknown): Attachment[] | undefined {
  if (list === undefined) return undefined;
  if (!Array.isArray(list)) throw invalid(`invalid "cni.dev/valid-attachments" ${JSON.stringify(list)}: expected an array`);
  return list.map((a: unknown) => {
    if (!isObject(a) || typeof a.containerID !== 'string' || typeof a.ifname !== 'string') {
      throw invalid(`invalid "cni.dev/valid-attachments" entry ${JSON.stringify(a)}: expected {"containerID": ..., "ifname": ...}`);
    }
    return { containerId: a.containerID, ifname: a.ifname };
  });
}

/** The whole configuration of an ADD, DEL, CHECK, STATUS or GC. */
export function parseConf(raw: Json): NetConf {
  const cniVersion = confVersion(raw);
  const rc = raw.runtimeConfig ?? {};
  if (!isObject(rc)) throw invalid(`invalid "runtimeConfig" ${JSON.stringify(rc)}: expected an object`);
  const prev = raw.prevResult;
  if (prev !== undefined && !isObject(prev)) throw invalid(`invalid "prevResult" ${JSON.stringify(prev)}: expected a result object`);
  const conf: NetConf = {
    cniVersion,
    name: optString(raw, 'name') ?? '',
    network: optString(raw, 'network') ?? 'bridge',
    publish: toBindings(rc.portMappings),
    ...toStaticIps(rc.ips),
    aliases: toAliases(rc.aliases, optString(raw, 'name') ?? ''),
    hostPortRelay: raw.hostPortRelay !== false,
  };
  if (raw.hostPortRelay !== undefined && typeof raw.hostPortRelay !== 'boolean') throw invalid(`invalid "hostPortRelay" ${JSON.stringify(raw.hostPortRelay)}: expected true or false`);
  const mac = toMac(rc.mac);
  if (mac) conf.mac = mac;
  if (prev) conf.prevResult = prev;
  const valid = toAttachments(raw['cni.dev/valid-attachments']);
  if (valid) conf.validAttachments = valid;
  for (const key of ['berthRoot', 'berthRun'] as const) {
    const v = optString(raw, key);
    if (v === undefined) continue;
    if (!v.startsWith('/')) throw invalid(`invalid "${key}" "${v}": expected an absolute path`);
    conf[key] = v;
  }
  return conf;
}
