// A bridge network's record in kernel terms: its bridge spec, its firewall elements, the host
// end of its endpoints' veths and what each may send from. Pure: read from the record only.
import { firstHostAddress, parseCidr, type SubnetConfig } from '../../ipam/index.js';
import type { EndpointRecord, NetworkRecord } from '../../store/store.js';
import { NETWORK_ALIAS_PREFIX } from '../driver.js';
import { typedPerRecord } from '../options.js';
import type { BridgeSpec } from './bridge.js';
import type { ParentState } from './bridge-parent.js';
import type { BridgeFirewall } from './firewall.js';
import { bridgeOptions, type BridgeOptions } from './options.js';
import type { PortGuard } from './spoof-guard.js';

export const DEFAULT_BRIDGE_IFNAME = 'berth0';

/** Typed options of a record, parsed once per record read (drivers/options.ts typedPerRecord). */
export const optionsOf: (net: Pick<NetworkRecord, 'options' | 'internal'>) => BridgeOptions = typedPerRecord(bridgeOptions);

/** The host end of an endpoint's veth pair. */
export function hostIfnameOf(ep: Pick<EndpointRecord, 'id'>): string {
  return `veth${ep.id.slice(0, 7)}`;
}

/** What a NAT-free bridge took over from its parent NIC (undefined: a NAT bridge). */
export function parentStateOf(net: NetworkRecord): ParentState | undefined {
  return net.state?.parent as ParentState | undefined;
}

export function bridgeSpecOf(net: NetworkRecord): BridgeSpec {
  const o = optionsOf(net);
  const v4 = net.subnets.filter((s) => !s.subnet.includes(':'));
  const v6 = net.subnets.filter((s) => s.subnet.includes(':'));
  const nat = (mode: string) => o.masquerade && !net.internal && !o.parent && (mode === 'nat' || mode === 'nat-unprotected');
  const gatewayOf = (s: SubnetConfig) => `${s.gateway ?? firstHostAddress(parseCidr(s.subnet)).text}/${s.subnet.split('/')[1]}`;
  // no gateway address on the bridge: gateway mode isolated, or a NAT-free bridge (the LAN's router is the gateway)
  const gateways = o.parent ? [] : [
    ...(o.gatewayModeIpv4 === 'isolated' ? [] : v4.map(gatewayOf)),
    ...(o.gatewayModeIpv6 === 'isolated' ? [] : v6.map(gatewayOf)),
  ];
  return {
    ifname: net.interfaceName ?? DEFAULT_BRIDGE_IFNAME,
    gateways,
    nat4: nat(o.gatewayModeIpv4) ? v4.map((s) => s.subnet) : [],
    nat6: nat(o.gatewayModeIpv6) ? v6.map((s) => s.subnet) : [],
    internal: net.internal,
    // one inbound policy per bridge: the most open of the two families' modes wins
    inbound: [o.gatewayModeIpv4, o.gatewayModeIpv6].includes('nat-unprotected')
      ? 'nat-unprotected'
      : [o.gatewayModeIpv4, o.gatewayModeIpv6].includes('routed') ? 'routed' : 'nat',
    ...(o.mtu ? { mtu: o.mtu } : {}),
    alias: `${NETWORK_ALIAS_PREFIX}${net.id}`,
    subnets: net.subnets.map((s) => s.subnet),
    ...(o.parent ? { keepMac: true } : {}),
  };
}

export function bridgeFirewallOf(spec: BridgeSpec): BridgeFirewall {
  return { bridge: spec.ifname, subnets: spec.subnets ?? [], nat4: spec.nat4, nat6: spec.nat6, internal: spec.internal, inbound: spec.inbound };
}

/** Published ports are routed (no DNAT) when either family's gateway mode is routed. */
export function routedPortsOf(o: BridgeOptions): boolean {
  return o.gatewayModeIpv4 === 'routed' || o.gatewayModeIpv6 === 'routed';
}

/**
 * What a bridge endpoint may send from (spoof-guard.ts), or undefined when its network allows
 * spoofing (`-o allow_spoofing=true`) or it has no known MAC.
 */
export function bridgePortGuardOf(net: NetworkRecord, ep: EndpointRecord): PortGuard | undefined {
  if (!ep.mac) return undefined;
  if (optionsOf(net).allowSpoofing) return undefined;
  return { ifname: hostIfnameOf(ep), mac: ep.mac, addresses: ep.addresses };
}
