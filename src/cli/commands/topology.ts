// `berth topology`: the host's network as the kernel has it, as the web page draws it.
import { Command, Option } from 'commander';
import type { CliContext } from '../context.js';
import { formatJson } from '../output.js';

export const TOPOLOGY_FORMATS = ['text', 'json', 'dot', 'mermaid', 'svg'] as const;

export function topologyCommand(ctx: CliContext): Command {
  return new Command('topology')
    .description('print the host network as a graph: namespaces, bridges, veth pairs, ports, drift')
    .addOption(new Option('--format <format>', 'output format').choices([...TOPOLOGY_FORMATS]).default('text'))
    .option('--network <name>', 'only what belongs to this network')
    .option('--no-drift', "skip `system check`'s comparison of store and kernel")
    .action(async (opts: { format: (typeof TOPOLOGY_FORMATS)[number]; network?: string; drift: boolean }) => {
      const { topology } = await import('../../engine/topology.js');
      const graph = await topology(ctx.engine(), { drift: opts.drift });
      if (opts.format === 'json') return ctx.out(formatJson(graph));
      const { topologyView } = await import('../../engine/topology-view.js');
      const view = topologyView(graph, opts.network ? { network: opts.network } : {});
      if (opts.format === 'svg') {
        const { layoutTopology, topologySvg } = await import('../../engine/topology-svg.js');
        return ctx.out(topologySvg(layoutTopology(view)));
      }
      const f = await import('../../engine/topology-formats.js');
      ctx.out(opts.format === 'dot' ? f.topologyDot(view) : opts.format === 'mermaid' ? f.topologyMermaid(view) : f.topologyText(view));
    });
}
