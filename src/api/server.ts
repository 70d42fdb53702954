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

async function readBody(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  if (!text.trim()) return {};
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, 'request body is not valid JSON');
  }
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
        const message = err instanceof BerthError || err instanceof HttpError ? err.message : `internal error: ${(err as Error).message}`;
        send(res, status, { message: escapeControls(message) });
      }
    })();
  };
  return opts.tls ? createTlsServer(opts.tls, serve) : createServer(serve);
}

const obj = (x: unknown): Record<string, unknown> => (typeof x === 'object' && x !== null && !Array.isArray(x) ? (x as Record<string, unknown>) : {});
const str = (x: unknown): string | undefined => (typeof x === 'string' && x !== '' ? x : undefined);
const strMap = (x: unknown): Record<string, string> =>
  Object.fromEntries(Object.entries(obj(x)).filter(([, v]) => typeof v === 'string')) as Record<string, string>;

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

// ------------------------------------------------------------------------------------------
// Docker Engine API: networks

interface Filters {
  [key: string]: string[];
}

/** Docker's `filters` query: {"name":["n1"]} or the old {"name":{"n1":true}} form. */
function parseFilters(text: string | null): Filters {
  if (!text) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new HttpError(400, `invalid filters "${text}": expected JSON such as {"name":["n1"]}`);
  }
  return Object.fromEntries(
    Object.entries(obj(raw)).map(([k, v]) => [k, Array.isArray(v) ? v.map(String) : Object.keys(obj(v))]),
  );
}

route('GET', '/networks', async (engine, req) => {
  const { ensureDefaultNetwork, inspectNetwork } = await import('../engine/networks.js');
  await ensureDefaultNetwork(engine);
  const f = parseFilters(req.query.get('filters'));
  const allowed = ['name', 'id', 'driver', 'label', 'type', 'scope', 'dangling'];
  const bad = Object.keys(f).find((k) => !allowed.includes(k));
  if (bad) throw new HttpError(400, `invalid filter '${bad}'`);
  return engine.store
    .listNetworks()
    .filter((n) => !f.name || f.name.some((v) => n.name.includes(v)))
    .filter((n) => !f.id || f.id.some((v) => n.id.startsWith(v)))
    .filter((n) => !f.driver || f.driver.includes(n.driver))
    .filter((n) => !f.scope || f.scope.includes(n.scope))
    .filter((n) => !f.type || f.type.includes(n.name === 'bridge' ? 'builtin' : 'custom'))
    .filter((n) => !f.label || f.label.every((l) => {
      const [k, v] = l.split('=');
      return k !== undefined && k in n.labels && (v === undefined || n.labels[k] === v);
    }))
    .filter((n) => !f.dangling || (engine.store.listEndpoints({ networkId: n.id }).length === 0) === (f.dangling[0] === 'true'))
    .map((n) => inspectNetwork(engine, n));
});

route('GET', '/networks/{id}', async (engine, req) => {
  const { ensureDefaultNetwork, getNetwork, inspectNetwork } = await import('../engine/networks.js');
  if (req.params.id === 'bridge') await ensureDefaultNetwork(engine);
  return inspectNetwork(engine, getNetwork(engine, req.params.id ?? ''));
});

route(
  'POST',
  '/networks/create',
  async (engine, req) => {
    const { createNetwork } = await import('../engine/networks.js');
    const b = obj(req.body);
    const name = str(b.Name);
    if (!name) throw new HttpError(400, 'network name is required (Name)');
    const ipam = obj(b.IPAM);
    const driver = str(ipam.Driver);
    if (driver && driver !== 'default') throw new HttpError(400, `IPAM driver "${driver}" is not supported: only default`);
    const configs = Array.isArray(ipam.Config) ? ipam.Config.map(obj) : [];
    const net = await createNetwork(engine, {
      name,
      driver: str(b.Driver) ?? 'bridge',
      subnets: configs.map((c) => str(c.Subnet)).filter((x): x is string => x !== undefined),
      gateways: configs.map((c) => str(c.Gateway)).filter((x): x is string => x !== undefined),
      ipRanges: configs.map((c) => str(c.IPRange)).filter((x): x is string => x !== undefined),
      auxAddresses: Object.assign({}, ...configs.map((c) => strMap(c.AuxiliaryAddresses))) as Record<string, string>,
      ipv6: b.EnableIPv6 === true,
      internal: b.Internal === true,
      attachable: b.Attachable === true,
      options: strMap(b.Options),
      labels: strMap(b.Labels),
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
  const b = obj(req.body);
  const container = str(b.Container);
  if (!container) throw new HttpError(400, 'container is required (Container)');
  const ec = obj(b.EndpointConfig);
  const ipam = obj(ec.IPAMConfig);
  const aliases = Array.isArray(ec.Aliases) ? ec.Aliases.filter((a): a is string => typeof a === 'string') : [];
  const ip = str(ipam.IPv4Address);
  const ip6 = str(ipam.IPv6Address);
  const mac = str(ec.MacAddress);
  await connectContainer(engine, container, req.params.id ?? '', {
    ...(ip ? { ip } : {}),
    ...(ip6 ? { ip6 } : {}),
    aliases,
    ...(mac ? { mac: mac.toLowerCase() } : {}),
    ...(typeof ec.GwPriority === 'number' ? { gwPriority: ec.GwPriority } : {}),
  });
  publish({ Type: 'network', Action: 'connect', Actor: { ID: req.params.id ?? '', Attributes: { container } } });
  return undefined;
});

route('POST', '/networks/{id}/disconnect', async (engine, req) => {
  const { disconnectContainer } = await import('../engine/containers.js');
  const container = str(obj(req.body).Container);
  if (!container) throw new HttpError(400, 'container is required (Container)');
  await disconnectContainer(engine, container, req.params.id ?? '');
  publish({ Type: 'network', Action: 'disconnect', Actor: { ID: req.params.id ?? '', Attributes: { container } } });
  return undefined;
});

route('POST', '/networks/prune', async (engine) => {
  const { pruneNetworks } = await import('../engine/networks.js');
  const removed = await pruneNetworks(engine);
  for (const n of removed) publish({ Type: 'network', Action: 'destroy', Actor: { ID: n.id, Attributes: { name: n.name, type: n.driver } } });
  return { NetworksDeleted: removed.map((n) => n.name) };
});

// ------------------------------------------------------------------------------------------
// berth's own routes: containers, topology, events, the API description

route('GET', '/containers/json', async (engine, req) => {
  const { listContainers } = await import('../engine/containers.js');
  const { inspectContainer } = await import('../engine/inspect.js');
  const all = ['1', 'true'].includes(req.query.get('all') ?? '');
  return listContainers(engine, all).map((c) => inspectContainer(engine, c));
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
    const force = ['1', 'true'].includes(req.query.get('force') ?? '');
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
route('POST', '/berth/v1/cli', async (_engine, req) => req.gateway.run(parseCliRequest(req.body)), 200, true);
route('POST', '/berth/v1/cli/continue', async (_engine, req) => req.gateway.continue(req.body), 200, true);
route('POST', '/berth/v1/cni', async (_engine, req) => req.gateway.cni(req.body), 200, true);

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
