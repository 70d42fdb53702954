// `berth system …`: facts about this host and berth's own state.
import { Command, Option } from 'commander';
import { release } from 'node:os';
import { berthPaths } from '../../common/config.js';
import { VERSION } from '../../common/version.js';
import { printJson, printKeyValues } from '../output.js';

export function systemCommand(): Command {
  const system = new Command('system').description('manage and inspect berth on this host');
  system
    .command('info')
    .description('show berth version, paths and what this kernel supports')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json']).default('text'))
    .action(async (opts: { format: string }) => {
      const { probeKernelFeatures } = await import('../../engine/host.js');
      const paths = berthPaths();
      const features = await probeKernelFeatures();
      const info = { Version: VERSION, Kernel: release(), Root: paths.root, Run: paths.run, Features: features };
      if (opts.format === 'json') return printJson(info);
      const yesNo = (b: boolean) => (b ? 'yes' : 'no');
      printKeyValues([
        ['Version', VERSION],
        ['Kernel', info.Kernel],
        ['Root', paths.root],
        ['Run', paths.run],
        ...Object.entries(features).map(([k, v]: [string, boolean]): [string, string] => [`Kernel feature ${k}`, yesNo(v)]),
      ]);
    });
  return system;
}
