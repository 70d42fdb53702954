// `berth system …`: facts about this host and berth's own state.
import { Command, Option } from 'commander';
import { release } from 'node:os';
import { berthPaths } from '../../common/config.js';
import { VERSION } from '../../common/version.js';
import type { CliContext } from '../context.js';
import { formatJson, formatKeyValues } from '../output.js';

export function systemCommand(ctx: CliContext): Command {
  const system = new Command('system').description('manage and inspect berth on this host');
  system
    .command('info')
    .description('show berth version, paths and what this kernel supports')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: { format: string }) => {
      const { probeKernelFeatures } = await import('../../engine/host.js');
      const paths = berthPaths();
      const features = await probeKernelFeatures();
      // who ran this command: the daemon (through the thin client) or this process
      const servedBy = ctx.remote ? `daemon (pid ${process.pid})` : 'in-process';
      const info = { Version: VERSION, Kernel: release(), Root: paths.root, Run: paths.run, ServedBy: servedBy, Features: features };
      if (opts.format === 'json') return ctx.out(formatJson(info));
      const yesNo = (b: boolean) => (b ? 'yes' : 'no');
      ctx.out(formatKeyValues([
        ['Version', VERSION],
        ['Kernel', info.Kernel],
        ['Root', paths.root],
        ['Run', paths.run],
        ['Served by', servedBy],
        ...Object.entries(features).map(([k, v]: [string, boolean]): [string, string] => [`Kernel feature ${k}`, yesNo(v)]),
      ]));
    });
  system
    .command('check')
    .description('compare the store with the kernel and list the differences; --repair fixes them')
    .option('--repair', 'make the kernel match the store again')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: { repair?: boolean; format: string }) => {
      const { checkSystem } = await import('../../engine/repair.js');
      const findings = await checkSystem(ctx.engine(), { repair: Boolean(opts.repair) });
      // like diff(1): differences found and not repaired is a non-zero status
      if (findings.length && !opts.repair) ctx.exitCode = 1;
      if (opts.format === 'json') return ctx.out(formatJson(findings));
      if (!findings.length) return void ctx.out('the kernel matches the store\n');
      for (const f of findings) ctx.out(`${f.object}: ${f.problem}${f.action ? ` -> ${f.action}` : ''}\n`);
    });
  system
    .command('rotate-keys')
    .description("replace this host's WireGuard key pair (encrypted overlay networks); peers pick up the new public key from the cluster")
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: { format: string }) => {
      const { rotateKeys } = await import('../../engine/overlay.js');
      const r = await rotateKeys(ctx.engine());
      if (opts.format === 'json') return ctx.out(formatJson({ PublicKey: r.publicKey, PreviousPublicKey: r.previous }));
      ctx.out(`new public key ${r.publicKey} (was ${r.previous})\n`);
    });
  system
    .command('tunnel-subnet')
    .description("show this host's copy of the cluster's WireGuard tunnel subnet (encrypted overlay networks), or change the cluster's (refused while encrypted networks exist)")
    .argument('[cidr]', 'the new tunnel subnet, e.g. 100.80.0.0/16')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (cidr: string | undefined, opts: { format: string }) => {
      const { parseTunnelSubnet, tunnelSubnetOf } = await import('../../engine/tunnel-subnet.js');
      if (cidr === undefined) {
        const subnet = tunnelSubnetOf(ctx.engine());
        return ctx.out(opts.format === 'json' ? formatJson({ TunnelSubnet: subnet }) : `${subnet}\n`);
      }
      const wanted = parseTunnelSubnet(cidr, 'tunnel subnet');
      const { changeTunnelSubnet } = await import('../../engine/overlay.js');
      const r = await changeTunnelSubnet(ctx.engine(), wanted);
      if (opts.format === 'json') return ctx.out(formatJson({ TunnelSubnet: r.subnet, Previous: r.previous }));
      ctx.out(r.subnet === r.previous ? `tunnel subnet ${r.subnet} (unchanged)\n` : `tunnel subnet ${r.subnet} (was ${r.previous})\n`);
    });
  return system;
}
