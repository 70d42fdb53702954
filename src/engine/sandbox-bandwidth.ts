// The CNI `bandwidth` capability on a sandbox's host veth, as the reference bandwidth plugin:
// traffic to the sandbox (ingress) by a tbf on the host end (what it sends is what the sandbox
// receives); traffic from the sandbox (egress) arrives on the host end, so it is redirected to an
// ifb device (this kernel has ifb; it lacks the tc `police` action and the matchall classifier)
// whose own tbf shapes it. Bridge networks only: macvlan and overlay sandboxes have no host end.
import { UserError } from '../common/errors.js';
import { ENDPOINT_ALIAS_PREFIX } from '../drivers/driver.js';
import { createIfb, deleteLink, getLink, setLinkUp } from '../kernel/links.js';
import { withRtnl } from '../kernel/rtnl.js';
import { addTokenBucket, qdiscKinds, redirectIngress } from '../kernel/tc.js';
import { bandwidthProblems, ifbNameOf, type SandboxBandwidth } from './bandwidth-limits.js';
import type { Engine } from './context.js';

export type { SandboxBandwidth };


/** Shape a sandbox's host veth; on failure the ifb is removed (the veth's qdiscs go with the veth). */
export async function shapeSandbox(engine: Engine, networkName: string, endpointId: string, hostIfname: string | undefined, bw: SandboxBandwidth): Promise<void> {
  if (!hostIfname) {
    throw new UserError(`the "bandwidth" capability shapes the host end of a sandbox's veth: network "${networkName}" gives its sandboxes none (macvlan, overlay); use a bridge network`);
  }
  const mtu = await withRtnl(engine.hostNetns, async (nl) => (await getLink(nl, hostIfname)).mtu);
  const problems = bandwidthProblems(bw, mtu);
  if (problems.length) throw new UserError(`invalid bandwidth: ${problems.join('; ')}`);
  if (bw.ingress) await addTokenBucket(hostIfname, bw.ingress);
  if (!bw.egress) return;
  const ifb = ifbNameOf(hostIfname);
  const egress = bw.egress;
  await withRtnl(engine.hostNetns, async (nl) => {
    // marked as the endpoint's: `berth system check --repair` deletes one whose endpoint is gone
    await createIfb(nl, { name: ifb, alias: `${ENDPOINT_ALIAS_PREFIX}${endpointId}` });
    try {
      await setLinkUp(nl, (await getLink(nl, ifb)).index);
      await addTokenBucket(ifb, egress);
      await redirectIngress(hostIfname, ifb);
    } catch (err) {
      await deleteLink(nl, ifb);
      throw err;
    }
  });
}

/** Remove what shapeSandbox made that outlives the veth (its ifb); gone already is success. */
export async function unshapeSandbox(engine: Engine, hostIfname: string): Promise<void> {
  await withRtnl(engine.hostNetns, (nl) => deleteLink(nl, ifbNameOf(hostIfname)));
}

/** CHECK: the qdiscs a bandwidth request made are in place. */
export async function bandwidthDrift(hostIfname: string | undefined, bw: SandboxBandwidth): Promise<string[]> {
  if (!hostIfname) return [];
  const problems: string[] = [];
  const onVeth = await qdiscKinds(hostIfname);
  if (bw.ingress && !onVeth.includes('tbf')) problems.push(`host interface "${hostIfname}" has no tbf qdisc (ingress bandwidth)`);
  if (bw.egress) {
    if (!onVeth.includes('ingress')) problems.push(`host interface "${hostIfname}" has no ingress qdisc (egress bandwidth)`);
    if (!(await qdiscKinds(ifbNameOf(hostIfname))).includes('tbf')) problems.push(`"${ifbNameOf(hostIfname)}" has no tbf qdisc (egress bandwidth)`);
  }
  return problems;
}
