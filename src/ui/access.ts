// Who may see the topology page: anyone on this machine when it listens on loopback (as the
// design says); on any other address only a browser that shows the token the daemon printed at
// start (also in $BERTH_ROOT/ui-token, mode 0600). The token comes once in the page's URL and is
// then kept in an HttpOnly, SameSite=Strict cookie.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { chmodSync, closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { UserError, quote } from '../common/errors.js';

export interface UiAddress {
  host: string;
  port: number;
  loopback: boolean;
}

/** `--ui IP:PORT` ([IPv6]:PORT, localhost:PORT); port 0 takes a free one. */
export function parseUiAddress(spec: string): UiAddress {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):([0-9]{1,5})$/.exec(spec);
  const host = (m?.[1] ?? '').replace(/^\[|\]$/g, '');
  const port = Number(m?.[2]);
  if (!m || !(host === 'localhost' || isIP(host)) || port > 65535) {
    throw new UserError(`invalid --ui ${quote(spec)}: expected IP:PORT (an IPv4 address, [IPv6] or localhost; port 0-65535), e.g. 127.0.0.1:8088`);
  }
  const loopback = host === 'localhost' || /^127\./.test(host) || host === '::1';
  return { host, port, loopback };
}

export const UI_COOKIE = 'berth_ui';

/** A new token for this daemon's page, written to $BERTH_ROOT/ui-token (0600, root's). */
export function newUiToken(root: string): string {
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const token = randomBytes(32).toString('base64url');
  const path = join(root, 'ui-token');
  const old = process.umask(0o077);
  try {
    const fd = openSync(path, 'w', 0o600);
    try {
      writeSync(fd, `${token}\n`);
    } finally {
      closeSync(fd);
    }
    chmodSync(path, 0o600);
  } finally {
    process.umask(old);
  }
  return token;
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** The token a request shows: ?token=, the cookie, or Authorization: Bearer. */
export function tokenOf(req: IncomingMessage, url: URL): string | undefined {
  const q = url.searchParams.get('token');
  if (q) return q;
  const cookie = (req.headers.cookie ?? '').split(';').map((c) => c.trim()).find((c) => c.startsWith(`${UI_COOKIE}=`));
  if (cookie) return decodeURIComponent(cookie.slice(UI_COOKIE.length + 1));
  const auth = req.headers.authorization;
  return auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : undefined;
}

export function tokenAccepted(shown: string | undefined, token: string): boolean {
  return shown !== undefined && same(shown, token);
}

/**
 * A loopback page answers only to its own Host names: a web site the user visits cannot rebind
 * its name to 127.0.0.1 and read the page (DNS rebinding).
 */
export function hostHeaderAccepted(req: IncomingMessage, addr: UiAddress, port: number): boolean {
  if (!addr.loopback) return true;
  const host = (req.headers.host ?? '').toLowerCase();
  const allowed = new Set([`${addr.host}:${port}`, `[${addr.host}]:${port}`, `localhost:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`]);
  return allowed.has(host);
}
