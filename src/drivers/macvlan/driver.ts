// The macvlan driver behind the one interface: containers are macvlan children of a host NIC
// (or of a bridge berth makes for an internal network), on the LAN with their own MACs. No
// bridge of berth's, no firewall elements, no published ports.
import { UserError } from '../../common/errors.js';
import { findLink } from '../../kernel/links.js';
import { isNetnsPath } from '../../kernel/netns.js';
import { withRtnl } from '../../kernel/rtnl.js';
import type { NetworkDriver } from '../driver.js';
import { attachMacvlan, detachMacvlan, ensureMacvlanNetwork, macvlanNetworkProblems, removeMacvlanNetwork } from './macvlan.js';
import { canonicalMacvlanOptions, macvlanOptionsOf, type MacvlanOptions } from './options.js';
import { planMacvlanEndpoint, planMacvlanNetwork } from './plan.js';
import { macvlanSpecOf, macvlanStateOf } from './spec.js';

export const macvlanDriver: NetworkDriver<MacvlanOptions> = {
  name: 'macvlan',
  scope: 'local',
  usesFirewall: false,
  canonicalOptions: canonicalMacvlanOptions,
  optionsOf: macvlanOptionsOf,
  planNetwork: planMacvlanNetwork,
  planEndpoint: planMacvlanEndpoint,

  ensureNetwork: (ctx, net) => ensureMacvlanNetwork(ctx.hostNetns, macvlanSpecOf(net)),
  removeNetwork: (ctx, net) => removeMacvlanNetwork(ctx.hostNetns, macvlanSpecOf(net)),

  /** A macvlan child of the parent born inside the sandbox with its own MAC; with host_access a host route through the shim. */
  async attachEndpoint(ctx, net, ep, plug, undo) {
    const o = macvlanOptionsOf(net);
    if (plug.handOver && o.mode === 'passthru') throw new UserError(`macvlan network "${net.name}" is in passthru mode: its child cannot be handed to a runtime that moves it itself (Docker's plugin)`);
    const st = macvlanStateOf(net);
    // passthru: unless told otherwise, the kernel gives the child its parent's MAC
    const mac = o.mode === 'passthru' ? plug.requestedMac : (ep.mac ?? undefined);
    const spec = {
      parent: st.parent,
      mode: o.mode,
      netns: plug.netns,
      ifname: ep.interfaceName,
      addresses: ep.addresses,
      ...(mac ? { mac } : {}),
      ...(o.mtu ? { mtu: o.mtu } : {}),
      ...(st.shim ? { shim: st.shim.ifname } : {}),
      ...(plug.handOver ? { handOver: true } : {}),
    };
    await attachMacvlan(ctx.hostNetns, spec);
    undo.push(() => detachMacvlan(ctx.hostNetns, spec));
  },
  async detachEndpoint(ctx, net, ep, unplug) {
    // the child lives in the sandbox: deleted there if it is still around (else with the namespace)
    const shim = macvlanStateOf(net).shim?.ifname;
    await detachMacvlan(ctx.hostNetns, { netns: unplug.netns, ifname: ep.interfaceName, addresses: ep.addresses, ...(shim ? { shim } : {}) });
    return undefined;
  },

  firewallOf: () => undefined,
  routedPorts: () => false,
  // a macvlan child is no bridge port: nothing for the bridge table to guard
  portGuardOf: () => undefined,
  mayCarryDefaultRoute: () => true,
  /**
   * The gateway is the LAN's router, and the containers cannot reach the host through the parent
   * (kernel semantics): DNS is served only with host_access, on the host shim's address; without
   * it containers use --dns or the host's resolvers, as on the default bridge.
   */
  dnsAddressesOf: (net) => (macvlanStateOf(net).shim?.addresses ?? []).map((a) => a.split('/')[0] ?? a),
  parentOf: (net) => macvlanStateOf(net).parent,
  parentConflict(net, request) {
    const st = macvlanStateOf(net);
    if (st.parent !== request.parent) return undefined;
    if (request.kind === 'nat-free-bridge') {
      return `parent interface "${request.parent}" is the parent of macvlan network "${net.name}": a NAT-free bridge needs a NIC of its own`;
    }
    const theirs = macvlanOptionsOf(net).mode;
    if (request.passthru || theirs === 'passthru') {
      return `parent interface "${request.parent}" is already the parent of macvlan network "${net.name}" (macvlan_mode ${theirs}): a passthru network takes its parent whole, so it shares it with no other network`;
    }
    if (st.createdParent) return `parent interface "${request.parent}" was created for macvlan network "${net.name}" and goes away with it: give another VLAN id`;
    return undefined;
  },

  // a macvlan network hangs off its parent
  hostInterfaceOf: (net) => macvlanStateOf(net).parent,
  endpointLinkOf: (net) => ({ kind: 'macvlan', hostIfname: macvlanStateOf(net).parent }),

  async networkProblem(ctx, net) {
    const problems = await macvlanNetworkProblems(ctx.hostNetns, macvlanSpecOf(net));
    if (!problems.length) return undefined;
    // berth can re-create what it made (an internal parent, a shim), never a NIC of the host
    const ours = !problems.some((p) => p.startsWith('parent') && !macvlanStateOf(net).createdParent);
    return { problem: problems.join('; '), ...(ours ? { action: 're-created it' } : {}) };
  },
  async endpointProblem(_ctx, _net, ep, check) {
    // a macvlan child has no host side: it lives in the sandbox only
    const child = isNetnsPath(check.sandboxNetns) ? await withRtnl(check.sandboxNetns, (nl) => findLink(nl, ep.interfaceName)) : undefined;
    if (child?.kind === 'macvlan') return undefined;
    return { problem: `macvlan interface ${ep.interfaceName} is missing in the container (reconnect the container to restore it)` };
  },
};
