// `network create -d overlay -o` options: vni, mtu, encrypted; checked before anything changes.
import { UserError } from '../../common/errors.js';
import { checkVni } from '../../store/cluster-keys.js';
import type { NetworkRecord } from '../../store/store.js';
import { typedPerRecord } from '../options.js';

export const NEEDS_CLUSTER = 'overlay networks need a daemon joined to a cluster (berth daemon --cluster-store etcd://H:P[,H:P…] --advertise-addr IP)';

/** Docker's option key for an overlay network's VNI (shown by `network inspect`). */
export const VNI_OPTION = 'com.docker.network.driver.overlay.vxlanid_list';
const MTU_OPTION = 'com.docker.network.driver.mtu';
const KNOWN_OPTIONS = ['vni', 'mtu', MTU_OPTION, 'encrypted'];

export interface OverlayOptions {
  vni?: number;
  mtu?: number;
  encrypted: boolean;
}

function intOption(key: string, value: string, min: number, max: number): number {
  const n = /^[0-9]+$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UserError(`invalid -o ${key}=${value}: expected an integer from ${min} to ${max}`);
  return n;
}

/** Check overlay driver options; bad ones fail before anything is changed. */
export function overlayOptions(options: Record<string, string>): OverlayOptions {
  const out: OverlayOptions = { encrypted: false };
  for (const [key, value] of Object.entries(options)) {
    if (key === VNI_OPTION) continue;
    if (!KNOWN_OPTIONS.includes(key)) throw new UserError(`unknown overlay option "${key}": accepted are ${KNOWN_OPTIONS.join(', ')}`);
    if (key === 'vni') out.vni = checkVni(intOption(key, value, 0, 0xffffff), '-o vni');
    if (key === 'mtu' || key === MTU_OPTION) out.mtu = intOption(key, value, 576, 65535);
    if (key === 'encrypted') {
      // Docker's spelling is a bare `-o encrypted` (value "")
      if (!['', 'true', 'false'].includes(value)) throw new UserError(`invalid -o encrypted=${value}: expected -o encrypted, -o encrypted=true or -o encrypted=false`);
      out.encrypted = value !== 'false';
    }
  }
  return out;
}

/** Typed options of a record, parsed once per record read (drivers/options.ts typedPerRecord). */
export const overlayOptionsOf: (net: Pick<NetworkRecord, 'options' | 'internal'>) => OverlayOptions = typedPerRecord((options) => overlayOptions(options));

export function isEncrypted(net: Pick<NetworkRecord, 'options' | 'internal'>): boolean {
  return overlayOptionsOf(net).encrypted;
}
