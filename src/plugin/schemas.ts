// Bodies of Docker's remote plugin calls (moby libnetwork drivers/remote/api, ipams/remote/api) as
// zod schemas. Fields Docker leaves unset may come as null or be absent; unknown fields are
// ignored (newer dockerds add some). A wrong type answers an error naming the field.
import { z } from 'zod';
import { UserError } from '../common/errors.js';

const id = () => z.string().min(1);
const optStr = () => z.string().nullish().transform((v) => v ?? '');
/** Docker's free-form option maps: values of any JSON type */
const anyMap = () => z.record(z.string(), z.unknown()).nullish().transform((v) => v ?? {});

const IpamData = z.object({
  AddressSpace: optStr(),
  Pool: z.string().min(1),
  Gateway: optStr(),
  AuxAddresses: z.record(z.string(), z.string()).nullish().transform((v) => v ?? {}),
});

export const CreateNetworkBody = z.object({
  NetworkID: id(),
  Options: anyMap(),
  IPv4Data: z.array(IpamData).nullish().transform((v) => v ?? []),
  IPv6Data: z.array(IpamData).nullish().transform((v) => v ?? []),
});

export const NetworkIdBody = z.object({ NetworkID: id() });
export const EndpointIdBody = z.object({ NetworkID: id(), EndpointID: id() });

export const CreateEndpointBody = z.object({
  NetworkID: id(),
  EndpointID: id(),
  Options: anyMap(),
  Interface: z.object({ Address: optStr(), AddressIPv6: optStr(), MacAddress: optStr() }).nullish(),
});

export const JoinBody = z.object({ NetworkID: id(), EndpointID: id(), SandboxKey: z.string().min(1), Options: anyMap() });
export const ExternalConnectivityBody = z.object({ NetworkID: id(), EndpointID: id(), Options: anyMap() });
export const DiscoveryBody = z.object({ DiscoveryType: z.number().int(), DiscoveryData: z.unknown() });

/** One element of com.docker.network.portmap (libnetwork types.PortBinding). */
export const PortBindingBody = z.object({
  Proto: z.number().int(),
  IP: optStr(),
  Port: z.number().int().min(1).max(65535),
  HostIP: optStr(),
  HostPort: z.number().int().min(0).max(65535).nullish().transform((v) => v ?? 0),
  HostPortEnd: z.number().int().min(0).max(65535).nullish().transform((v) => v ?? 0),
});
export const PortMapBody = z.array(PortBindingBody).nullish().transform((v) => v ?? []);
/** com.docker.network.generic: the user's `-o KEY=VALUE` */
export const GenericOptions = z.record(z.string(), z.string()).nullish().transform((v) => v ?? {});

export const RequestPoolBody = z.object({
  AddressSpace: optStr(),
  Pool: optStr(),
  SubPool: optStr(),
  Options: z.record(z.string(), z.string()).nullish().transform((v) => v ?? {}),
  V6: z.boolean().nullish().transform((v) => v ?? false),
});
export const PoolIdBody = z.object({ PoolID: z.string().min(1) });
export const RequestAddressBody = z.object({
  PoolID: z.string().min(1),
  Address: optStr(),
  Options: z.record(z.string(), z.string()).nullish().transform((v) => v ?? {}),
});
export const ReleaseAddressBody = z.object({ PoolID: z.string().min(1), Address: z.string().min(1) });

function fieldPath(prefix: string, path: readonly PropertyKey[]): string {
  return path.reduce<string>((acc, k) => (typeof k === 'number' ? `${acc}[${k}]` : acc ? `${acc}.${String(k)}` : String(k)), prefix) || 'body';
}

/** Decode a body or throw a UserError naming the field, what came and what is accepted. */
export function decode<T extends z.ZodType>(schema: T, body: unknown, prefix = ''): z.output<T> {
  const r = schema.safeParse(body);
  if (r.success) return r.data;
  const issue = r.error.issues[0];
  const field = fieldPath(prefix, issue?.path ?? []);
  throw new UserError(`invalid ${field}: ${issue?.message ?? 'malformed'}`);
}
