// `berth daemon --ui IP:PORT`: the topology page. One HTML page and its script (built by esbuild
// from src/ui/page/, no CDN), the graph (GET /topology), one node's details (GET
// /topology/node?id=) and a stream of the graph's changes (GET /events: `topology` events, each
// the difference from the last version; live-graph.ts keeps the graph while a page listens).
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BerthError, NotFoundError } from '../common/errors.js';
import type { Engine } from '../engine/context.js';
import { LiveGraph } from './live-graph.js';
import { UI_COOKIE, hostHeaderAccepted, newUiToken, parseUiAddress, tokenAccepted, tokenOf } from './access.js';

export interface UiOptions {
  /** IP:PORT as given to --ui */
  listen: string;
  engine: Engine;
  /** the daemon's change events; returns the unsubscribe */
  subscribe(listener: (event: unknown) => void): () => void;
  log(line: string): void;
  /** how often the store is checked for changes while a page is open (ms) */
  pollMs?: number;
  /** how old the drift findings drawn may be (ms; default 5 s) */
  driftEveryMs?: number;
}

export interface UiServer {
  server: Server;
  url: string;
  /** set off loopback */
  token?: string;
  close(): Promise<void>;
}

/** The page's script, dist/ui/page.js: from the bundle's chunks (dist/chunks/), next to a one-file bundle, or from dist/src/ui/. */
function readPageScript(): string {
  for (const rel of ['../ui/page.js', './ui/page.js', '../../ui/page.js']) {
    const url = new URL(rel, import.meta.url);
    if (existsSync(url)) return readFileSync(url, 'utf8');
  }
  throw new Error('the topology page was not built (dist/ui/page.js): run npm run build');
}

const PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>berth topology</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
</head><body><div id="app"></div><script src="/page.js"></script></body></html>
`;

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-store',
};

export async function startUi(opts: UiOptions): Promise<UiServer> {
  const addr = parseUiAddress(opts.listen);
  const script = readPageScript();
  const token = addr.loopback ? undefined : newUiToken(opts.engine.paths.root);
  const streams = new Set<ServerResponse>();
  let port = addr.port;

  // the graph kept while a page listens, rebuilt on each change: the daemon's events, and a
  // change of the store by a CLI that ran without the daemon (its version, checked every pollMs)
  let lastVersion = -1;
  let poll: NodeJS.Timeout | undefined;
  const broadcast = (event: string, data: string) => {
    for (const s of streams) s.write(`event: ${event}\ndata: ${data}\n\n`);
  };
  const live = new LiveGraph({
    engine: opts.engine,
    log: (line) => opts.log(line),
    driftEveryMs: opts.driftEveryMs ?? 5000,
    onDiff: (diff, timing) => broadcast('topology', JSON.stringify({ ...diff, timing: { ...timing, buildMs: Math.round(timing.buildMs) } })),
  });
  const unsubscribe = opts.subscribe(() => {
    if (streams.size) live.changed();
  });
  const watchStore = () => {
    if (poll || !streams.size) return;
    lastVersion = opts.engine.store.dataVersion();
    poll = setInterval(() => {
      if (!streams.size) {
        clearInterval(poll);
        poll = undefined;
        live.forget();
        return;
      }
      const v = opts.engine.store.dataVersion();
      if (v !== lastVersion) live.changed();
      lastVersion = v;
    }, opts.pollMs ?? 250);
  };

  const send = (res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}) => {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': type, ...extra });
    res.end(body);
  };
  const json = (res: ServerResponse, status: number, data: unknown) => send(res, status, 'application/json', JSON.stringify(data));

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://ui');
    if (!hostHeaderAccepted(req, addr, port)) return json(res, 421, { message: `this page answers to ${addr.host}:${port}, not to Host ${req.headers.host ?? '(none)'}` });
    const extra: Record<string, string> = {};
    if (token !== undefined) {
      if (!tokenAccepted(tokenOf(req, url), token)) {
        return send(res, 401, 'text/plain; charset=utf-8', 'berth topology: this page needs the token the daemon printed at start (also in $BERTH_ROOT/ui-token): open /?token=TOKEN\n', { 'www-authenticate': 'Bearer' });
      }
      // the URL's token is kept in a cookie the page's script cannot read
      if (url.searchParams.has('token')) extra['set-cookie'] = `${UI_COOKIE}=${encodeURIComponent(token)}; HttpOnly; SameSite=Strict; Path=/`;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return json(res, 405, { message: `${req.method ?? ''} is not allowed: the page only reads` });
    switch (url.pathname) {
      case '/':
        return send(res, 200, 'text/html; charset=utf-8', PAGE, extra);
      case '/page.js':
        return send(res, 200, 'text/javascript; charset=utf-8', script);
      case '/topology': {
        const t0 = performance.now();
        const { graph, version } = await live.current();
        send(res, 200, 'application/json', JSON.stringify(graph), { 'server-timing': `graph;dur=${(performance.now() - t0).toFixed(1)}`, 'x-topology-version': String(version) });
        // no page listens: nothing tells the kept graph of changes, so none is kept
        if (!streams.size) live.forget();
        return;
      }
      case '/topology/node': {
        const id = url.searchParams.get('id') ?? '';
        if (!id || id.length > 300) return json(res, 400, { message: 'id: expected a node id of GET /topology (host, host/IFNAME, network/NAME, ns/ID[/IFNAME])' });
        const { topologyNodeDetails } = await import('../engine/topology-details.js');
        return json(res, 200, await topologyNodeDetails(opts.engine, id));
      }
      case '/events': {
        res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream', connection: 'keep-alive' });
        res.write(': berth topology events\n\n');
        streams.add(res);
        watchStore();
        req.once('close', () => {
          streams.delete(res);
          if (!streams.size) live.forget();
        });
        return;
      }
      default:
        return json(res, 404, { message: `no ${url.pathname} here: the page is at /` });
    }
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof NotFoundError ? 404 : err instanceof BerthError ? 400 : 500;
      if (status === 500) opts.log(`ui: ${(err as Error).message}`);
      if (!res.headersSent) json(res, status, { message: (err as Error).message });
      else res.end();
    });
  });
  // an idle SSE stream is kept open: no request timeout for it, a comment now and then for proxies
  server.requestTimeout = 0;
  const keepalive = setInterval(() => {
    for (const s of streams) s.write(': keepalive\n\n');
  }, 15_000);
  keepalive.unref();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(addr.port, addr.host, () => resolve());
  });
  port = (server.address() as AddressInfo).port;
  const shown = addr.host.includes(':') ? `[${addr.host}]` : addr.host;
  const url = `http://${shown}:${port}/`;
  opts.log(token ? `ui: topology page on ${url}?token=${token} (not loopback: the token is required; also in ${opts.engine.paths.root}/ui-token)` : `ui: topology page on ${url}`);
  return {
    server,
    url,
    ...(token ? { token } : {}),
    async close() {
      unsubscribe();
      live.close();
      clearInterval(keepalive);
      if (poll) clearInterval(poll);
      for (const s of streams) s.end();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
