// The files a container sees as /etc/hosts, /etc/resolv.conf and /etc/hostname, written under
// $BERTH_RUN/containers/<id>/ and bind-mounted by berth-init.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export interface SandboxFiles {
  hosts: string;
  resolvConf: string;
  hostname: string;
}

const HOSTS_HEADER = [
  '127.0.0.1\tlocalhost',
  '::1\tlocalhost ip6-localhost ip6-loopback',
  'fe00::0\tip6-localnet',
  'ff00::0\tip6-mcastprefix',
  'ff02::1\tip6-allnodes',
  'ff02::2\tip6-allrouters',
];

/**
 * resolv.conf as Docker writes it: on user-defined networks the embedded resolver (here: the
 * network's gateway, where the daemon answers) with ndots:0, the --dns servers becoming its
 * upstreams; on the default bridge the --dns servers, or the host's minus loopback resolvers.
 */
export function resolvConfFor(hostResolvConf: string, dns: readonly string[], embedded?: string): string {
  if (embedded) return `nameserver ${embedded}\noptions ndots:0\n`;
  if (dns.length) return `${dns.map((ip) => `nameserver ${ip}`).join('\n')}\n`;
  const lines = hostResolvConf
    .split('\n')
    .filter((l) => !/^\s*nameserver\s+(127\.|::1\b)/.test(l));
  return `${lines.join('\n').trimEnd()}\n`;
}

export function hostsFor(hostname: string, addresses: readonly string[]): string {
  const own = addresses.map((a) => `${a.split('/')[0]}\t${hostname}`);
  return `${[...HOSTS_HEADER, ...own].join('\n')}\n`;
}

export function writeSandboxFiles(dir: string, opts: { hostname: string; addresses: string[]; dns: string[]; embeddedDns?: string }): SandboxFiles {
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  let hostResolv = '';
  try {
    hostResolv = readFileSync('/etc/resolv.conf', 'utf8');
  } catch {
    // no resolv.conf on the host: the container gets an empty one
  }
  const files = { hosts: join(dir, 'hosts'), resolvConf: join(dir, 'resolv.conf'), hostname: join(dir, 'hostname') };
  writeFileSync(files.hosts, hostsFor(opts.hostname, opts.addresses), { mode: 0o644 });
  writeFileSync(files.resolvConf, resolvConfFor(hostResolv, opts.dns, opts.embeddedDns), { mode: 0o644 });
  writeFileSync(files.hostname, `${opts.hostname}\n`, { mode: 0o644 });
  return files;
}
