// The CNI conf on stdin as a zod schema: every field berth reads, typed and checked, and no
// other. A bad or unknown field is a CniError (code 7) naming the field, the problem and what is
// accepted. Kept apart from conf.ts, which turns the decoded value into berth's NetConf.
import { isIP } from 'node:net';
import { z } from 'zod';
import { CNI_CODES, CniError } from './errors.js';

/** A name the sandbox answers to (runtimeConfig aliases, K8S_POD_NAME): DNS-label characters. */
export const ALIAS = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i;

const nonEmpty = z.string().min(1, { message: 'expected a non-empty string' });
const absolutePath = nonEmpty.refine((v) => v.startsWith('/'), { message: 'expected an absolute path' });
const port = z.int({ message: 'expected 1-65535' }).min(1, { message: 'expected 1-65535' }).max(65535, { message: 'expected 1-65535' });

const portMapping = z.strictObject({
  hostPort: port,
  containerPort: port,
  protocol: z
    .string({ message: 'expected tcp, udp or sctp' })
    .refine((p) => ['tcp', 'udp', 'sctp'].includes(p.toLowerCase()), { message: 'expected tcp, udp or sctp' })
    .optional(),
  hostIP: z.string().refine((a) => a === '' || isIP(a) !== 0, { message: 'expected an IPv4 or IPv6 address' }).optional(),
});

export const macSchema = z
  .string({ message: 'expected a MAC address like 02:42:ac:11:00:02' })
  .refine((m) => m === '' || MAC.test(m), { message: 'expected a MAC address like 02:42:ac:11:00:02' })
  .refine((m) => m === '' || !(parseInt(m.slice(0, 2), 16) & 1), { message: 'a multicast MAC (first octet odd); expected a unicast one' })
  .refine((m) => !/^(00:){5}00$/i.test(m), { message: 'the zero MAC; expected a unicast one' });

export const staticIpSchema = z.string().refine((e) => isIP(e.split('/')[0] ?? '') !== 0, { message: 'expected an IPv4 or IPv6 address (a /prefix is allowed)' });

/** Bits per second and bits, as the reference bandwidth plugin takes them (0 or absent: not shaped). */
const bits = z.int({ message: 'expected a whole number of bits (per second for a rate)' }).min(0, { message: 'expected 0 or more' });
export const bandwidthSchema = z.strictObject({ ingressRate: bits.optional(), ingressBurst: bits.optional(), egressRate: bits.optional(), egressBurst: bits.optional() });

const stringList = z.array(z.string({ message: 'expected a string' }), { message: 'expected a list of strings' });
/** runtimeConfig.dns (the `dns` capability): what the runtime wants in the sandbox's resolv.conf. */
const runtimeDns = z.strictObject({
  servers: z.array(z.string().refine((s) => isIP(s) !== 0, { message: 'expected an IPv4 or IPv6 address' }), { message: 'expected a list of addresses' }).optional(),
  searches: stringList.optional(),
  options: stringList.optional(),
});
/** A conf-level `dns` (the spec's network configuration DNS). */
const confDns = z.strictObject({ nameservers: stringList.optional(), domain: z.string().optional(), search: stringList.optional(), options: stringList.optional() });

/**
 * The warm CNI engine (src/cni/warm-engine.ts): "off", or how long it stays up after its last call.
 * A day at most: an engine left up longer is a daemon, which `berth daemon` is for.
 */
export const ENGINE_IDLE_MAX = 86_400;
const engineSchema = z.union(
  [
    z.literal('off'),
    z.strictObject({
      // a refinement, not z.int: a wrong number is then this field's error, not the union's
      idleSeconds: z
        .number({ message: `expected a whole number of seconds, 1-${ENGINE_IDLE_MAX}` })
        .refine((v) => Number.isInteger(v) && v >= 1 && v <= ENGINE_IDLE_MAX, { message: `expected a whole number of seconds, 1-${ENGINE_IDLE_MAX}` })
        .optional(),
    }),
  ],
  { message: 'expected "off" or {"idleSeconds": N}' },
);

const aliasList = z.array(z.string().regex(ALIAS, { message: 'expected a name of letters, digits, "_", "." and "-"' }), { message: 'expected a list of names' });

export const runtimeConfigSchema = z.strictObject({
  portMappings: z.array(portMapping, { message: 'expected a list of {hostPort, containerPort, protocol, hostIP}' }).nullish(),
  ips: z.array(staticIpSchema, { message: 'expected a list of addresses' }).nullish(),
  mac: macSchema.nullish(),
  // a list, or (podman, the dnsname convention) lists by network name: {"<conf name>": [names]}
  aliases: z.union([aliasList, z.record(z.string(), aliasList)], { message: 'expected a list of names, or an object of such lists by network name' }).nullish(),
  bandwidth: bandwidthSchema.nullish(),
  dns: runtimeDns.nullish(),
});

const attachment = z.object({ containerID: z.string({ message: 'expected {"containerID": ..., "ifname": ...}' }), ifname: z.string({ message: 'expected {"containerID": ..., "ifname": ...}' }) }, { message: 'expected {"containerID": ..., "ifname": ...}' });

/** The keys berth reads; `cni.dev/*` keys (the spec's reserved namespace) pass unread. */
const known = {
  cniVersion: z.string(),
  cniVersions: z.array(z.string()).optional(),
  name: nonEmpty.nullish(),
  type: nonEmpty.nullish(),
  /** the berth network to join, by name or id */
  network: nonEmpty.nullish(),
  berthRoot: absolutePath.nullish(),
  berthRun: absolutePath.nullish(),
  /** the daemon's API socket, for runtimes that scrub the environment (the native plugin reads it) */
  berthSocket: absolutePath.nullish(),
  /** false: the runtime binds the published host ports itself (podman's conmon holds them), so no relay of berth's does */
  hostPortRelay: z.boolean({ message: 'expected true or false' }).optional(),
  /** the warm engine that serves later daemonless calls: "off", or {"idleSeconds": N} (default 30) */
  engine: engineSchema.optional(),
  /** a conf-level rate limit for every sandbox on this conf, as the reference plugin's keys */
  bandwidth: bandwidthSchema.nullish(),
  dns: confDns.nullish(),
  /**
   * The spec's ipam section, read by runtimes, not by berth: the berth network's own IPAM gives
   * the addresses (podman 4 learns a network's subnets from a host-local section, to check --ip).
   */
  ipam: z.record(z.string(), z.unknown(), { message: 'expected an object' }).optional(),
  capabilities: z.record(z.string(), z.boolean({ message: 'expected true or false' })).optional(),
  args: z.record(z.string(), z.unknown()).optional(),
  runtimeConfig: runtimeConfigSchema.nullish(),
  prevResult: z.record(z.string(), z.unknown(), { message: 'expected a result object' }).optional(),
  'cni.dev/valid-attachments': z.array(attachment, { message: 'expected a list of {"containerID": ..., "ifname": ...}' }).optional(),
};

export const confSchema = z.object(known).catchall(z.unknown()).superRefine((conf, ctx) => {
  const unknown = Object.keys(conf).filter((k) => !(k in known) && !k.startsWith('cni.dev/'));
  if (unknown.length) ctx.addIssue({ code: 'unrecognized_keys', keys: unknown, input: conf, message: '' });
});

export type ConfInput = z.infer<typeof confSchema>;

/** `runtimeConfig.portMappings[0].hostPort` from zod's path. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '');
}

function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

/** The keys an object at this path accepts, for "unknown field" messages. */
function acceptedAt(path: readonly PropertyKey[]): string {
  const where = fieldPath(path.filter((k) => typeof k === 'string'));
  const keys: Record<string, string[]> = {
    '': [...Object.keys(known), 'cni.dev/*'],
    runtimeConfig: Object.keys(runtimeConfigSchema.shape),
    'runtimeConfig.portMappings': Object.keys(portMapping.shape),
    'runtimeConfig.bandwidth': Object.keys(bandwidthSchema.shape),
    bandwidth: Object.keys(bandwidthSchema.shape),
    'runtimeConfig.dns': Object.keys(runtimeDns.shape),
    engine: ['idleSeconds'],
    dns: Object.keys(confDns.shape),
  };
  return (keys[where] ?? []).join(', ');
}

const EXPECTED: Record<string, string> = { string: 'a string', boolean: 'true or false', number: 'a number', int: 'an integer', array: 'a list', object: 'an object', record: 'an object' };

/** Decode the conf; a CniError (7) names the first bad field, what it is and what is accepted. */
export function decodeConfSchema(raw: Record<string, unknown>): ConfInput {
  const r = confSchema.safeParse(raw, { reportInput: true });
  if (r.success) return r.data;
  const issue = r.error.issues[0] as z.core.$ZodIssue;
  const field = fieldPath(issue.path);
  const where = field ? `"${field}"` : 'the network configuration';
  if (issue.code === 'unrecognized_keys') {
    const keys = issue.keys.map((k) => `"${field ? `${field}.` : ''}${k}"`).join(', ');
    throw new CniError(CNI_CODES.invalidConfig, `unknown field ${keys} in ${where}`, `accepted: ${acceptedAt(issue.path)}`);
  }
  if (issue.code === 'invalid_type' && issue.message.startsWith('Invalid input')) {
    const got = issue.input === undefined ? 'missing' : shown(issue.input);
    throw new CniError(CNI_CODES.invalidConfig, `invalid ${where} ${got}: expected ${EXPECTED[issue.expected] ?? issue.expected}`);
  }
  throw new CniError(CNI_CODES.invalidConfig, `invalid ${where} ${issue.input === undefined ? '(missing)' : shown(issue.input)}: ${issue.message}`);
}
