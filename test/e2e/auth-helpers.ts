// Pieces of the trust tests (issue 11): run a command as the unprivileged user `nobody`, HTTP
// with curl (as anyone, over TCP or TLS), and a throwaway CA with server and client certificates
// made by openssl (argv only), in a directory every user may read (these keys guard nothing).
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type ExecResult, type LabNode, runOk } from '../lab/index.js';

export const NOBODY = 65534;

/** argv that runs argv as nobody:nogroup with no supplementary groups. */
export function asNobody(argv: readonly string[]): string[] {
  return ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', '--', ...argv];
}

export interface CurlReply {
  /** the HTTP status, or 0 when there was no HTTP answer (connection or TLS handshake refused) */
  status: number;
  body: string;
  exit: number | null;
  stderr: string;
}

export interface CurlOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  /** run curl as nobody */
  nobody?: boolean;
  /** --cacert, --cert, --key */
  tls?: { ca: string; cert?: string; key?: string };
}

/** One HTTP request with curl from inside node n. */
export async function curl(n: LabNode, url: string, opts: CurlOptions = {}): Promise<CurlReply> {
  const argv = ['curl', '-sS', '--max-time', '10', '-o', '-', '-w', '\n%{http_code}', '-X', opts.method ?? 'GET'];
  for (const [k, v] of Object.entries(opts.headers ?? {})) argv.push('-H', `${k}: ${v}`);
  if (opts.body !== undefined) argv.push('-H', 'Content-Type: application/json', '--data-binary', JSON.stringify(opts.body));
  if (opts.tls) {
    argv.push('--cacert', opts.tls.ca);
    if (opts.tls.cert) argv.push('--cert', opts.tls.cert);
    if (opts.tls.key) argv.push('--key', opts.tls.key);
  }
  argv.push(url);
  const r: ExecResult = await n.exec(opts.nobody ? asNobody(argv) : argv);
  const cut = r.stdout.lastIndexOf('\n');
  return { status: Number(r.stdout.slice(cut + 1)) || 0, body: r.stdout.slice(0, Math.max(cut, 0)), exit: r.code, stderr: r.stderr };
}

export interface TestPki {
  dir: string;
  ca: string;
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
  /** a client certificate from another CA: must be refused */
  rogueCert: string;
  rogueKey: string;
  close(): Promise<void>;
}

const EC = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed, plus a rogue client. */
export async function makeTestPki(): Promise<TestPki> {
  const dir = await mkdtemp(join(tmpdir(), 'berth-pki-'));
  await chmod(dir, 0o755);
  const f = (name: string) => join(dir, name);
  const ssl = (args: string[]) => runOk(['openssl', ...args]);
  const selfSigned = (key: string, cert: string, cn: string) =>
    ssl(['req', '-x509', ...EC, '-keyout', f(key), '-out', f(cert), '-days', '2', '-subj', `/CN=${cn}`]);
  const signed = async (name: string, cn: string, ext: string) => {
    await writeFile(f(`${name}.ext`), ext);
    await ssl(['req', ...EC, '-keyout', f(`${name}-key.pem`), '-out', f(`${name}.csr`), '-subj', `/CN=${cn}`]);
    await ssl(['x509', '-req', '-in', f(`${name}.csr`), '-CA', f('ca.pem'), '-CAkey', f('ca-key.pem'), '-CAcreateserial', '-out', f(`${name}.pem`), '-days', '2', '-extfile', f(`${name}.ext`)]);
  };
  try {
    await selfSigned('ca-key.pem', 'ca.pem', 'berth test CA');
    await signed('server', '127.0.0.1', 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
    await signed('client', 'berth test client', 'extendedKeyUsage=clientAuth\n');
    await selfSigned('rogue-key.pem', 'rogue.pem', 'rogue client');
    // nobody runs curl with these: test keys, readable by all
    for (const name of ['ca.pem', 'server.pem', 'server-key.pem', 'client.pem', 'client-key.pem', 'rogue.pem', 'rogue-key.pem']) await chmod(f(name), 0o644);
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    throw e;
  }
  return {
    dir,
    ca: f('ca.pem'),
    serverCert: f('server.pem'),
    serverKey: f('server-key.pem'),
    clientCert: f('client.pem'),
    clientKey: f('client-key.pem'),
    rogueCert: f('rogue.pem'),
    rogueKey: f('rogue-key.pem'),
    close: () => rm(dir, { recursive: true, force: true }),
  };
}
