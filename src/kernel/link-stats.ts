// Byte and packet counters of every link of a namespace (IFLA_STATS64), for the topology page.
import type { Rtnl } from './rtnl.js';

export interface LinkCounters {
  rxBytes: number;
  rxPackets: number;
  txBytes: number;
  txPackets: number;
  rxErrors: number;
  txErrors: number;
  rxDropped: number;
  txDropped: number;
}

/** Counters by interface name. */
export async function listLinkCounters(nl: Rtnl): Promise<Map<string, LinkCounters>> {
  const msgs = await nl.call('list links', (s) => s.getLinks());
  const out = new Map<string, LinkCounters>();
  for (const m of msgs) {
    const s = m.attrs.stats64;
    if (!m.attrs.ifname || !s) continue;
    // counters past 2^53 lose their last digits: fine for a page that shows them
    const n = (v: bigint | undefined) => Number(v ?? 0n);
    out.set(m.attrs.ifname, {
      rxBytes: n(s.rxBytes), rxPackets: n(s.rxPackets), txBytes: n(s.txBytes), txPackets: n(s.txPackets),
      rxErrors: n(s.rxErrors), txErrors: n(s.txErrors), rxDropped: n(s.rxDropped), txDropped: n(s.txDropped),
    });
  }
  return out;
}
