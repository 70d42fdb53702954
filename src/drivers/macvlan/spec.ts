// A macvlan network's record in kernel terms: the driver's state (the parent, what berth made,
// the host shim) and the spec drivers/macvlan/macvlan.ts takes. Pure: read from the record only.
import { SystemError } from '../../common/errors.js';
import type { MacvlanMode } from '../../kernel/links.js';
import type { NetworkRecord } from '../../store/store.js';
import { NETWORK_ALIAS_PREFIX } from '../driver.js';
import type { MacvlanCreatedParent, MacvlanNetworkSpec } from './macvlan.js';
import { macvlanOptionsOf } from './options.js';

/** What a macvlan network's driver made and keeps in the record's state. */
export interface MacvlanState {
  parent: string;
  createdParent?: MacvlanCreatedParent;
  shim?: { ifname: string; addresses: string[] };
}

export function macvlanStateOf(net: NetworkRecord): MacvlanState {
  const st = net.state?.macvlan as MacvlanState | undefined;
  if (!st) throw new SystemError(`macvlan network "${net.name}" has no driver state in the store`);
  return st;
}

export function macvlanSpecOf(net: NetworkRecord): MacvlanNetworkSpec & { mode: MacvlanMode } {
  const o = macvlanOptionsOf(net);
  const st = macvlanStateOf(net);
  return {
    parent: st.parent,
    mode: o.mode,
    alias: `${NETWORK_ALIAS_PREFIX}${net.id}`,
    ...(st.createdParent ? { createdParent: st.createdParent } : {}),
    ...(st.shim ? { shim: st.shim } : {}),
    ...(o.mtu ? { mtu: o.mtu } : {}),
  };
}
