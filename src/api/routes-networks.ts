// Docker Engine API: networks (list, inspect, create, remove, connect, disconnect, prune).
import { ConflictError } from '../common/errors.js';
import { publish } from './events.js';
import { HttpError, type RouteSpec } from './http.js';
import { decodeBody, NetworkConnectBody, NetworkCreateBody, NetworkDisconnectBody, refuseUnsupported } from './schemas.js';

export const networkRoutes: RouteSpec[] = [
  {
    method: 'GET',
    path: '/networks',
    handler: async (engine, req) => {
      const { inspectNetwork, listNetworksFiltered } = await import('../engine/networks.js');
      const { filtersFromJson } = await import('../engine/network-filters.js');
      const nets = await listNetworksFiltered(engine, filtersFromJson(req.query.get('filters')), { predefined: true });
      return nets.map((n) => inspectNetwork(engine, n));
    },
  },
  {
    method: 'GET',
    path: '/networks/{id}',
    handler: async (engine, req) => {
      const { findListedNetwork, inspectNetwork } = await import('../engine/networks.js');
      const net = await findListedNetwork(engine, req.params.id ?? '');
      // Docker: ?scope= narrows the lookup to networks of that scope
      const scope = req.query.get('scope');
      if (scope && scope !== net.scope) throw new HttpError(404, `network ${JSON.stringify(req.params.id ?? '')} not found in scope ${JSON.stringify(scope)} (it is ${net.scope})`);
      return inspectNetwork(engine, net);
    },
  },
  {
    method: 'POST',
    path: '/networks/create',
    status: 201,
    handler: async (engine, req) => {
      const { createNetwork, scopeOfDriver } = await import('../engine/networks.js');
      const b = decodeBody(NetworkCreateBody, req.body, 'network create');
      const ipam = b.IPAM ?? {};
      const driver = b.Driver || 'bridge';
      if (ipam.Driver && ipam.Driver !== 'default') throw new HttpError(400, `IPAM driver ${JSON.stringify(ipam.Driver)} is not supported: only default`);
      const scope = scopeOfDriver(driver);
      refuseUnsupported('network create', {
        Ingress: b.Ingress,
        ConfigOnly: b.ConfigOnly,
        'ConfigFrom.Network': b.ConfigFrom?.Network,
        'IPAM.Options': ipam.Options,
        Scope: b.Scope && b.Scope !== scope ? b.Scope : undefined,
      }, { Scope: `a ${driver} network is ${scope}` });
      if (b.EnableIPv4 === false) throw new HttpError(400, 'network create: berth cannot honour EnableIPv4=false (every berth network has IPv4); leave it unset');
      const configs = ipam.Config ?? [];
      const given = (xs: (string | null | undefined)[]) => xs.filter((x): x is string => typeof x === 'string' && x !== '');
      const net = await createNetwork(engine, {
        name: b.Name,
        driver,
        subnets: given(configs.map((c) => c.Subnet)),
        gateways: given(configs.map((c) => c.Gateway)),
        ipRanges: given(configs.map((c) => c.IPRange)),
        auxAddresses: Object.assign({}, ...configs.map((c) => c.AuxiliaryAddresses ?? {})) as Record<string, string>,
        ipv6: b.EnableIPv6 === true,
        internal: b.Internal === true,
        attachable: b.Attachable === true,
        options: b.Options ?? {},
        labels: b.Labels ?? {},
      });
      publish({ Type: 'network', Action: 'create', Actor: { ID: net.id, Attributes: { name: net.name, type: net.driver } } });
      return { Id: net.id, Warning: '' };
    },
  },
  {
    method: 'DELETE',
    path: '/networks/{id}',
    status: 204,
    handler: async (engine, req) => {
      const { removeNetwork } = await import('../engine/networks.js');
      try {
        const net = await removeNetwork(engine, req.params.id ?? '');
        publish({ Type: 'network', Action: 'destroy', Actor: { ID: net.id, Attributes: { name: net.name, type: net.driver } } });
      } catch (err) {
        // Docker answers 403 for "pre-defined" and "has active endpoints"
        if (err instanceof ConflictError) throw new HttpError(403, err.message);
        throw err;
      }
      return undefined;
    },
  },
  {
    method: 'POST',
    path: '/networks/{id}/connect',
    handler: async (engine, req) => {
      const { connectContainer } = await import('../engine/containers.js');
      const b = decodeBody(NetworkConnectBody, req.body, 'network connect');
      const container = b.Container;
      const ec = b.EndpointConfig ?? {};
      const ipam = ec.IPAMConfig ?? {};
      refuseUnsupported('network connect', { 'EndpointConfig.Links': ec.Links, 'EndpointConfig.DriverOpts': ec.DriverOpts, 'EndpointConfig.IPAMConfig.LinkLocalIPs': ipam.LinkLocalIPs });
      await connectContainer(engine, container, req.params.id ?? '', {
        ...(ipam.IPv4Address ? { ip: ipam.IPv4Address } : {}),
        ...(ipam.IPv6Address ? { ip6: ipam.IPv6Address } : {}),
        aliases: ec.Aliases ?? [],
        ...(ec.MacAddress ? { mac: ec.MacAddress.toLowerCase() } : {}),
        ...(typeof ec.GwPriority === 'number' ? { gwPriority: ec.GwPriority } : {}),
      });
      publish({ Type: 'network', Action: 'connect', Actor: { ID: req.params.id ?? '', Attributes: { container } } });
      return undefined;
    },
  },
  {
    method: 'POST',
    path: '/networks/{id}/disconnect',
    handler: async (engine, req) => {
      const { disconnectContainer } = await import('../engine/containers.js');
      const container = decodeBody(NetworkDisconnectBody, req.body, 'network disconnect').Container;
      await disconnectContainer(engine, container, req.params.id ?? '');
      publish({ Type: 'network', Action: 'disconnect', Actor: { ID: req.params.id ?? '', Attributes: { container } } });
      return undefined;
    },
  },
  {
    method: 'POST',
    path: '/networks/prune',
    handler: async (engine, req) => {
      const { pruneNetworks } = await import('../engine/networks.js');
      const { filtersFromJson } = await import('../engine/network-filters.js');
      const removed = await pruneNetworks(engine, filtersFromJson(req.query.get('filters')));
      for (const n of removed) publish({ Type: 'network', Action: 'destroy', Actor: { ID: n.id, Attributes: { name: n.name, type: n.driver } } });
      return { NetworksDeleted: removed.map((n) => n.name) };
    },
  },
];
