// Networks as the engine sees them. For now: the default `bridge` network on `berth0`, made on
// first use from the first default pool that overlaps nothing on the host.
import { listAddresses } from '../kernel/addresses.js';
import { AF_INET, listRoutes } from '../kernel/routes.js';
import { withRtnl } from '../kernel/rtnl.js';
import { DEFAULT_POOLS, parseCidr, pickFreeSubnet, firstHostAddress, type Cidr } from '../ipam/index.js';
import { ensureBridge, type BridgeSpec } from '../drivers/bridge.js';
import type { NetworkRecord } from '../store/store.js';
import type { Engine } from './context.js';

export const DEFAULT_NETWORK = 'bridge';
export const DEFAULT_BRIDGE_IFNAME = 'berth0';

/** Subnets already used on the host: its routes (but the default route) and addresses. */
export async function hostSubnets(engine: Engine): Promise<Cidr[]> {
  return withRtnl(engine.hostNetns, async (nl) => {
    const routes = (await listRoutes(nl, AF_INET)).filter((r) => r.dst !== 'default' && r.type === 'UNICAST');
    const addrs = await listAddresses(nl, { family: AF_INET });
    return [
      ...routes.map((r) => parseCidr(r.dst, 'route', 'mask')),
      ...addrs.filter((a) => !a.ip.startsWith('127.')).map((a) => parseCidr(a.cidr, 'address', 'mask')),
    ];
  });
}

export function bridgeSpecOf(net: NetworkRecord): BridgeSpec {
  const gateways = net.subnets.map((s) => `${s.gateway ?? firstHostAddress(parseCidr(s.subnet)).text}/${s.subnet.split('/')[1]}`);
  const v4 = net.subnets.find((s) => !s.subnet.includes(':'));
  const masquerade = net.options['com.docker.network.bridge.enable_ip_masquerade'] !== 'false' && !net.internal;
  return {
    ifname: net.interfaceName ?? DEFAULT_BRIDGE_IFNAME,
    gateways,
    ...(v4 && masquerade ? { nat4: v4.subnet } : {}),
  };
}

/** The default bridge network, created in the store and the kernel if needed. Idempotent. */
export async function ensureDefaultNetwork(engine: Engine): Promise<NetworkRecord> {
  const store = engine.store;
  let net = store.findNetwork(DEFAULT_NETWORK);
  if (!net) {
    // Docker's choice: 172.17.0.0/16 unless something on the host overlaps it
    const taken = await hostSubnets(engine);
    net = store.transaction(() => {
      const existing = store.findNetwork(DEFAULT_NETWORK);
      if (existing) return existing;
      const used = store.listNetworks().flatMap((n) => n.subnets.map((s) => parseCidr(s.subnet)));
      const subnet = pickFreeSubnet(DEFAULT_POOLS, [...taken, ...used]);
      return store.createNetwork({
        name: DEFAULT_NETWORK,
        driver: 'bridge',
        scope: 'local',
        options: {
          'com.docker.network.bridge.default_bridge': 'true',
          'com.docker.network.bridge.name': DEFAULT_BRIDGE_IFNAME,
          'com.docker.network.bridge.enable_ip_masquerade': 'true',
          'com.docker.network.bridge.enable_icc': 'true',
        },
        labels: {},
        internal: false,
        attachable: false,
        ipv6: false,
        interfaceName: DEFAULT_BRIDGE_IFNAME,
        subnets: [{ subnet: subnet.text, gateway: firstHostAddress(subnet).text }],
      });
    });
  }
  await ensureBridge(engine.hostNetns, bridgeSpecOf(net));
  return net;
}
