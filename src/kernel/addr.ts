// Conversions between text addresses (IP, CIDR, MAC) and the byte buffers netlink carries.
import { isIPv4, isIPv6 } from 'node:net';
import { Address6 } from 'ip-address';
import { UserError } from '../common/errors.js';

export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_BRIDGE = 7;

export function familyOf(ip: string): number {
  if (isIPv4(ip)) return AF_INET;
  if (isIPv6(ip)) return AF_INET6;
  throw new UserError(`invalid IP address "${ip}": expected IPv4 (10.0.0.1) or IPv6 (fd00::1)`);
}

export function ipToBuffer(ip: string): Buffer {
  if (familyOf(ip) === AF_INET) return Buffer.from(ip.split('.').map(Number));
  const bytes = new Address6(ip).toUnsignedByteArray();
  const out = Buffer.alloc(16);
  Buffer.from(bytes).copy(out, 16 - bytes.length);
  return out;
}

export function bufferToIp(buf: Buffer): string {
  if (buf.length === 4) return [...buf].join('.');
  if (buf.length === 16) return Address6.fromUnsignedByteArray([...buf]).correctForm();
  throw new Error(`not an IP address buffer (length ${buf.length})`);
}

export interface Cidr {
  readonly ip: string;
  readonly prefixLen: number;
  readonly family: number;
}

/** Parse "10.0.0.2/24" (an interface address, host bits allowed). */
export function parseCidr(text: string): Cidr {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(text);
  const ip = m?.[1] ?? '';
  const prefixLen = Number(m?.[2]);
  const family = isIPv4(ip) ? AF_INET : isIPv6(ip) ? AF_INET6 : 0;
  const max = family === AF_INET ? 32 : 128;
  if (!m || family === 0 || prefixLen > max) {
    throw new UserError(`invalid CIDR "${text}": expected ADDRESS/PREFIX such as 10.0.0.2/24 or fd00::2/64`);
  }
  return { ip: family === AF_INET6 ? new Address6(ip).correctForm() : ip, prefixLen, family };
}

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;

export function macToBuffer(mac: string): Buffer {
  if (!MAC.test(mac)) throw new UserError(`invalid MAC address "${mac}": expected six hex pairs such as 02:42:ac:11:00:02`);
  return Buffer.from(mac.split(':').map((h) => parseInt(h, 16)));
}

export function bufferToMac(buf: Buffer): string {
  return [...buf].map((b) => b.toString(16).padStart(2, '0')).join(':');
}
