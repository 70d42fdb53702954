// bench/api-auth: what the TCP API's guards cost per request (issue 11, item 1): GET /_ping
// latency over the unix socket (no auth), loopback TCP with the bearer token, and mutual TLS,
// in one lab host, alternating rounds so all see the same machine load.
//
//   npm run build && node dist/bench/api-auth/run.js [--n N] [--rounds R]
//
// Needs openssl (the test PKI of test/e2e/auth-helpers.ts). Prints one JSON line per round and
// client; the lab's namespaces are removed at the end.
import { join } from 'node:path';
import { Lab, REPO_ROOT } from '../../test/lab/index.js';
import { makeTestPki } from '../../test/e2e/auth-helpers.js';
import { startDaemon, stopDaemon } from '../../test/e2e/daemon-helpers.js';
import { arg } from '../args.js';

const N = Number(arg('--n', '3000'));
const ROUNDS = Number(arg('--rounds', '2'));
const CLIENT = join(REPO_ROOT, 'dist', 'bench', 'api-auth', 'client.js');
const TOKEN_PORT = '23790';
const TLS_PORT = '23791';

const lab = await Lab.create({ label: 'bench api auth' });
const pki = await makeTestPki();
try {
  const h = await lab.createHost('h');
  // --tlsverify applies to every TCP listener: token and TLS need two daemons, one after the other
  const run = async (args: string[]) => console.log((await h.execOk([process.execPath, CLIENT, ...args], { timeoutMs: 120_000 })).stdout.trim());
  for (let r = 0; r < ROUNDS; r++) {
    let daemon = await startDaemon(h, { args: ['--api', `tcp://127.0.0.1:${TOKEN_PORT}`] });
    await run(['unix', String(N), daemon.sock]);
    await run(['token', String(N), TOKEN_PORT, join(h.rootDir, 'api-token')]);
    await stopDaemon(daemon);
    daemon = await startDaemon(h, { args: ['--api', `tcp://127.0.0.1:${TLS_PORT}`, '--tlsverify', '--tlscacert', pki.ca, '--tlscert', pki.serverCert, '--tlskey', pki.serverKey] });
    await run(['tls', String(N), TLS_PORT, pki.dir]);
    await stopDaemon(daemon);
  }
} finally {
  await pki.close();
  await lab.close();
}
