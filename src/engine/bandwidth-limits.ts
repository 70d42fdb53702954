// The bandwidth a CNI runtime asks for, and what of it the kernel can honour. Pure (no kernel
// access): the CNI edge refuses what no link could carry before anything is made.
import type { TokenBucket } from '../kernel/tc.js';

/** ingress: to the sandbox; egress: from it. Rates in bits per second, bursts in bits. */
export interface SandboxBandwidth {
  ingress?: TokenBucket;
  egress?: TokenBucket;
}

/** tbf's buffer is a u32 count of scheduler ticks (1/15.625 µs here): about 274 s of burst at the rate */
const MAX_BURST_SECONDS = 250;
const ETH_HEADER = 14;

/** The ifb device shaping what a host veth receives: ifb<its 7 hex>, fits IFNAMSIZ. */
export function ifbNameOf(hostIfname: string): string {
  return `ifb${hostIfname.replace(/^veth/, '').slice(0, 12)}`;
}

/** What the kernel cannot honour: a burst smaller than one frame passes nothing; rates below a byte a second. */
export function bandwidthProblems(bw: SandboxBandwidth, mtu?: number): string[] {
  const problems: string[] = [];
  for (const dir of ['ingress', 'egress'] as const) {
    const tb = bw[dir];
    if (!tb) continue;
    if (tb.rate < 8) problems.push(`"${dir}Rate" ${tb.rate}: below 8 bits per second (tc counts whole bytes)`);
    // the frame size is known once the link is (unset: checked later, on the link)
    const frame = mtu === undefined ? 0 : (mtu + ETH_HEADER) * 8;
    if (tb.burst < frame) problems.push(`"${dir}Burst" ${tb.burst}: smaller than one frame of this link (MTU ${mtu}: at least ${frame} bits), nothing would pass`);
    if (tb.burst / 8 > 0xffffffff) problems.push(`"${dir}Burst" ${tb.burst}: above 4 GiB`);
    if (tb.rate >= 8 && tb.burst / tb.rate > MAX_BURST_SECONDS) problems.push(`"${dir}Burst" ${tb.burst} at "${dir}Rate" ${tb.rate}: lasts ${Math.round(tb.burst / tb.rate)} s, tbf holds at most ${MAX_BURST_SECONDS} s`);
  }
  return problems;
}

