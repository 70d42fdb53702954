// The README's three topology pictures, made by berth itself from real labs (issue 15), as the
// seed's three figures: the default bridge with two containers, container mode, and the NAT-free
// bridge. Each lab host is built, `berth topology --format svg` is written to docs/, and the lab
// is deleted. Run as root: node dist/scripts/topology-pictures.js
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Lab, REPO_ROOT, type Host } from '../test/lab/index.js';

async function picture(label: string, file: string, build: (h: Host, lab: Lab) => Promise<string[]>): Promise<void> {
  const lab = await Lab.create({ label });
  try {
    const h = await lab.createHost('h');
    const sw = await lab.createSwitch('lan');
    await sw.plug(h, { ifname: 'eth0', address: '192.168.50.10/24' });
    await h.execOk(['ip', 'route', 'add', 'default', 'via', '192.168.50.1']);
    const args = await build(h, lab);
    const svg = (await h.berthOk(['topology', '--format', 'svg', '--no-drift', ...args])).stdout;
    await writeFile(join(REPO_ROOT, 'docs', file), svg);
    console.log(`docs/${file}: ${svg.length} bytes`);
  } finally {
    await lab.close();
  }
}

const run = (h: Host, args: string[]) => h.berthOk(['run', '-d', ...args, '--', 'sleep', '600']);

await picture('docs default bridge', 'topology-default-bridge.svg', async (h) => {
  await run(h, ['--name', 'web', '-p', '8080:80']);
  await run(h, ['--name', 'db']);
  return ['--network', 'bridge'];
});
await picture('docs container mode', 'topology-container-mode.svg', async (h) => {
  await run(h, ['--name', 'app', '-p', '8080:80']);
  await run(h, ['--name', 'sidecar', '--network', 'container:app']);
  return ['--network', 'bridge'];
});
await picture('docs nat-free bridge', 'topology-nat-free-bridge.svg', async (h) => {
  await h.berthOk(['network', 'create', '-o', 'parent=eth0', '--subnet', '192.168.50.0/24', '--gateway', '192.168.50.1', '--ip-range', '192.168.50.128/25', 'lan']);
  await run(h, ['--name', 'nas', '--network', 'lan']);
  await run(h, ['--name', 'printer', '--network', 'lan']);
  return ['--network', 'lan'];
});
