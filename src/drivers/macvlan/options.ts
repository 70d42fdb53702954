// `network create -d macvlan -o` options: Docker's keys (parent, macvlan_mode), berth's
// host_access, the MTU; typed and checked. Unknown options are an error, never silently ignored.
import { UserError, quote } from '../../common/errors.js';
import { validateIfName } from '../../common/ifname.js';
import type { MacvlanMode } from '../../kernel/links.js';
import { optionCanonicalizer, typedPerRecord } from '../options.js';

export interface MacvlanOptions {
  /** the NIC the containers' macvlan children hang off; absent: an internal network */
  parent?: string;
  /** parent spelled IF.VID: the 802.1q sub-interface berth creates when no such interface exists */
  vlan?: { link: string; vid: number };
  mode: MacvlanMode;
  /** a macvlan shim on the host, so the host reaches its own containers (beyond Docker) */
  hostAccess: boolean;
  mtu?: number;
}

const MTU_KEY = 'com.docker.network.driver.mtu';
/** Docker's key for each option, and the short names berth also accepts. */
const KEYS: Record<string, string[]> = {
  parent: [],
  macvlan_mode: [],
  host_access: [],
  [MTU_KEY]: ['mtu'],
};
// in Docker's order of documentation; MACVLAN_MODES holds the kernel's values
const MODES: readonly MacvlanMode[] = ['bridge', 'private', 'vepa', 'passthru'];

/** `-o KEY=VALUE` pairs into canonical keys (aliases resolved); refuses unknown keys. */
export const canonicalMacvlanOptions = optionCanonicalizer('macvlan', KEYS, ['parent']);

/** Typed macvlan options from canonical ones; every value and combination is checked. */
export function macvlanOptions(options: Record<string, string>): MacvlanOptions {
  const o: MacvlanOptions = { mode: 'bridge', hostAccess: false };
  const parent = options.parent;
  if (parent !== undefined) {
    if (parent === '') throw new UserError('empty -o parent: give an interface name (IF) or a VLAN sub-interface (IF.VID), or omit it for an internal network');
    o.parent = validateIfName(parent, 'parent interface');
    const m = /^(.+)\.(\d+)$/.exec(parent);
    if (m?.[1] && m[2]) {
      const vid = Number(m[2]);
      if (vid < 1 || vid > 4094) throw new UserError(`invalid VLAN id ${quote(m[2])} in -o parent=${parent}: expected an integer from 1 to 4094`);
      o.vlan = { link: m[1], vid };
    }
  }
  const mode = options.macvlan_mode;
  if (mode !== undefined) {
    if (!MODES.includes(mode as MacvlanMode)) throw new UserError(`invalid macvlan_mode ${quote(mode)}: expected one of ${MODES.join(', ')}`);
    o.mode = mode as MacvlanMode;
  }
  const ha = options.host_access;
  if (ha !== undefined) {
    if (ha === 'true' || ha === '1') o.hostAccess = true;
    else if (ha === 'false' || ha === '0') o.hostAccess = false;
    else throw new UserError(`invalid value ${quote(ha)} for option host_access: expected true or false`);
  }
  // the shim is a bridge-mode sibling of the containers' interfaces: private children talk to no
  // sibling, and passthru allows no sibling at all
  if (o.hostAccess && (o.mode === 'private' || o.mode === 'passthru')) {
    throw new UserError(`host_access=true does not work with macvlan_mode ${o.mode}: the host's shim must be a sibling the containers can talk to; use macvlan_mode bridge or vepa`);
  }
  const mtu = options[MTU_KEY];
  if (mtu !== undefined) {
    const n = Number(mtu);
    if (!Number.isInteger(n) || n < 68 || n > 65535) throw new UserError(`invalid MTU ${quote(mtu)}: expected an integer from 68 to 65535`);
    o.mtu = n;
  }
  return o;
}

/** Typed options of a record, parsed once per record read (drivers/options.ts typedPerRecord). */
export const macvlanOptionsOf: (net: { options: Record<string, string>; internal: boolean }) => MacvlanOptions = typedPerRecord((options) => macvlanOptions(options));
