// What this kernel can do, found by trying: each link kind is created in a throwaway
// namespace (never the host's), so missing features can be named in clear errors.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBridge, createMacvlan, createVeth, createVxlan, getLink } from './links.js';
import { createNetns, deleteNetns } from './netns.js';
import { KernelError, withRtnl, type Rtnl } from './rtnl.js';
import { nla, nlaNested, nlaString } from './nla.js';

export interface KernelFeatures {
  veth: boolean;
  bridge: boolean;
  vxlan: boolean;
  macvlan: boolean;
  /** 802.1q sub-interfaces (macvlan parent=IF.VID) */
  vlan: boolean;
  ipvlan: boolean;
  wireguard: boolean;
  dummy: boolean;
}

async function tryKind(nl: Rtnl, name: string, kind: string, data: Buffer[] = [], extra: { link?: Buffer } = {}): Promise<boolean> {
  try {
    await nl.call(`probe ${kind}`, (s) =>
      s.newLink({}, { ifname: name, ...extra, linkinfo: Buffer.concat([nlaString(1, kind), ...(data.length ? [nlaNested(2, data)] : [])]) }, { flags: 0x600 }),
    );
    return true;
  } catch (err) {
    if (err instanceof KernelError && ['EOPNOTSUPP', 'ENOTSUP'].includes(err.code)) return false;
    throw err;
  }
}

export async function probeKernelFeatures(): Promise<KernelFeatures> {
  const dir = mkdtempSync(join(tmpdir(), 'berth-probe-'));
  const ns = createNetns(dir, 'probe');
  try {
    return await withRtnl(ns, async (nl) => {
      const ok = async (fn: () => Promise<void>) => fn().then(() => true, (e: unknown) => {
        if (e instanceof KernelError && ['EOPNOTSUPP', 'ENOTSUP'].includes(e.code)) return false;
        throw e;
      });
      const veth = await ok(() => createVeth(nl, { name: 'p0', peerName: 'p1' }));
      const parent = veth ? (await getLink(nl, 'p0')).index : 0;
      const link = Buffer.alloc(4);
      link.writeUInt32LE(parent);
      return {
        veth,
        bridge: await ok(() => createBridge(nl, { name: 'pbr' })),
        vxlan: await ok(() => createVxlan(nl, { name: 'pvx', vni: 4096 })),
        macvlan: veth && (await ok(() => createMacvlan(nl, { name: 'pmv', parent, mode: 'bridge' }))),
        // IFLA_VLAN_ID = 1
        vlan: veth && (await tryKind(nl, 'pvl', 'vlan', [nla(1, Buffer.from([10, 0]))], { link })),
        ipvlan: veth && (await tryKind(nl, 'piv', 'ipvlan', [], { link })),
        wireguard: await tryKind(nl, 'pwg', 'wireguard'),
        dummy: await tryKind(nl, 'pdm', 'dummy'),
      };
    });
  } finally {
    deleteNetns(ns);
    rmSync(dir, { recursive: true, force: true });
  }
}

