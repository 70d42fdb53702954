// Where dockerd finds the plugin: a unix socket (dockerd looks in /run/docker/plugins/NAME.sock;
// NAME is what `docker network create -d NAME` names). Root-only, like berth's API socket.
import { chmodSync, mkdirSync, rmSync, statSync } from 'node:fs';
import type { Server } from 'node:http';
import { dirname } from 'node:path';
import { UserError } from '../common/errors.js';
import { socketAnswers } from '../common/unix-socket.js';
import type { Engine } from '../engine/context.js';
import { createPluginServer } from './server.js';

/** Checked before the daemon starts anything: a directory others may write, or a live plugin there, refuse. */
export async function checkDockerPluginSocket(path: string): Promise<void> {
  let st: { mode: number; uid: number } | undefined;
  try {
    st = statSync(dirname(path));
  } catch {
    st = undefined; // made below, 0755 as dockerd makes it
  }
  if (st && (st.mode & 0o022 || st.uid !== process.geteuid?.())) {
    throw new UserError(`--docker-plugin "${path}": the directory ${dirname(path)} is writable by others or not root's (mode ${(st.mode & 0o7777).toString(8)}): someone could replace the socket`);
  }
  if (await socketAnswers(path)) throw new UserError(`--docker-plugin "${path}": a plugin already answers there: stop it first, or give this daemon another socket`);
}

/** Serve the plugin on path (a stale socket file is replaced); the file goes when the server closes. */
export async function listenDockerPlugin(engine: Engine, path: string, log: (line: string) => void): Promise<Server> {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  rmSync(path, { force: true });
  const server = createPluginServer(engine, { log });
  await new Promise<void>((resolve, reject) => {
    // born 0600 (no window where others may connect), then 0660 root:root
    const umask = process.umask(0o077);
    server.once('error', (err) => {
      process.umask(umask);
      reject(err);
    });
    server.listen(path, () => {
      process.umask(umask);
      chmodSync(path, 0o660);
      resolve();
    });
  });
  server.once('close', () => rmSync(path, { force: true }));
  log(`docker plugin listening on ${path}`);
  return server;
}
