// Per-namespace sysctls. /proc/sys/net shows the namespace of the thread that opens the file,
// so the open happens inside withNetns; reading and writing the open fd is then safe anywhere.
import * as fs from 'node:fs';
import { UserError } from '../common/errors.js';
import { withNetns, type NetnsTarget } from './netns.js';

const KEY = /^net\.[A-Za-z0-9_.\-/]+$/;

function pathOf(key: string): string {
  if (!KEY.test(key) || key.includes('..')) {
    throw new UserError(`invalid sysctl "${key}": berth only sets net.* keys such as net.ipv4.ip_forward`);
  }
  // dots separate levels; interface names with dots are written with '/' (sysctl(8) convention)
  return `/proc/sys/${key.replace(/\./g, '/')}`;
}

export function readSysctl(netns: NetnsTarget | null, key: string): string {
  const path = pathOf(key);
  const fd = withNetns(netns, () => fs.openSync(path, 'r'));
  try {
    return fs.readFileSync(fd, 'utf8').trim();
  } finally {
    fs.closeSync(fd);
  }
}

export function writeSysctl(netns: NetnsTarget | null, key: string, value: string): void {
  const path = pathOf(key);
  const fd = withNetns(netns, () => fs.openSync(path, 'w'));
  try {
    fs.writeSync(fd, value);
  } finally {
    fs.closeSync(fd);
  }
}

/** The sysctls berth uses, by name. `iface` keys take an interface name (or "all"/"default"). */
export const sysctls = {
  ipForward: 'net.ipv4.ip_forward',
  ipv6Forwarding: 'net.ipv6.conf.all.forwarding',
  routeLocalnet: (iface: string) => `net.ipv4.conf.${iface.replace(/\./g, '/')}.route_localnet`,
  acceptRa: (iface: string) => `net.ipv6.conf.${iface.replace(/\./g, '/')}.accept_ra`,
  arpIgnore: (iface: string) => `net.ipv4.conf.${iface.replace(/\./g, '/')}.arp_ignore`,
  arpAnnounce: (iface: string) => `net.ipv4.conf.${iface.replace(/\./g, '/')}.arp_announce`,
  disableIpv6: (iface: string) => `net.ipv6.conf.${iface.replace(/\./g, '/')}.disable_ipv6`,
};
