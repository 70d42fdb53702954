// berth-cni: the CNI front end (spec 1.0/1.1: ADD, DEL, CHECK, VERSION, STATUS). A runtime
// hands over a network namespace; berth plugs it into a berth network. Parse, call, format.
// runCni serves the plugin process (src/cni-main.ts) and the daemon, for the thin client (src/cni/gateway.ts).
import { BerthError, UserError } from '../common/errors.js';
import type { Engine } from '../engine/context.js';
import type { SandboxAttachment } from '../engine/sandboxes.js';
import type { PortBinding } from '../portmap/index.js';

const SUPPORTED = ['0.4.0', '1.0.0', '1.1.0'];

interface PortMapping {
  hostPort: number;
  containerPort: number;
  protocol?: string;
  hostIP?: string;
}

interface NetConf {
  cniVersion?: string;
  name?: string;
  type?: string;
  /** the berth network to join; default "bridge" */
  network?: string;
  runtimeConfig?: { portMappings?: PortMapping[] };
}

/** CNI error codes (SPEC.md): 4 invalid env, 6 decode failure, 7 invalid config, 11 try again. */
class CniError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly details = '',
  ) {
    super(message);
  }
}

export type CniEnv = Record<string, string | undefined>;

function envVar(env: CniEnv, name: string, required: boolean): string {
  const v = env[name] ?? '';
  if (required && !v) throw new CniError(4, `${name} is not set`, `CNI_COMMAND=${env.CNI_COMMAND ?? ''} needs ${name}`);
  return v;
}

function parseConf(text: string): NetConf {
  try {
    return text.trim() ? (JSON.parse(text) as NetConf) : {};
  } catch (err) {
    throw new CniError(6, 'cannot decode the network configuration on stdin', (err as Error).message);
  }
}

function toBindings(maps: PortMapping[] | undefined): PortBinding[] {
  return (maps ?? []).map((m) => {
    const proto = (m.protocol ?? 'tcp').toLowerCase();
    if (proto !== 'tcp' && proto !== 'udp' && proto !== 'sctp') {
      throw new CniError(7, `invalid portMappings protocol "${m.protocol}": expected tcp, udp or sctp`);
    }
    for (const [what, port] of [['hostPort', m.hostPort], ['containerPort', m.containerPort]] as const) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) throw new CniError(7, `invalid portMappings ${what} "${port}": expected 1-65535`);
    }
    return { hostIp: m.hostIP || undefined, hostPort: m.hostPort, containerPort: m.containerPort, proto };
  });
}

function result(version: string, a: SandboxAttachment, ifname: string, netns: string): unknown {
  const subnet = a.network.subnets.find((s) => !s.subnet.includes(':'));
  return {
    cniVersion: version,
    interfaces: [
      { name: a.hostIfname },
      { name: ifname, mac: a.endpoint.mac ?? undefined, sandbox: netns },
    ],
    ips: a.endpoint.addresses.map((address) => ({ ...(version === '0.4.0' ? { version: '4' } : {}), address, gateway: subnet?.gateway, interface: 1 })),
    routes: subnet?.gateway ? [{ dst: '0.0.0.0/0', gw: subnet.gateway }] : [],
    dns: {},
  };
}

async function handle(engine: () => Engine, env: CniEnv, stdin: string, out: (text: string) => void): Promise<void> {
  const command = envVar(env, 'CNI_COMMAND', true);
  if (command === 'VERSION') {
    out(`${JSON.stringify({ cniVersion: '1.1.0', supportedVersions: SUPPORTED })}\n`);
    return;
  }
  const conf = parseConf(stdin);
  const version = conf.cniVersion ?? '1.0.0';
  if (!SUPPORTED.includes(version)) throw new CniError(1, `incompatible CNI version "${version}"`, `supported: ${SUPPORTED.join(', ')}`);
  const network = conf.network ?? 'bridge';
  const { attachSandbox, detachSandbox, checkSandbox } = await import('../engine/sandboxes.js');
  if (command === 'STATUS') return;
  const containerId = envVar(env, 'CNI_CONTAINERID', true);
  const ifname = envVar(env, 'CNI_IFNAME', true);
  switch (command) {
    case 'ADD': {
      const netns = envVar(env, 'CNI_NETNS', true);
      const a = await attachSandbox(engine(), { containerId, netns, ifname, network, publish: toBindings(conf.runtimeConfig?.portMappings) });
      out(`${JSON.stringify(result(version, a, ifname, netns))}\n`);
      return;
    }
    case 'DEL':
      // best effort and idempotent: succeed even if the netns or the endpoint is gone
      await detachSandbox(engine(), containerId, ifname);
      return;
    case 'CHECK':
      await checkSandbox(engine(), containerId, ifname, envVar(env, 'CNI_NETNS', true));
      return;
    default:
      throw new CniError(4, `unknown CNI_COMMAND "${command}": expected ADD, DEL, CHECK, VERSION or STATUS`);
  }
}

/** One plugin call: CNI_* variables and the configuration on stdin; what to print and the exit status. */
export async function runCni(engine: () => Engine, env: CniEnv, stdin: string): Promise<{ stdout: string; status: number }> {
  let stdout = '';
  const out = (text: string) => void (stdout += text);
  try {
    // the engine (and its store) is opened only by the commands that need it, not by VERSION
    await handle(engine, env, stdin, out);
    return { stdout, status: 0 };
  } catch (err) {
    const code = err instanceof CniError ? err.code : err instanceof UserError ? 7 : err instanceof BerthError ? 11 : 999;
    const msg = err instanceof Error ? err.message : String(err);
    const details = err instanceof CniError ? err.details : '';
    return { stdout: `${JSON.stringify({ cniVersion: '1.1.0', code, msg, details })}\n`, status: 1 };
  }
}
