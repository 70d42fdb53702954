// One client of bench/api-auth: N sequential GET /_ping on one keep-alive connection to the
// daemon, after 200 warm-up requests; prints {mode, n, p50_us, p99_us} as JSON.
//   node dist/bench/api-auth/client.js unix N SOCKET | token N PORT TOKENFILE | tls N PORT PKIDIR
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';

const [mode, nText, a, b] = process.argv.slice(2) as [string, string, string, string | undefined];
const n = Number(nText);
const keep = { keepAlive: true, maxSockets: 1 };
const agent =
  mode === 'tls'
    ? new https.Agent({ ...keep, ca: readFileSync(`${b}/ca.pem`), cert: readFileSync(`${b}/client.pem`), key: readFileSync(`${b}/client-key.pem`) })
    : new http.Agent(keep);
const opts: http.RequestOptions =
  mode === 'unix'
    ? { socketPath: a, path: '/_ping', agent }
    : { host: '127.0.0.1', port: Number(a), path: '/_ping', agent, ...(mode === 'token' ? { headers: { Authorization: `Bearer ${readFileSync(b ?? '', 'utf8').trim()}` } } : {}) };
const get = mode === 'tls' ? https.get : http.get;
const once = () =>
  new Promise<void>((resolve, reject) => {
    get(opts, (r) => {
      r.resume();
      r.on('end', () => (r.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${r.statusCode}`))));
    }).on('error', reject);
  });
for (let i = 0; i < 200; i++) await once();
const t: number[] = [];
for (let i = 0; i < n; i++) {
  const s = process.hrtime.bigint();
  await once();
  t.push(Number(process.hrtime.bigint() - s) / 1000);
}
t.sort((x, y) => x - y);
console.log(JSON.stringify({ mode, n, p50_us: Math.round(t[n >> 1] ?? 0), p99_us: Math.round(t[Math.floor(n * 0.99)] ?? 0) }));
agent.destroy();
