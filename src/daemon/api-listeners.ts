// Where the daemon's REST API listens, and who may use it (DESIGN.md, Errors, input and safety).
// A unix socket is guarded by its file mode (0660 root:root). TCP is off unless asked for; a
// loopback TCP listener needs a bearer token that only root can read ($BERTH_ROOT/api-token), and
// any TCP listener may instead use mutual TLS as dockerd's --tlsverify does. A non-loopback TCP
// listener without TLS is refused: anyone who reaches it could run commands as root.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, mkdirSync, closeSync, fstatSync, lstatSync, openSync, readFileSync, statSync, writeSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { dirname, join } from 'node:path';
import { quote, UserError } from '../common/errors.js';

export interface Listener {
  kind: 'unix' | 'tcp';
  path?: string;
  host?: string;
  port?: number;
}

/** The files of mutual TLS (dockerd: --tlsverify --tlscacert --tlscert --tlskey). */
export interface TlsFiles {
  ca: string;
  cert: string;
  key: string;
}

const TCP = /^tcp:\/\/(\[[0-9A-Fa-f:.]+\]|[0-9.]+|localhost):(\d{1,5})$/;

export function parseListener(spec: string): Listener {
  if (spec.startsWith('unix:///')) return { kind: 'unix', path: spec.slice('unix://'.length) };
  const m = TCP.exec(spec);
  const host = (m?.[1] ?? '').replace(/^\[|\]$/g, '');
  const port = Number(m?.[2]);
  if (m && (host === 'localhost' || isIP(host)) && port >= 1 && port <= 65535) return { kind: 'tcp', host, port };
  throw new UserError(`invalid --api ${quote(spec)}: expected unix:///PATH or tcp://IP:PORT (an IPv4 address, [IPv6] or localhost; port 1-65535)`);
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || /^127\./.test(host) || host === '::1' || /^::ffff:127\./i.test(host);
}

/** How a listener is guarded: a file mode, a bearer token, or client certificates. */
export type Guard = { kind: 'socket-mode' } | { kind: 'token' } | { kind: 'tls'; tls: TlsFiles };

/**
 * Check every --api listener against the TLS options before anything starts; answers each
 * listener's guard. Refuses a non-loopback TCP listener without TLS, and half-given TLS options.
 */
export function planListeners(specs: readonly string[], tls: Partial<TlsFiles> & { verify?: boolean }): { listener: Listener; spec: string; guard: Guard }[] {
  const given = (['ca', 'cert', 'key'] as const).filter((k) => tls[k] !== undefined);
  if (tls.verify && given.length !== 3) {
    throw new UserError('--tlsverify needs --tlscacert, --tlscert and --tlskey (the CA that signs client certificates, and the server certificate and key)');
  }
  if (!tls.verify && given.length) {
    throw new UserError('--tlscacert, --tlscert and --tlskey go with --tlsverify: berth serves TCP over TLS only with client certificates');
  }
  const files = tls.verify ? (tls as TlsFiles) : undefined;
  return specs.map((spec) => {
    const listener = parseListener(spec);
    if (listener.kind === 'unix') return { listener, spec, guard: { kind: 'socket-mode' } };
    if (files) return { listener, spec, guard: { kind: 'tls', tls: files } };
    if (!isLoopback(listener.host as string)) {
      throw new UserError(
        `--api ${quote(spec)} is not a loopback address: anyone who reaches it could run commands as root. ` +
          'Use --tlsverify with --tlscacert, --tlscert and --tlskey (client certificates), or a loopback address (127.0.0.1, [::1]) with the token in $BERTH_ROOT/api-token',
      );
    }
    return { listener, spec, guard: { kind: 'token' } };
  });
}

/**
 * Refuse a unix socket in a directory someone else may write (e.g. /tmp, a group-writable or
 * another user's directory): they could put their own socket or a symlink where clients expect
 * berth's. A missing directory is made 0711 later.
 */
export function checkSocketDir(socketPath: string): void {
  const dir = dirname(socketPath);
  let st: { mode: number; uid: number };
  try {
    st = statSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  const mode = (st.mode & 0o7777).toString(8);
  const who = st.mode & 0o002 ? `world-writable (mode ${mode})` : st.mode & 0o020 ? `group-writable (mode ${mode})` : st.uid !== process.geteuid?.() ? `owned by uid ${st.uid}` : undefined;
  if (who) {
    throw new UserError(
      `--api ${quote(`unix://${socketPath}`)}: the directory ${quote(dir)} is ${who}, so someone else could replace the socket: use a directory only root can write (e.g. /run/berth)`,
    );
  }
}

/** Read the TLS files once at start (a missing or unreadable file fails the start, exit 1). */
export function readTlsFiles(tls: TlsFiles): { ca: Buffer; cert: Buffer; key: Buffer } {
  const read = (flag: string, path: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (err) {
      throw new UserError(`${flag} ${quote(path)}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}: expected a readable PEM file`);
    }
  };
  return { ca: read('--tlscacert', tls.ca), cert: read('--tlscert', tls.cert), key: read('--tlskey', tls.key) };
}

const TOKEN = /^[A-Za-z0-9_-]{32,256}$/;

/**
 * The API token in root/api-token: made (256 random bits, mode 0600) when missing, and kept
 * across restarts so clients that read it once keep working. A token file someone else can
 * read is narrowed to 0600; one that is not a regular file, or holds no token, is refused.
 */
export function ensureApiToken(root: string): string {
  const path = join(root, 'api-token');
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const old = process.umask(0o077);
  try {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
      const token = randomBytes(32).toString('base64url');
      writeSync(fd, `${token}\n`);
      closeSync(fd);
      return token;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    if (!lstatSync(path).isFile()) throw new UserError(`${path} is not a regular file: remove it, and the daemon makes a new API token`);
    fd = openSync(path, 'r');
    try {
      if ((fstatSync(fd).mode & 0o077) !== 0) chmodSync(path, 0o600);
      const token = readFileSync(fd, 'utf8').trim();
      if (!TOKEN.test(token)) throw new UserError(`${path} holds no API token (32-256 characters of A-Z a-z 0-9 _ -): remove it, and the daemon makes a new one`);
      return token;
    } finally {
      closeSync(fd);
    }
  } finally {
    process.umask(old);
  }
}

/**
 * A request check for `Authorization: Bearer <token>`: undefined when allowed, else why not.
 * Both sides are hashed first so the comparison takes the same time whatever the length.
 */
export function bearerCheck(token: string): (req: IncomingMessage) => string | undefined {
  const want = createHash('sha256').update(token).digest();
  return (req) => {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '');
    if (!m) return 'this API listener needs "Authorization: Bearer <token>" (the token is in $BERTH_ROOT/api-token, readable by root)';
    const got = createHash('sha256').update(m[1] as string).digest();
    return timingSafeEqual(got, want) ? undefined : 'the bearer token is not this daemon\'s API token ($BERTH_ROOT/api-token)';
  };
}
