// `network create -o` options of the bridge driver: Docker's names, berth's short aliases, and
// typed values. Unknown options are an error, never silently ignored.
import { isIP } from 'node:net';
import { UserError, quote } from '../../common/errors.js';
import { validateIfName } from '../../common/ifname.js';
import { optionCanonicalizer } from '../options.js';
import type { GatewayMode } from './firewall.js';

export type { GatewayMode };
const GATEWAY_MODES: readonly GatewayMode[] = ['nat', 'nat-unprotected', 'routed', 'isolated'];

export interface BridgeOptions {
  bridgeName?: string;
  mtu?: number;
  icc: boolean;
  masquerade: boolean;
  /** default host address for `-p` without one */
  hostBindingIpv4?: string;
  gatewayModeIpv4: GatewayMode;
  gatewayModeIpv6: GatewayMode;
  /** NAT-free bridge: enslave this NIC and take over its addresses and routes */
  parent?: string;
  /** false (the default): a container may send only from its own MAC and addresses */
  allowSpoofing: boolean;
}

const P = 'com.docker.network.';
/** Docker's key for each option, and the short names berth also accepts. */
const KEYS: Record<string, string[]> = {
  [`${P}bridge.name`]: ['bridge_name', 'bridge.name'],
  [`${P}driver.mtu`]: ['mtu'],
  [`${P}bridge.enable_icc`]: ['icc', 'enable_icc'],
  [`${P}bridge.enable_ip_masquerade`]: ['masquerade', 'enable_ip_masquerade', 'ip_masquerade'],
  [`${P}bridge.host_binding_ipv4`]: ['host_binding_ipv4'],
  [`${P}bridge.gateway_mode_ipv4`]: ['gateway_mode_ipv4'],
  [`${P}bridge.gateway_mode_ipv6`]: ['gateway_mode_ipv6'],
  [`${P}bridge.default_bridge`]: [],
  parent: [],
  allow_spoofing: [],
};
function bool(key: string, value: string): boolean {
  if (value === 'true' || value === '1') return true;
  if (value === 'false' || value === '0') return false;
  throw new UserError(`invalid value ${quote(value)} for option ${key}: expected true or false`);
}

/** Turn `-o KEY=VALUE` pairs into Docker-keyed options (aliases resolved); refuses unknown keys. */
export const canonicalOptions = optionCanonicalizer('bridge', KEYS);

/** Typed bridge options from Docker-keyed options; every value is checked. */
export function bridgeOptions(options: Record<string, string>, internal: boolean): BridgeOptions {
  const get = (k: string) => options[k];
  const o: BridgeOptions = { icc: true, masquerade: true, gatewayModeIpv4: 'nat', gatewayModeIpv6: 'nat', allowSpoofing: false };
  const name = get(`${P}bridge.name`);
  if (name !== undefined) o.bridgeName = validateIfName(name, 'bridge name');
  const mtu = get(`${P}driver.mtu`);
  if (mtu !== undefined) {
    const n = Number(mtu);
    if (!Number.isInteger(n) || n < 68 || n > 65535) throw new UserError(`invalid MTU ${quote(mtu)}: expected an integer from 68 to 65535`);
    o.mtu = n;
  }
  const icc = get(`${P}bridge.enable_icc`);
  if (icc !== undefined) o.icc = bool(`${P}bridge.enable_icc`, icc);
  const masq = get(`${P}bridge.enable_ip_masquerade`);
  if (masq !== undefined) o.masquerade = bool(`${P}bridge.enable_ip_masquerade`, masq);
  const hb = get(`${P}bridge.host_binding_ipv4`);
  if (hb !== undefined) {
    if (!isIP(hb)) throw new UserError(`invalid host_binding_ipv4 ${quote(hb)}: expected an IP address`);
    o.hostBindingIpv4 = hb;
  }
  for (const [key, field] of [['gateway_mode_ipv4', 'gatewayModeIpv4'], ['gateway_mode_ipv6', 'gatewayModeIpv6']] as const) {
    const v = get(`${P}bridge.${key}`);
    if (v === undefined) continue;
    if (!GATEWAY_MODES.includes(v as GatewayMode)) {
      throw new UserError(`invalid ${key} ${quote(v)}: expected one of ${GATEWAY_MODES.join(', ')}`);
    }
    if (v === 'isolated' && !internal) throw new UserError(`${key} "isolated" needs an --internal network`);
    o[field] = v as GatewayMode;
  }
  const spoofing = get('allow_spoofing');
  if (spoofing !== undefined) o.allowSpoofing = bool('allow_spoofing', spoofing);
  const parent = get('parent');
  if (parent !== undefined) o.parent = validateIfName(parent, 'parent interface');
  return o;
}
