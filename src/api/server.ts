// berth's REST API over HTTP: a subset of the Docker Engine API (so the stock docker CLI and
// dockerode manage berth networks) plus berth's own routes. A front end: it parses requests,
// calls the engine and formats answers; it holds no logic of its own.
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type ServerOptions as TlsServerOptions } from 'node:https';
import { BerthError, ConflictError, ForbiddenError, NotFoundError, UserError, escapeControls } from '../common/errors.js';
import { VERSION } from '../common/version.js';
import type { Engine } from '../engine/context.js';
import { peerCredentials } from '../engine/host.js';
import { events, type BerthEvent } from './events.js';
import { API_VERSION, HttpError } from './http.js';
import { containerRoutes } from './routes-containers.js';
import { networkRoutes } from './routes-networks.js';
import { berthRoutes, systemRoutes } from './routes-system.js';
import type { GatewayFactory, ThinClientGateway } from './gateway.js';
import { CliBody, CliContinueBody, CniBody, decodeBody } from './schemas.js';

export { API_VERSION, HttpError } from './http.js';

type Params = Record<string, string>;
interface Request {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Params;
  body: unknown;
  raw: IncomingMessage;
  res: ServerResponse;
  gateway: ThinClientGateway;
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
  if (err instanceof ForbiddenError) return 403;
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
  /** serves the thin client's routes (/berth/v1/cli, /cli/continue, /cni) */
  gateway: GatewayFactory;
  /** checked before anything else: undefined lets the request in, a string answers 401 with it */
  authorize?: (raw: IncomingMessage) => string | undefined;
  /** serve HTTPS (the daemon passes mutual TLS: client certificates required) */
  tls?: TlsServerOptions;
}

export function createApiServer(engine: Engine, opts: ApiServerOptions): Server {
  // one engine call at a time: berth's operations are read-modify-write on shared kernel state
  let queue: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = queue.then(fn, fn);
    queue = next.catch(() => undefined);
    return next;
  };
  const gateway = opts.gateway(serial);
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

// ------------------------------------------------------------------------------------------
// Docker Engine API (system, networks) and berth's own routes (containers, topology, the API
// description): each group in its own module, registered in this order

for (const r of [...systemRoutes, ...networkRoutes, ...containerRoutes, ...berthRoutes]) route(r.method, r.path, r.handler, r.status);

// ------------------------------------------------------------------------------------------
// berth: the thin client's gateway (src/api/gateway.ts, src/cli/gateway.ts, src/cni/gateway.ts)

const CLI_FRAMES = 'application/vnd.berth.cli-frames';
route('POST', '/berth/v1/cli', async (_engine, req) => req.gateway.run(decodeBody(CliBody, req.body, 'cli')), 200, true);
route('POST', '/berth/v1/cli/continue', async (_engine, req) => req.gateway.continue(decodeBody(CliContinueBody, req.body, 'cli continue')), 200, true);
// the caller's pid from the kernel (SO_PEERCRED on the unix socket), never from the body; over TCP none
const socketFd = (raw: IncomingMessage) => (raw.socket as unknown as { _handle?: { fd?: unknown } })._handle?.fd;
const callerPid = (raw: IncomingMessage) => {
  const fd = socketFd(raw);
  return typeof fd === 'number' && fd >= 0 ? peerCredentials(fd)?.pid : undefined;
};
route('POST', '/berth/v1/cni', async (_engine, req) => req.gateway.cni(decodeBody(CniBody, req.body, 'cni'), callerPid(req.raw)), 200, true);

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
