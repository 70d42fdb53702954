// `network connect` and `network disconnect`: another leg for a running container, or one
// less. Only a container with a network namespace of its own has legs to add or remove.
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import { checkUnicastMac } from '../common/mac.js';
import type { Engine } from './context.js';
import { readyNetwork } from './container-prepare.js';
import { getContainer, liveStatus, type Container } from './container-types.js';
import { attachNetworkEndpoint, nextInterfaceName, releaseEndpoints, syncDefaultRoutes, Undo } from './endpoints.js';
import { storedNetworkMode } from './network-mode.js';
import { ensureDefaultNetwork, getNetwork } from './networks.js';
import { releaseRelayedPorts } from './port-relay.js';

function ownNetns(engine: Engine, c: Container, action: string): string {
  if (liveStatus(c) !== 'running') throw new ConflictError(`container "${c.name}" is not running: cannot ${action}`);
  const mode = storedNetworkMode(c.config.networkMode).kind;
  if (mode === 'host' || mode === 'container' || !c.state.netns) {
    throw new ConflictError(`container "${c.name}" uses network mode "${c.config.networkMode}": it has no network namespace of its own to ${action}`);
  }
  return c.state.netns;
}

export interface ConnectOptions {
  ip?: string;
  ip6?: string;
  aliases?: string[];
  mac?: string;
  gwPriority?: number;
}

/** `network connect`: a new ethN in a running container; undone if any step fails. */
export async function connectContainer(engine: Engine, ref: string, networkRef: string, opts: ConnectOptions): Promise<void> {
  if (opts.mac !== undefined) checkUnicastMac(opts.mac);
  const c = getContainer(engine, ref);
  const netns = ownNetns(engine, c, 'connect it to a network');
  const network = networkRef === 'bridge' ? await ensureDefaultNetwork(engine) : await readyNetwork(engine, networkRef);
  if (network.name === 'bridge' && (opts.ip || opts.ip6 || opts.aliases?.length)) {
    throw new UserError('--ip, --ip6 and --alias are supported on user-defined networks only');
  }
  if (engine.store.listEndpoints({ containerId: c.id }).some((e) => e.networkId === network.id)) {
    throw new ConflictError(`container "${c.name}" is already connected to network "${network.name}"`);
  }
  const undo = new Undo();
  try {
    await attachNetworkEndpoint(
      engine,
      network,
      {
        containerId: c.id,
        netns,
        ifname: nextInterfaceName(engine, c.id),
        publish: [],
        ...(opts.mac ? { mac: opts.mac } : {}),
        ...(opts.ip ? { ip: opts.ip } : {}),
        ...(opts.ip6 ? { ip6: opts.ip6 } : {}),
        aliases: opts.aliases ?? [],
        gwPriority: opts.gwPriority ?? 0,
      },
      undo,
    );
    await syncDefaultRoutes(engine, c.id, netns);
  } catch (err) {
    await undo.run();
    throw err;
  }
}

/** `network disconnect`: remove the container's ethN on that network; its other legs stay up. */
export async function disconnectContainer(engine: Engine, ref: string, networkRef: string): Promise<void> {
  const c = getContainer(engine, ref);
  const network = getNetwork(engine, networkRef);
  const ep = engine.store.listEndpoints({ containerId: c.id }).find((e) => e.networkId === network.id);
  if (!ep) throw new NotFoundError(`container "${c.name}" is not connected to network "${network.name}"`);
  const netns = ownNetns(engine, c, 'disconnect it');
  await releaseEndpoints(engine, c.id, ep.interfaceName);
  await releaseRelayedPorts(engine, { id: c.id, ...c.state });
  await syncDefaultRoutes(engine, c.id, netns);
}
