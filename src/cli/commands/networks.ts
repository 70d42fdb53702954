// `berth network …`: create, ls, inspect, rm, prune, connect, disconnect. Parse and format only.
import { Command, Option } from 'commander';
import type { CliContext } from '../context.js';
import { keyValues } from '../../engine/network-options.js';
import { formatJson, formatTable } from '../output.js';
import { parseGwPriority } from './containers.js';

const collect = (v: string, acc: string[]): string[] => [...acc, v];
const formatOption = () => new Option('--format <format>', 'output format').choices(['text', 'json']).default('text');

interface CreateOptions {
  driver: string;
  subnet: string[];
  gateway: string[];
  ipRange: string[];
  auxAddress: string[];
  ipv6?: boolean;
  internal?: boolean;
  attachable?: boolean;
  opt: string[];
  label: string[];
}

export function networkCommand(ctx: CliContext): Command {
  const network = new Command('network').description('manage networks');

  network
    .command('create')
    .description('create a network')
    .argument('<name>')
    .option('-d, --driver <driver>', 'network driver', 'bridge')
    .option('--subnet <cidr>', 'subnet (repeatable: IPv4 and IPv6)', collect, [])
    .option('--gateway <ip>', 'gateway of the subnet it falls in', collect, [])
    .option('--ip-range <cidr>', 'allocate container addresses from this sub-range', collect, [])
    .option('--aux-address <name=ip>', 'reserve an address', collect, [])
    .option('--ipv6', 'enable IPv6 (a ULA /64 is picked when no IPv6 --subnet is given)')
    .option('--internal', 'no external connectivity')
    .option('--attachable', 'accepted for Docker compatibility')
    .option('-o, --opt <key=value>', 'driver option', collect, [])
    .option('--label <key=value>', 'label', collect, [])
    .action(async (name: string, o: CreateOptions) => {
      const { createNetwork } = await import('../../engine/networks.js');
      const net = await createNetwork(ctx.engine(), {
        name,
        driver: o.driver,
        subnets: o.subnet,
        gateways: o.gateway,
        ipRanges: o.ipRange,
        auxAddresses: keyValues('--aux-address', o.auxAddress),
        ipv6: Boolean(o.ipv6),
        internal: Boolean(o.internal),
        attachable: Boolean(o.attachable),
        options: keyValues('--opt', o.opt, { bareKeys: ['encrypted'] }),
        labels: keyValues('--label', o.label),
      });
      ctx.out(`${net.id}\n`);
    });

  network
    .command('ls')
    .alias('list')
    .description('list networks')
    .option('-q, --quiet', 'only ids')
    .option('-f, --filter <key=value>', 'filter: name, id, driver, label, type, scope, dangling (repeatable)', collect, [])
    .addOption(formatOption())
    .action(async (o: { quiet?: boolean; format: string; filter: string[] }) => {
      const { listNetworksFiltered } = await import('../../engine/networks.js');
      const { filtersFromArgs } = await import('../../engine/network-filters.js');
      // the default network exists from the start, as in Docker
      const nets = await listNetworksFiltered(ctx.engine(), filtersFromArgs(o.filter), { predefined: false });
      if (o.quiet) return void ctx.out(nets.map((n) => `${n.id.slice(0, 12)}\n`).join(''));
      if (o.format === 'json') {
        return ctx.out(formatJson(nets.map((n) => ({ ID: n.id, Name: n.name, Driver: n.driver, Scope: n.scope, IPv6: n.ipv6, Internal: n.internal, Labels: n.labels, CreatedAt: n.created }))));
      }
      ctx.out(formatTable(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], nets.map((n) => [n.id.slice(0, 12), n.name, n.driver, n.scope])));
    });

  network
    .command('inspect')
    .description('show networks as JSON (Docker shape)')
    .argument('<network...>')
    .addOption(new Option('--format <format>', 'output format (inspect always prints JSON)').choices(['json']).default('json'))
    .action(async (refs: string[]) => {
      const { getNetwork, inspectNetwork, ensureDefaultNetwork } = await import('../../engine/networks.js');
      const engine = ctx.engine();
      if (refs.includes('bridge')) await ensureDefaultNetwork(engine);
      ctx.out(formatJson(refs.map((r) => inspectNetwork(engine, getNetwork(engine, r)))));
    });

  network
    .command('rm')
    .alias('remove')
    .description('remove networks')
    .argument('<network...>')
    .action(async (refs: string[]) => {
      const { removeNetwork } = await import('../../engine/networks.js');
      const engine = ctx.engine();
      for (const r of refs) {
        await removeNetwork(engine, r);
        ctx.out(`${r}\n`);
      }
    });

  network
    .command('prune')
    .description('remove all unused user-defined networks')
    .option('-f, --force', 'do not ask (berth never asks)')
    .option('--filter <key=value>', 'only networks matching: until (1h, a timestamp), label, label! (repeatable)', collect, [])
    .action(async (o: { filter: string[] }) => {
      const { pruneNetworks } = await import('../../engine/networks.js');
      const { filtersFromArgs } = await import('../../engine/network-filters.js');
      const removed = await pruneNetworks(ctx.engine(), filtersFromArgs(o.filter));
      if (removed.length) ctx.out(`Deleted Networks:\n${removed.map((n) => `${n.name}\n`).join('')}`);
    });

  network
    .command('connect')
    .description('connect a running container to a network (a new ethN)')
    .argument('<network>')
    .argument('<container>')
    .option('--ip <ip>', 'IPv4 address')
    .option('--ip6 <ip>', 'IPv6 address')
    .option('--alias <alias>', 'network-scoped alias', collect, [])
    .option('--mac-address <mac>', 'MAC address')
    .option('--gw-priority <n>', "the network's claim to the default route (highest wins)")
    .action(async (net: string, ctr: string, o: { ip?: string; ip6?: string; alias: string[]; macAddress?: string; gwPriority?: string }) => {
      const { connectContainer } = await import('../../engine/containers.js');
      const gwPriority = parseGwPriority(o.gwPriority);
      await connectContainer(ctx.engine(), ctr, net, {
        ...(o.ip ? { ip: o.ip } : {}),
        ...(o.ip6 ? { ip6: o.ip6 } : {}),
        aliases: o.alias,
        ...(o.macAddress ? { mac: o.macAddress.toLowerCase() } : {}),
        ...(gwPriority !== undefined ? { gwPriority } : {}),
      });
    });

  network
    .command('disconnect')
    .description('disconnect a container from a network')
    .argument('<network>')
    .argument('<container>')
    .option('-f, --force', 'accepted for Docker compatibility')
    .action(async (net: string, ctr: string) => {
      const { disconnectContainer } = await import('../../engine/containers.js');
      await disconnectContainer(ctx.engine(), ctr, net);
    });

  return network;
}
