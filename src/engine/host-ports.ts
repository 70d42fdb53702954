// Host ports for publishing: pick free ones for random bindings, and refuse ports that a host
// process already holds (the kernel would otherwise silently give the traffic to berth's DNAT).
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { ConflictError, UserError } from '../common/errors.js';
import { pickHostPort, type PortBinding, type Proto } from '../portmap/index.js';
import type { Engine } from './context.js';

const WILDCARD = new Set(['0.0.0.0', '::', undefined]);

/** A host port for the binding: its own, or a free one picked from its range / the ephemeral range. */
export async function pickPort(engine: Engine, b: PortBinding): Promise<number> {
  if (b.hostPort !== undefined && b.hostPort !== 0) return b.hostPort;
  const reserved = engine.store.listPorts();
  const isTaken = (proto: Proto, hostIp: string | undefined, port: number) =>
    reserved.some(
      (r) => r.proto === proto && r.hostPort === port && (WILDCARD.has(r.hostIp) || WILDCARD.has(hostIp) || r.hostIp === hostIp),
    );
  // a port a host process holds is skipped too: try a few candidates
  for (let attempt = 0; attempt < 20; attempt++) {
    const port = b.hostPortRange ? pickHostPort(b, isTaken, b.hostPortRange) : pickHostPort(b, isTaken);
    if (await hostPortFree(b.proto, b.hostIp, port)) return port;
    reserved.push({ proto: b.proto, hostIp: b.hostIp ?? '0.0.0.0', hostPort: port, containerId: '', endpointId: null, targetIp: '', targetPort: 0 });
  }
  throw new UserError(`could not find a free host port for ${b.containerPort}/${b.proto}: give one with -p HOST:${b.containerPort}`);
}

function hostPortFree(proto: Proto, hostIp: string | undefined, port: number): Promise<boolean> {
  return probe(proto, hostIp, port).then(
    () => true,
    (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE' || err.code === 'EACCES') return false;
      throw err;
    },
  );
}

/** Bind the port for a moment where berth runs (the host) to see whether someone holds it. */
function probe(proto: Proto, hostIp: string | undefined, port: number): Promise<void> {
  const host = hostIp ?? '0.0.0.0';
  if (proto === 'sctp') return Promise.resolve(); // Node has no SCTP sockets; the store still guards berth's own
  return new Promise((resolve, reject) => {
    if (proto === 'tcp') {
      const srv = createServer();
      srv.once('error', reject);
      srv.listen({ port, host, exclusive: true }, () => srv.close(() => resolve()));
    } else {
      const sock = createSocket(host.includes(':') ? 'udp6' : 'udp4');
      sock.once('error', (e) => {
        sock.close();
        reject(e);
      });
      sock.bind({ port, address: host, exclusive: true }, () => sock.close(() => resolve()));
    }
  });
}

/** Refuse a port a host process already holds, naming it. */
export async function checkHostPortFree(proto: Proto, hostIp: string | undefined, port: number): Promise<void> {
  try {
    await probe(proto, hostIp, port);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const where = `${hostIp ?? '0.0.0.0'}:${port}/${proto}`;
    if (code === 'EADDRINUSE') throw new ConflictError(`cannot publish ${where}: the port is already in use on the host; choose another host port`);
    if (code === 'EADDRNOTAVAIL') throw new UserError(`cannot publish on ${hostIp}: it is not an address of this host`);
    throw err;
  }
}
