// berth's REST API over HTTP: a subset of the Docker Engine API (so the stock docker CLI and
// dockerode manage berth networks) plus berth's own routes. A front end: it parses requests,
// calls the engine and formats answers; it holds no logic of its own.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type ServerOptions as TlsServerOptions } from 'node:https';
import { release } from 'node:os';
import { BerthError, ConflictError, NotFoundError, UserError, escapeControls } from '../common/errors.js';
import { VERSION } from '../common/version.js';
import type { Engine } from '../engine/context.js';
import { CliGateway, parseCliRequest } from '../daemon/cli-gateway.js';
import { events, type BerthEvent } from './events.js';
import { OPENAPI } from './openapi.js';
import { dockerBool } from './query.js';
import { CliBody, CliContinueBody, CniBody, decodeBody, NetworkConnectBody, NetworkCreateBody, NetworkDisconnectBody, refuseUnsupported } from './schemas.js';

export const API_VERSION = '1.41';
const MIN_API_VERSION = '1.24';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

type Params = Record<string, string>;
interface Request {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Params;
  body: unknown;
  raw: IncomingMessage;
  res: ServerResponse;
  gateway: CliGateway;
}
type Handler = (engine: Engine, req: Request) => Promise<unknown>;
interface Route {
  method: string;
  /** as written, e.g. /networks/{id} */
  path: string;
  pattern: RegExp;
  keys: string[];
  handler: Handler;
  /** the answer's status when the handler returns (Docker: 201 for create, 204 for delete) */
  status: number;
  /** not queued behind other engine calls (streams, and the CLI gateway, which queues itself) */
  concurrent: boolean;
}

const routes: Route[] = [];

function route(method: string, path: string, handler: Handler, status = 200, concurrent = false): void {
  const keys: string[] = [];
  const pattern = new RegExp(`^${path.replace(/\{(\w+)\}/g, (_m, k: string) => (keys.push(k), '([^/]+)'))}$`);
  routes.push({ method, path, pattern, keys, handler, status, concurrent });
}

/** Map berth's errors to Docker's status codes and `{"message": …}` bodies. */
function statusOf(err: unknown): number {
  if (err instanceof HttpError) return err.status;
  if (err instanceof NotFoundError) return 404;
  if (err instanceof ConflictError) return 409;
  if (err instanceof UserError) return 400;
  return 500;
}

/** Largest request body read (Docker's bodies for these routes are a few KiB). */
export const MAX_BODY_BYTES = 1024 * 1024;

/**
 * The body, read with a byte counter: past MAX_BODY_BYTES (or a Content-Length announcing more)
 * nothing more is kept and the answer is a 413, so a huge body is never held in memory.
 */
async function readBody(req: IncomingMessage): Promise<unknown> {
  const tooLarge = () => new HttpError(413, `request body too large: at most ${MAX_BODY_BYTES} bytes are accepted`);
  if (Number(req.headers['content-length'] ?? 0) > MAX_BODY_BYTES) throw tooLarge();
  // 'data' events rather than async iteration: leaving an iteration early destroys the socket
  // before the 413 can be sent
  const text = await new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= MAX_BODY_BYTES) return void chunks.push(c);
      req.off('data', onData);
      req.pause();
      chunks.length = 0;
      reject(tooLarge());
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.once('error', reject);
  });
  if (!text.trim()) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
}

/**
 * A 413 for a body that is still arriving: reading stops (the socket is paused once node's small
 * buffer fills, so nothing more is held), the answer is written straight on the socket, and the
 * connection is closed 2 s later. Not through ServerResponse: node closes the connection as soon
 * as it has answered a request it did not read to the end, and a client still writing its body
 * would see EPIPE before it could read the 413.
 */
function refuseUnread(req: IncomingMessage, message: string): void {
  req.pause();
  const body = JSON.stringify({ message });
  const head = [
    'HTTP/1.1 413 Payload Too Large',
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    `Api-Version: ${API_VERSION}`,
    `Server: berth/${VERSION}`,
    'Connection: close',
  ];
  const socket = req.socket;
  socket.write(`${head.join('\r\n')}\r\n\r\n${body}`);
  setTimeout(() => socket.destroy(), 2000).unref();
}

function send(res: ServerResponse, status: number, body: unknown): void {
  res.setHeader('Api-Version', API_VERSION);
  res.setHeader('Server', `berth/${VERSION}`);
  res.setHeader('Docker-Experimental', 'false');
  res.setHeader('Ostype', 'linux');
  if (status === 204 || body === undefined) {
    // Docker answers connect/disconnect with 200 and an empty body, delete with 204
    res.writeHead(status);
    res.end();
    return;
  }
  if (Buffer.isBuffer(body)) {
    res.writeHead(status, { 'Content-Type': CLI_FRAMES, 'Content-Length': body.length });
    res.end(body);
    return;
  }
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': typeof body === 'string' ? 'text/plain; charset=utf-8' : 'application/json' });
  res.end(text);
}

export interface ApiServerOptions {
  /** checked before anything else: undefined lets the request in, a string answers 401 with it */
  authorize?: (raw: IncomingMessage) => string | undefined;
  /** serve HTTPS (the daemon passes mutual TLS: client certificates required) */
  tls?: TlsServerOptions;
}

export function createApiServer(engine: Engine, opts: ApiServerOptions = {}): Server {
  // one engine call at a time: berth's operations are read-modify-write on shared kernel state
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const gateway = new CliGateway(engine, serial);
  const serve: RequestListener = (raw, res) => {
    const refused = opts.authorize?.(raw);
    if (refused !== undefined) {
      // before the body is read or a route is looked at: an unauthorized request does nothing
      res.setHeader('WWW-Authenticate', 'Bearer realm="berth"');
      res.setHeader('Connection', 'close');
      send(res, 401, { message: refused });
      raw.resume();
      return;
    }
    void (async () => {
      const url = new URL(raw.url ?? '/', 'http://berth');
      // Docker's versioned paths: /v1.41/networks == /networks
      const path = url.pathname.replace(/^\/v\d+\.\d+(?=\/)/, '').replace(/\/+$/, '') || '/';
      const method = raw.method === 'HEAD' ? 'GET' : (raw.method ?? 'GET');
      const found = routes.find((r) => r.method === method && r.pattern.test(path));
      try {
        if (!found) {
          const other = routes.some((r) => r.pattern.test(path));
          throw new HttpError(other ? 405 : 404, other ? `method ${raw.method} not allowed on ${path}` : `page not found: ${path}`);
        }
        const m = found.pattern.exec(path) as RegExpExecArray;
        const params = Object.fromEntries(found.keys.map((k, i) => [k, decodeURIComponent(m[i + 1] ?? '')]));
        const body = ['POST', 'PUT'].includes(method) ? await readBody(raw) : {};
        const req: Request = { method, path, query: url.searchParams, params, body, raw, res, gateway };
        const result = found.concurrent ? await found.handler(engine, req) : await serial(() => found.handler(engine, req));
        if (res.headersSent) return; // a stream that answered for itself
        if (raw.method === 'HEAD') return send(res, found.status, result === undefined ? undefined : '');
        send(res, found.status, result);
      } catch (err) {
        const status = statusOf(err);
        if (status === 413 && !raw.complete) return refuseUnread(raw, (err as HttpError).message);
        const message = err instanceof BerthError || err instanceof HttpError ? err.message : `internal error: ${(err as Error).message}`;
        send(res, status, { message: escapeControls(message) });
      }
    })();
  };
  return opts.tls ? createTlsServer(opts.tls, serve) : createServer(serve);
}

function publish(e: BerthEvent): void {
  events.emit('event', e);
}

// ------------------------------------------------------------------------------------------
// Docker Engine API: system

route('GET', '/_ping', async () => 'OK');
route('GET', '/version', async () => ({
  Platform: { Name: 'berth' },
  Components: [{ Name: 'berth', Version: VERSION, Details: { ApiVersion: API_VERSION } }],
  Version: VERSION,
  ApiVersion: API_VERSION,
  MinAPIVersion: MIN_API_VERSION,
  Os: 'linux',
  Arch: process.arch === 'x64' ? 'amd64' : process.arch,
  KernelVersion: release(),
  GoVersion: `node${process.versions.node}`,
  GitCommit: 'berth',
  BuildTime: '',
}));

route('GET', '/info', async (engine) => {
  const { listContainers } = await import('../engine/containers.js');
  const { systemInfo } = await import('./docker-shapes.js');
  return systemInfo(engine, listContainers(engine, true), API_VERSION);
});

// ------------------------------------------------------------------------------------------
// Docker Engine API: networks

route('GET', '/networks', async (engine, req) => {
  const { inspectNetwork, listNetworksFiltered } = await import('../engine/networks.js');
  const { filtersFromJson } = await import('../engine/network-filters.js');
  const nets = await listNetworksFiltered(engine, filtersFromJson(req.query.get('filters')), { predefined: true });
  return nets.map((n) => inspectNetwork(engine, n));
});

route('GET', '/networks/{id}', async (engine, req) => {
  const { findListedNetwork, inspectNetwork } = await import('../engine/networks.js');
  const net = await findListedNetwork(engine, req.params.id ?? '');
  // Docker: ?scope= narrows the lookup to networks of that scope
  const scope = req.query.get('scope');
  if (scope && scope !== net.scope) throw new HttpError(404, `network ${JSON.stringify(req.params.id ?? '')} not found in scope ${JSON.stringify(scope)} (it is ${net.scope})`);
  return inspectNetwork(engine, net);
});

route(
  'POST',
  '/networks/create',
  async (engine, req) => {
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
  201,
);

route(
  'DELETE',
  '/networks/{id}',
  async (engine, req) => {
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
  204,
);

route('POST', '/networks/{id}/connect', async (engine, req) => {
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
});

route('POST', '/networks/{id}/disconnect', async (engine, req) => {
  const { disconnectContainer } = await import('../engine/containers.js');
  const container = decodeBody(NetworkDisconnectBody, req.body, 'network disconnect').Container;
  await disconnectContainer(engine, container, req.params.id ?? '');
  publish({ Type: 'network', Action: 'disconnect', Actor: { ID: req.params.id ?? '', Attributes: { container } } });
  return undefined;
});

route('POST', '/networks/prune', async (engine, req) => {
  const { pruneNetworks } = await import('../engine/networks.js');
  const { filtersFromJson } = await import('../engine/network-filters.js');
  const removed = await pruneNetworks(engine, filtersFromJson(req.query.get('filters')));
  for (const n of removed) publish({ Type: 'network', Action: 'destroy', Actor: { ID: n.id, Attributes: { name: n.name, type: n.driver } } });
  return { NetworksDeleted: removed.map((n) => n.name) };
});

// ------------------------------------------------------------------------------------------
// berth's own routes: containers, topology, events, the API description

route('GET', '/containers/json', async (engine, req) => {
  const { listContainers } = await import('../engine/containers.js');
  const { inspectContainer } = await import('../engine/inspect.js');
  const { filtersFromJson } = await import('../engine/network-filters.js');
  const { checkContainerFilters, containerMatches, containerSummary } = await import('./docker-shapes.js');
  const filters = filtersFromJson(req.query.get('filters'));
  checkContainerFilters(filters);
  // Docker: status filters imply all
  const all = dockerBool(req.query.get('all')) || filters.status !== undefined;
  return listContainers(engine, all)
    .filter((c) => containerMatches(c, filters))
    .map((c) => containerSummary(c, inspectContainer(engine, c)));
});

route(
  'POST',
  '/containers/create',
  async (engine, req) => {
    const { runSpecFromRequest } = await import('./containers.js');
    const { runContainer } = await import('../engine/containers.js');
    const spec = runSpecFromRequest(req.body, req.query.get('name') ?? undefined);
    const started = await runContainer(engine, spec);
    for (const Action of ['create', 'start']) publish({ Type: 'container', Action, Actor: { ID: started.id, Attributes: { name: started.name } } });
    return { Id: started.id, Warnings: started.warnings };
  },
  201,
);

route('GET', '/containers/{id}/json', async (engine, req) => {
  const { getContainer } = await import('../engine/containers.js');
  const { inspectContainer } = await import('../engine/inspect.js');
  return inspectContainer(engine, getContainer(engine, req.params.id ?? ''));
});

route(
  'POST',
  '/containers/{id}/stop',
  async (engine, req) => {
    const { stopContainer } = await import('../engine/containers.js');
    const t = Number(req.query.get('t') ?? '10');
    if (!Number.isInteger(t) || t < 0) throw new HttpError(400, `invalid t "${req.query.get('t')}": expected seconds`);
    const c = await stopContainer(engine, req.params.id ?? '', t);
    publish({ Type: 'container', Action: 'stop', Actor: { ID: c.id, Attributes: { name: c.name } } });
    return undefined;
  },
  204,
);

route(
  'DELETE',
  '/containers/{id}',
  async (engine, req) => {
    const { removeContainer } = await import('../engine/containers.js');
    const force = dockerBool(req.query.get('force'));
    const c = await removeContainer(engine, req.params.id ?? '', force);
    publish({ Type: 'container', Action: 'destroy', Actor: { ID: c.id, Attributes: { name: c.name } } });
    return undefined;
  },
  204,
);

route('GET', '/topology', async (engine) => {
  const { topology } = await import('../engine/topology.js');
  return topology(engine);
});

route('GET', '/openapi.json', async () => OPENAPI);

// ------------------------------------------------------------------------------------------
// berth: the thin client's gateway (src/daemon/cli-gateway.ts)

const CLI_FRAMES = 'application/vnd.berth.cli-frames';
route('POST', '/berth/v1/cli', async (_engine, req) => req.gateway.run(parseCliRequest(decodeBody(CliBody, req.body, 'cli'))), 200, true);
route('POST', '/berth/v1/cli/continue', async (_engine, req) => req.gateway.continue(decodeBody(CliContinueBody, req.body, 'cli continue')), 200, true);
route('POST', '/berth/v1/cni', async (_engine, req) => req.gateway.cni(decodeBody(CniBody, req.body, 'cni')), 200, true);

route('GET', '/events', async (_engine, req) => {
  // server-sent events: one `data:` line of JSON per change, until the client goes away
  req.res.writeHead(200, { 'Content-Type': 'text/event-stream', 'Cache-Control': 'no-cache', Connection: 'keep-alive', 'Api-Version': API_VERSION });
  req.res.write(': berth events\n\n');
  const onEvent = (e: BerthEvent) => req.res.write(`data: ${JSON.stringify(e)}\n\n`);
  events.on('event', onEvent);
  await new Promise<void>((resolve) => req.raw.on('close', resolve));
  events.off('event', onEvent);
}, 200, true);

/** Routes as the server knows them, for the OpenAPI test. */
export function routeTable(): { method: string; path: string }[] {
  return routes.map((r) => ({ method: r.method, path: r.path.replace(/\{\w+\}/g, '{}') }));
}
