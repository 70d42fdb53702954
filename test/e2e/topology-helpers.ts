// The lab of the topology tests (CLI and page): host h with eth0 on an underlay and eth1 on a
// LAN; the default bridge with `plain`; a user-defined network `front` with `web` publishing
// 8080 -> 80 and `side` sharing web's namespace (container mode); a NAT-free bridge `lan0` on
// eth1 with `lanc`. And the exact nodes and edges the drawn view must have.
import assert from 'node:assert/strict';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { type Host, Lab, links } from '../lab/index.js';
import type { TopologyGraph } from '../../src/engine/topology-types.js';
import { runDetached } from './helpers.js';

export interface TopologyLab {
  lab: Lab;
  h: Host;
  ids: Record<'web' | 'side' | 'lanc' | 'plain', string>;
  bridges: Record<'front' | 'lan0', string>;
}

export async function topologyLab(label: string): Promise<TopologyLab> {
  const lab = await Lab.create({ label });
  try {
    const under = await lab.createSwitch('under');
    const lanSw = await lab.createSwitch('lan');
    const h = await lab.createHost('h');
    const ext = await lab.createExternal('ext');
    await under.plug(h, { ifname: 'eth0', address: '10.200.0.1/24' });
    await under.plug(ext, { ifname: 'eth0', address: '10.200.0.2/24' });
    await lanSw.plug(h, { ifname: 'eth1', address: '192.168.50.10/24' });
    await h.berthOk(['network', 'create', '--subnet', '10.71.0.0/24', 'front']);
    await h.berthOk(['network', 'create', '-o', 'parent=eth1', '--subnet', '192.168.50.0/24', '--gateway', '192.168.50.1', '--ip-range', '192.168.50.128/25', 'lan0']);
    const web = await runDetached(h, ['--name', 'web', '--hostname', 'webhost', '--network', 'front', '-p', '8080:80', '--', 'sleep', '600']);
    const side = await runDetached(h, ['--name', 'side', '--network', 'container:web', '--', 'sleep', '600']);
    const lanc = await runDetached(h, ['--name', 'lanc', '--network', 'lan0', '--', 'sleep', '600']);
    const plain = await runDetached(h, ['--name', 'plain', '--', 'sleep', '600']);
    const g = await h.berthJson<TopologyGraph>(['topology', '--format', 'json', '--no-drift']);
    const ifOf = (net: string) => g.nodes.find((n) => n.id === `network/${net}`)?.data?.interface as string;
    return { lab, h, ids: { web, side, lanc, plain }, bridges: { front: ifOf('front'), lan0: ifOf('lan0') } };
  } catch (e) {
    await lab.close();
    throw e;
  }
}

/** The host's links, checked against the kernel: the lab's NICs, three bridges and one veth per endpoint. */
export async function expectedView(L: TopologyLab): Promise<{ nodes: string[]; edges: string[] }> {
  const { ids, bridges } = L;
  const hostIfs = ['lo', 'eth0', 'eth1', 'berth0', bridges.front, bridges.lan0];
  const kernel = (await links(L.h)).map((l) => l.ifname);
  const veths = kernel.filter((n) => /^veth[0-9a-f]{7}$/.test(n));
  assert.equal(veths.length, 3, `one veth host end per endpoint (web, lanc, plain): ${kernel.join(' ')}`);
  assert.deepEqual(kernel.filter((n) => !veths.includes(n)).sort(), [...hostIfs].sort(), 'the kernel has exactly these other links');
  const nodes = ['host', ...hostIfs.map((n) => `host/${n}`), ...Object.values(ids).map((id) => `ns/${id}`)];
  const edges = [
    ...['lo', 'eth0', 'berth0', bridges.front, bridges.lan0].map((n) => `host/${n} in host`),
    `host/eth1 port-of host/${bridges.lan0}`,
    `host/${bridges.front} veth ns/${ids.web}`,
    `host/berth0 veth ns/${ids.plain}`,
    `host/${bridges.lan0} veth ns/${ids.lanc}`,
    `host publishes ns/${ids.web}`,
    `ns/${ids.side} shares ns/${ids.web}`,
  ];
  return { nodes: nodes.sort(), edges: edges.sort() };
}

export const CHROMIUM = '/usr/bin/chromium';

/** Debian's Chromium, headless, started in a lab host's network namespace (where the page listens). */
export async function browserIn(netnsPath: string, dir: string): Promise<Browser> {
  const wrapper = join(dir, 'chromium-in-lab');
  await writeFile(wrapper, `#!/bin/sh\nexec nsenter --net=${netnsPath} ${CHROMIUM} "$@"\n`);
  await chmod(wrapper, 0o700);
  return chromium.launch({ executablePath: wrapper, args: ['--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-dev-shm-usage'] });
}
