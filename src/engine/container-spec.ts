// A RunSpec checked before anything changes: every bad value is refused here, in a fixed order
// (the first problem is the one reported), whichever front end built the spec.
import { statSync, existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { delimiter, isAbsolute, join } from 'node:path';
import { UserError, quote } from '../common/errors.js';
import { checkUnicastMac } from '../common/mac.js';
import type { PortBinding } from '../portmap/index.js';
import type { RunSpec } from './container-types.js';
import { validateContainerName, validateHostname } from './names.js';

/** Where a command would be found, as execvp will look: inside the rootfs when there is one. */
function commandExists(cmd: string, rootfs: string | undefined, searchPath: string | undefined): boolean {
  const inRoot = (p: string) => (rootfs ? join(rootfs, p) : p);
  const isFile = (p: string) => {
    try {
      return statSync(inRoot(p)).isFile();
    } catch {
      return false;
    }
  };
  if (cmd.includes('/')) return isFile(isAbsolute(cmd) ? cmd : join('/', cmd));
  const path = searchPath || process.env.PATH || '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
  return path.split(delimiter).some((dir) => dir && isFile(join(dir, cmd)));
}

/** The spec's problems refused, and what it publishes once the network mode is taken into account. */
export function checkRunSpec(spec: RunSpec): { publish: PortBinding[]; warnings: string[] } {
  const warnings: string[] = [];
  if (spec.cmd.length === 0) throw new UserError('no command given: berth run [OPTIONS] -- CMD [ARG...]');
  if (spec.name !== undefined) validateContainerName(spec.name);
  if (spec.hostname !== undefined) validateHostname(spec.hostname);
  if (spec.mac !== undefined) checkUnicastMac(spec.mac);
  if (spec.rootfs !== undefined && !existsSync(spec.rootfs)) {
    throw new UserError(`--rootfs ${quote(spec.rootfs)} does not exist: give a directory holding the container's root file system`);
  }
  const cmd0 = spec.cmd[0] ?? '';
  if (!commandExists(cmd0, spec.rootfs, spec.path)) {
    throw new UserError(`command not found: ${quote(cmd0)} (looked in ${spec.rootfs ? `${quote(spec.rootfs)} along ` : ''}PATH); give a program that exists`);
  }
  // each becomes a `nameserver` line of resolv.conf: anything but an address could add lines
  for (const d of spec.dns) if (!isIP(d)) throw new UserError(`invalid --dns ${JSON.stringify(d)}: expected an IP address`);
  const v6 = spec.publish.find((b) => b.hostIp?.includes(':'));
  if (v6 && spec.network.kind === 'bridge') {
    throw new UserError(`cannot publish on IPv6 address "${v6.hostIp}": the default bridge network is IPv4 only; publish on an IPv4 address or on every address`);
  }
  if (spec.network.kind !== 'network' && (spec.ip || spec.ip6 || spec.aliases?.length)) {
    throw new UserError('--ip, --ip6 and --network-alias are supported on user-defined networks only');
  }
  let publish = spec.publish;
  if (spec.network.kind !== 'bridge' && spec.network.kind !== 'network' && publish.length) {
    // Docker: published ports need a network of their own
    warnings.push(`WARNING: Published ports are discarded when using ${spec.network.kind} network mode`);
    publish = [];
  }
  return { publish, warnings };
}
