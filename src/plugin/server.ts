// Docker's plugin protocol (moby pkg/plugins): POST /<Interface>.<Method> with a JSON body over a
// unix socket in /run/docker/plugins/, answered with JSON. One call at a time: dockerd's calls
// for one container come in order, and the engine's use cases are not written for interleaving.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { BerthError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import type { Engine } from '../engine/context.js';
import { ipamDriverCalls } from './ipam-driver.js';
import { AnswerThenWork, networkDriverCalls, type Handler } from './network-driver.js';

export const PLUGIN_CONTENT_TYPE = 'application/vnd.docker.plugins.v1.2+json';
/** dockerd's bodies are small; anything bigger is not dockerd */
const MAX_BODY = 1 << 20;

const calls: Record<string, Handler> = {
  'Plugin.Activate': async () => ({ Implements: ['NetworkDriver', 'IpamDriver'] }),
  ...networkDriverCalls,
  ...ipamDriverCalls,
};

function reply(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': PLUGIN_CONTENT_TYPE, 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error(`body over ${MAX_BODY} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export interface PluginServerOptions {
  log: (line: string) => void;
}

/** The plugin's HTTP server (not listening yet). */
export function createPluginServer(engine: Engine, opts: PluginServerOptions): Server {
  let queue: Promise<unknown> = Promise.resolve();
  return createServer((req, res) => {
    const method = (req.url ?? '').replace(/^\//, '');
    const handler = Object.hasOwn(calls, method) ? calls[method] : undefined;
    // the network driver answers {"Err"}, the IPAM driver {"Error"} (libnetwork's two remote APIs)
    const errKey = method.startsWith('IpamDriver.') ? 'Error' : 'Err';
    if (req.method !== 'POST') return reply(res, 405, { [errKey]: `${req.method ?? ''} is not allowed: plugin calls are POST` });
    // 404: libnetwork treats the call as one this plugin does not implement
    if (!handler) return reply(res, 404, { [errKey]: `unknown plugin call "${method}"` });
    readBody(req)
      .then((text) => {
        let body: unknown = {};
        if (text.trim()) {
          try {
            body = JSON.parse(text);
          } catch {
            return reply(res, 400, { [errKey]: `${method}: the body is not JSON` });
          }
        }
        trace(`docker plugin: ${method} ${text.slice(0, 2000)}`);
        const run = queue.then(() => handler(engine, body));
        // the next call waits for work an answer left running (an endpoint's plug after CreateEndpoint)
        queue = run.then(
          (a) => (a instanceof AnswerThenWork ? a.work.catch((err: unknown) => opts.log(`docker plugin: ${method}, after its answer: ${err instanceof Error ? err.message : String(err)}`)) : undefined),
          () => undefined,
        );
        return run.then(
          (answer) => {
            trace(`docker plugin: ${method} done`);
            reply(res, 200, answer instanceof AnswerThenWork ? answer.answer : answer);
          },
          (err: unknown) => {
            const msg = err instanceof Error ? err.message : String(err);
            if (!(err instanceof BerthError)) opts.log(`docker plugin: ${method}: ${err instanceof Error ? (err.stack ?? msg) : msg}`);
            // the error in the body reaches the docker CLI as "Error response from daemon: …"
            reply(res, 200, { [errKey]: `berth: ${msg}` });
          },
        );
      })
      .catch((err: Error) => reply(res, 413, { [errKey]: `${method}: ${err.message}` }));
  });
}
