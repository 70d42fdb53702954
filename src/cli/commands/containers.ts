// Container commands: run, ps, inspect, exec, port, logs, stop, rm. Parse and format only.
import { Command, Option } from 'commander';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { UsageError, UserError, quote } from '../../common/errors.js';
import { expandPortSpecs, formatBindings, parseExposeSpec, parsePublishSpec, type ExposedPort, type PortSpec } from '../../portmap/index.js';
import type { RunSpec } from '../../engine/containers.js';
import { parseNetworkMode } from '../../engine/network-mode.js';
import type { CliContext } from '../context.js';
import { formatJson, formatTable } from '../output.js';
import { checkUnicastMac } from '../../common/mac.js';

const collect = (v: string, acc: string[]): string[] => [...acc, v];
/** With pass-through options commander keeps a `--` that follows an operand: drop it. */
const command = (args: string[]): string[] => (args[0] === '--' ? args.slice(1) : args);
const formatOption = () => new Option('--format <format>', 'output format').choices(['text', 'json']).default('text');

interface RunOptions {
  detach?: boolean;
  rm?: boolean;
  name?: string;
  network?: string;
  net?: string;
  ip?: string;
  ip6?: string;
  macAddress?: string;
  hostname?: string;
  publish: string[];
  publishAll?: boolean;
  expose: string[];
  dns: string[];
  networkAlias: string[];
  gwPriority?: string;
  rootfs?: string;
}

export function parseGwPriority(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UserError(`invalid --gw-priority ${quote(value)}: expected an integer`);
  return n;
}

/** Turn flags into a RunSpec; every bad value is refused here, before anything changes. */
export function runSpecFromOptions(cmd: string[], o: RunOptions): RunSpec {
  const network = parseNetworkMode(o.network ?? o.net ?? 'bridge');
  const gwPriority = parseGwPriority(o.gwPriority);
  const specs: PortSpec[] = o.publish.map(parsePublishSpec);
  const exposed: ExposedPort[] = o.expose.flatMap(parseExposeSpec);
  const macAddress = o.macAddress === undefined ? undefined : checkUnicastMac(o.macAddress);
  for (const d of o.dns) if (!/^[0-9a-fA-F.:]+$/.test(d)) throw new UserError(`invalid --dns ${quote(d)}: expected an IP address`);
  return {
    ...(o.name !== undefined ? { name: o.name } : {}),
    cmd,
    detach: Boolean(o.detach),
    rm: Boolean(o.rm),
    network,
    ...(o.hostname !== undefined ? { hostname: o.hostname } : {}),
    publish: expandPortSpecs(specs, exposed, Boolean(o.publishAll)),
    exposed,
    dns: o.dns,
    ...(o.rootfs !== undefined ? { rootfs: o.rootfs } : {}),
    ...(macAddress !== undefined ? { mac: macAddress } : {}),
    ...(o.ip !== undefined ? { ip: o.ip } : {}),
    ...(o.ip6 !== undefined ? { ip6: o.ip6 } : {}),
    aliases: o.networkAlias,
    ...(gwPriority !== undefined ? { gwPriority } : {}),
  };
}

function runCommand(ctx: CliContext): Command {
  return new Command('run')
    .description('run a command in a new container')
    .usage('[options] [--] CMD [ARG...]')
    .helpOption('--help', 'display help for command')
    .argument('<cmd...>', 'the command and its arguments')
    .passThroughOptions()
    .option('-d, --detach', 'run in the background and print the container id')
    .option('--rm', 'remove the container when it exits')
    .option('--name <name>', 'name the container')
    .option('--network <mode>', 'bridge (default), host, none, container:NAME|ID, or a user-defined network')
    .addOption(new Option('--net <mode>', 'alias of --network').hideHelp())
    .option('--ip <ip>', 'IPv4 address (user-defined networks only)')
    .option('--ip6 <ip>', 'IPv6 address (user-defined networks only)')
    .option('--mac-address <mac>', 'MAC address of eth0')
    .option('-h, --hostname <name>', 'container host name')
    .option('-p, --publish <spec>', 'publish a port: [IP:][HOST[-END]:]CTR[-END][/tcp|udp|sctp]', collect, [])
    .option('-P, --publish-all', 'publish every exposed port on a random host port')
    .option('--expose <port>', 'expose a port or range without publishing it', collect, [])
    .option('--dns <ip>', 'name server for /etc/resolv.conf', collect, [])
    .option('--network-alias <alias>', 'alias on a user-defined network', collect, [])
    .option('--gw-priority <n>', "the network's claim to the default route (highest wins)")
    .option('--rootfs <dir>', 'run with DIR as the root file system (pivot_root)')
    .action(async (cmd: string[], opts: RunOptions) => {
      const spec = runSpecFromOptions(command(cmd), { ...opts, ...(opts.rootfs !== undefined ? { rootfs: resolve(ctx.cwd, opts.rootfs) } : {}) });
      const containers = await import('../../engine/containers.js');
      const engine = ctx.engine();
      if (ctx.remote) {
        // through the daemon: the client starts the shim with its own stdio (the gateway hands it over)
        const prepared = await containers.prepareContainer(engine, { ...spec, creator: { pid: ctx.remote.pid, start: ctx.remote.start }, path: ctx.remote.path });
        for (const w of prepared.warnings) ctx.err(`${w}\n`);
        ctx.remote.handoff = { kind: 'run', prepared };
        return;
      }
      const started = await containers.runContainer(engine, spec);
      for (const w of started.warnings) ctx.err(`${w}\n`);
      if (spec.detach) {
        ctx.out(`${started.id}\n`);
        return;
      }
      ctx.exitCode = await containers.waitForeground(engine, started);
    });
}

export function containerCommands(ctx: CliContext): Command[] {
  const ps = new Command('ps')
    .description('list containers')
    .option('-a, --all', 'show all containers (default: running only)')
    .option('-q, --quiet', 'only ids')
    .addOption(formatOption())
    .action(async (o: { all?: boolean; quiet?: boolean; format: string }) => {
      const { listContainers } = await import('../../engine/containers.js');
      const engine = ctx.engine();
      const list = listContainers(engine, Boolean(o.all));
      if (o.quiet) return void ctx.out(list.map((c) => `${c.id.slice(0, 12)}\n`).join(''));
      const ports = (id: string) => engine.store.listPorts({ containerId: id });
      if (o.format === 'json') {
        return ctx.out(formatJson(list.map((c) => ({ Id: c.id, Names: [`/${c.name}`], Command: c.config.cmd.join(' '), Created: c.created, State: c.state.status, Status: c.state.status === 'exited' ? `Exited (${c.state.exitCode ?? 0})` : c.state.status, NetworkMode: c.config.networkMode, Ports: ports(c.id) }))));
      }
      ctx.out(formatTable(
        ['CONTAINER ID', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES'],
        list.map((c) => [
          c.id.slice(0, 12),
          JSON.stringify(c.config.cmd.join(' ').slice(0, 20)),
          c.created.replace('T', ' ').slice(0, 19),
          c.state.status === 'exited' ? `Exited (${c.state.exitCode ?? 0})` : c.state.status === 'running' ? 'Up' : 'Created',
          ports(c.id).map((p) => `${p.hostIp}:${p.hostPort}->${p.targetPort}/${p.proto}`).join(', '),
          c.name,
        ]),
      ));
    });

  const inspect = new Command('inspect')
    .description('show containers as JSON (Docker shape)')
    .argument('<container...>')
    .addOption(new Option('--format <format>', 'output format (inspect always prints JSON)').choices(['json']).default('json'))
    .action(async (refs: string[]) => {
      const { getContainer } = await import('../../engine/containers.js');
      const { inspectContainer } = await import('../../engine/inspect.js');
      const engine = ctx.engine();
      ctx.out(formatJson(refs.map((r) => inspectContainer(engine, getContainer(engine, r)))));
    });

  const exec = new Command('exec')
    .description("run a command inside a running container's namespaces")
    .usage('[options] CONTAINER [--] CMD [ARG...]')
    .argument('<container>')
    .argument('<cmd...>')
    .passThroughOptions()
    .action(async (ref: string, cmd: string[]) => {
      const { execArgv, execInContainer } = await import('../../engine/containers.js');
      if (ctx.remote) {
        ctx.remote.handoff = { kind: 'exec', argv: execArgv(ctx.engine(), ref, command(cmd)) };
        return;
      }
      ctx.exitCode = await execInContainer(ctx.engine(), ref, command(cmd));
    });

  const port = new Command('port')
    .description("list a container's published ports")
    .argument('<container>')
    .action(async (ref: string) => {
      const { containerPorts } = await import('../../engine/containers.js');
      const lines = formatBindings(containerPorts(ctx.engine(), ref).map((p) => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.targetPort, proto: p.proto })));
      ctx.out(lines.map((l) => `${l}\n`).join(''));
    });

  const logs = new Command('logs')
    .description("print a detached container's output")
    .argument('<container>')
    .action(async (ref: string) => {
      const { logPath } = await import('../../engine/containers.js');
      const path = logPath(ctx.engine(), ref);
      // read whole: logs of detached containers are small, and the daemon answers in one piece
      const text = await readFile(path).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? Buffer.alloc(0) : Promise.reject(e)));
      ctx.out(text);
    });

  const stop = new Command('stop')
    .description('stop containers: SIGTERM, then SIGKILL after the timeout')
    .argument('<container...>')
    .option('-t, --time <seconds>', 'seconds to wait before SIGKILL', '10')
    .action(async (refs: string[], o: { time: string }) => {
      const t = Number(o.time);
      if (!Number.isInteger(t) || t < 0) throw new UsageError(`invalid --time ${quote(o.time)}: expected a whole number of seconds`);
      const { stopContainer } = await import('../../engine/containers.js');
      const engine = ctx.engine();
      for (const r of refs) {
        await stopContainer(engine, r, t);
        ctx.out(`${r}\n`);
      }
    });

  const rm = new Command('rm')
    .description('remove containers')
    .argument('<container...>')
    .option('-f, --force', 'kill and remove a running container')
    .action(async (refs: string[], o: { force?: boolean }) => {
      const { removeContainers } = await import('../../engine/containers.js');
      const { removed, error } = await removeContainers(ctx.engine(), refs, Boolean(o.force));
      for (const r of removed) ctx.out(`${r}\n`);
      if (error) throw error;
    });

  // called by a detached container's shim after its process ended; not for people
  const internal = new Command('internal').description('berth-internal hooks');
  internal
    .command('on-exit')
    .argument('<id>')
    .action(async (id: string) => {
      const { detachedExited } = await import('../../engine/containers.js');
      await detachedExited(ctx.engine(), id);
    });

  // called by a thin client whose foreground run the daemon can no longer finish (it died)
  internal
    .command('finish')
    .argument('<id>')
    .argument('<status>', "the shim's exit status")
    .action(async (id: string, status: string) => {
      const { containerExited } = await import('../../engine/containers.js');
      ctx.exitCode = await containerExited(ctx.engine(), id, Number(status));
    });

  return [runCommand(ctx), ps, inspect, exec, port, logs, stop, rm, internal];
}
