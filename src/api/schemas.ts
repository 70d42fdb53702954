// Request bodies of the API as zod schemas: the one description that both decodes requests
// (a wrong type is a 400 naming the field, the type received and what is accepted; unknown
// fields are ignored, as Docker ignores them) and feeds the OpenAPI document. Docker clients
// send null for fields they leave unset (docker-py: "IPAM": null), so optional fields are nullish.
import { z } from 'zod';
import { UserError } from '../common/errors.js';

const str = () => z.string().nullish();
const bool = () => z.boolean().nullish();
const strMap = () => z.record(z.string(), z.string()).nullish();
const strList = () => z.array(z.string()).nullish();

const IpamConfig = z.object({
  Subnet: str(),
  Gateway: str(),
  IPRange: str(),
  AuxiliaryAddresses: strMap(),
});

export const NetworkCreateBody = z.object({
  Name: z.string().min(1),
  Driver: str(),
  Scope: str(),
  Internal: bool(),
  Attachable: bool(),
  Ingress: bool(),
  ConfigOnly: bool(),
  ConfigFrom: z.object({ Network: str() }).nullish(),
  EnableIPv4: bool(),
  EnableIPv6: bool(),
  CheckDuplicate: bool(),
  IPAM: z.object({ Driver: str(), Config: z.array(IpamConfig).nullish(), Options: strMap() }).nullish(),
  Options: strMap(),
  Labels: strMap(),
});

const EndpointIpamConfig = z.object({ IPv4Address: str(), IPv6Address: str(), LinkLocalIPs: strList() });

const EndpointSettings = z.object({
  IPAMConfig: EndpointIpamConfig.nullish(),
  Links: strList(),
  Aliases: strList(),
  MacAddress: str(),
  DriverOpts: strMap(),
  GwPriority: z.int().nullish(),
});

export const NetworkConnectBody = z.object({
  Container: z.string().min(1),
  EndpointConfig: EndpointSettings.nullish(),
});

export const NetworkDisconnectBody = z.object({
  Container: z.string().min(1),
  Force: bool(),
});

const PortBinding = z.object({ HostIp: str(), HostPort: str() });

/** Docker's StrSlice: a string or a list of strings. */
const StrSlice = z.union([z.string(), z.array(z.string())]).nullish();

export const ContainerCreateBody = z.object({
  Image: str(),
  Cmd: StrSlice,
  Entrypoint: StrSlice,
  Hostname: str(),
  Domainname: str(),
  User: str(),
  Env: strList(),
  WorkingDir: str(),
  Tty: bool(),
  OpenStdin: bool(),
  Labels: strMap(),
  MacAddress: str(),
  ExposedPorts: z.record(z.string(), z.object({})).nullish(),
  Volumes: z.record(z.string(), z.object({})).nullish(),
  HostConfig: z
    .object({
      NetworkMode: str(),
      PortBindings: z.record(z.string(), z.array(PortBinding).nullish()).nullish(),
      PublishAllPorts: bool(),
      AutoRemove: bool(),
      Dns: strList(),
      DnsOptions: strList(),
      DnsSearch: strList(),
      ExtraHosts: strList(),
      Binds: strList(),
      Links: strList(),
      Privileged: bool(),
      PidMode: str(),
      IpcMode: str(),
      UTSMode: str(),
      CapAdd: strList(),
      RestartPolicy: z.object({ Name: str(), MaximumRetryCount: z.int().nullish() }).nullish(),
    })
    .nullish(),
  NetworkingConfig: z.object({ EndpointsConfig: z.record(z.string(), EndpointSettings.nullish()).nullish() }).nullish(),
});

/** berth's own routes: the thin client's command line, its report after a run hand-over, a CNI call. */
export const CliBody = z.object({ argv: z.array(z.string()), cwd: z.string(), pid: z.int(), path: str() });
export const CliContinueBody = z.object({ token: z.string(), status: z.int() });
export const CniBody = z.object({ env: z.record(z.string(), z.string()), stdin: z.string(), pid: z.int().positive().optional() });

export type NetworkCreate = z.infer<typeof NetworkCreateBody>;
export type NetworkConnect = z.infer<typeof NetworkConnectBody>;
export type ContainerCreate = z.infer<typeof ContainerCreateBody>;

/** `IPAM.Config[0].Subnet` from zod's path. */
function fieldPath(path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), '') || 'body';
}

function typeOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/** A value for a message: short JSON, never raw control bytes. */
function shown(v: unknown): string {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 60)}…` : text;
}

const EXPECTED: Record<string, string> = {
  string: 'a string',
  boolean: 'true or false',
  number: 'a number',
  int: 'an integer',
  array: 'a list',
  object: 'an object',
  record: 'an object of string values',
};

/** Decode a body against a schema; a UserError (400) names the first bad field, its type and what is accepted. */
export function decodeBody<S extends z.ZodType>(schema: S, body: unknown, what: string): z.infer<S> {
  const r = schema.safeParse(body, { reportInput: true });
  if (r.success) return r.data;
  let issue = r.error.issues[0] as z.core.$ZodIssue;
  // a union (Cmd: a string or a list of strings): report the branch that got deepest, so that
  // ["sleep", 600] names Cmd[1]
  if (issue.code === 'invalid_union') {
    const union = issue;
    const deepest = union.errors.map((branch) => branch[0]).filter((b): b is z.core.$ZodIssue => b !== undefined && b.path.length > 0).sort((a, b) => b.path.length - a.path.length)[0];
    if (deepest) issue = { ...deepest, path: [...union.path, ...deepest.path] };
  }
  const field = fieldPath(issue.path);
  if (issue.code === 'invalid_type') {
    const got = issue.input === undefined ? 'missing' : `${typeOf(issue.input)} ${shown(issue.input)}`;
    throw new UserError(`invalid ${what} body: ${field} is ${got}; expected ${EXPECTED[issue.expected] ?? issue.expected}`);
  }
  if (issue.code === 'invalid_union') {
    throw new UserError(`invalid ${what} body: ${field} is ${typeOf(issue.input)} ${shown(issue.input)}; expected a string or a list of strings`);
  }
  if (issue.code === 'too_small') throw new UserError(`invalid ${what} body: ${field} is required and must not be empty`);
  throw new UserError(`invalid ${what} body: ${field}: ${issue.message}`);
}

/** Unset in Docker's sense: null, false, "", an empty list, or an object of such values (clients send {"Links": null, …}). */
export function isDefault(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === '') return true;
  if (Array.isArray(v)) return v.length === 0;
  if (typeof v === 'object') return Object.values(v).every(isDefault);
  return false;
}

/**
 * Docker fields berth cannot honour: a non-default value is refused, naming them, rather than
 * silently ignored. `value` is the decoded value; empty strings, lists, objects, false and null
 * are defaults.
 */
export function refuseUnsupported(what: string, fields: Record<string, unknown>, why: Record<string, string> = {}): void {
  const bad = Object.entries(fields).filter(([, v]) => !isDefault(v));
  if (bad.length) {
    const list = bad.map(([k, v]) => `${k}=${shown(v)}${why[k] ? ` (${why[k]})` : ''}`).join(', ');
    throw new UserError(`${what}: berth cannot honour ${list}; leave ${bad.length > 1 ? 'them' : 'it'} unset`);
  }
}

/** JSON Schema of a request body for the OpenAPI document (as clients may send it). */
export function jsonSchemaOf(schema: z.ZodType): Record<string, unknown> {
  return z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
}
