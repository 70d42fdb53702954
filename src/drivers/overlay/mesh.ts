// The overlay driver's WireGuard mesh, run by the overlay agent of a daemon joined to a cluster (`-o encrypted` overlay networks): one
// device per host, brought up when the first encrypted network is used here, with
//   - a private key generated on this host, kept in $BERTH_ROOT/wireguard/private.key (0600),
//     never sent anywhere; the public key and endpoint (advertise address:51820) are published
//     in this host's cluster record;
//   - a tunnel address claimed once in the cluster store (CAS, not leased) and remembered in
//     $BERTH_ROOT/wireguard/state.json, so a restarted daemon brings the device back even while
//     etcd is down;
//   - one peer per other host that publishes WireGuard (from the hosts watch): a host whose lease
//     expires is removed, a rotated key replaces the old one.
// The device goes at daemon stop and when the cluster has no encrypted network left. A daemon
// killed outright leaves wireguard-go running: the next start adopts it by PID.
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SystemError, UserError } from '../../common/errors.js';
import {
  WG_PORT, WIREGUARD_OVERHEAD, detectImplementation, ensureMeshDevice, isTunnelAddress, meshDeviceUp, rekeyMeshDevice, removeMeshDevice,
  syncMeshPeers, wireguardIfname, type MeshDeviceSpec, type MeshPeer, type WireGuardImplementation,
} from './overlay-encryption.js';
import { generateKeyPair, publicKeyOf, raiseSocketBuffers, readPrivateKeyFile, writePrivateKeyFile } from '../../kernel/wireguard.js';
import { ClusterUnreachableError, type ClusterHostRecord, type ClusterStore, type WatchChange, type WireGuardInfo } from '../../store/cluster.js';

/** This host's WireGuard state once the mesh is up. */
export interface EncryptionState {
  ifname: string;
  /** this host's address in the tunnel subnet: the VTEP of its encrypted networks */
  tunnelAddress: string;
  publicKey: string;
  implementation: 'kernel' | 'wireguard-go';
}

export interface MeshOptions {
  hostId: string;
  advertiseAddress: string;
  underlayMtu: number;
  /** $BERTH_ROOT and $BERTH_RUN */
  root: string;
  run: string;
  listenPort?: number;
  /** the connected cluster store; throws ClusterUnreachableError while there is none */
  store: () => ClusterStore;
  /** the cluster's tunnel subnet (tunnel-subnet.ts), as this host knows it */
  tunnelSubnet: () => string;
  /** put this host's record again (it carries info()) */
  publish: () => Promise<void>;
  log: (line: string) => void;
}

interface SavedState {
  tunnelAddress: string;
  implementation: WireGuardImplementation;
}

export class WireGuardMesh {
  private state: EncryptionState | undefined;
  private starting: Promise<EncryptionState> | undefined;
  private readonly hosts = new Map<string, ClusterHostRecord>();
  readonly ifname: string;
  private readonly dir: string;
  private readonly runDir: string;

  constructor(private readonly opts: MeshOptions) {
    this.ifname = wireguardIfname(opts.hostId);
    this.dir = join(opts.root, 'wireguard');
    this.runDir = join(opts.run, 'wireguard');
  }

  get keyFile(): string {
    return join(this.dir, 'private.key');
  }

  private get stateFile(): string {
    return join(this.dir, 'state.json');
  }

  private readSaved(): SavedState | undefined {
    if (!existsSync(this.stateFile)) return undefined;
    try {
      const s = JSON.parse(readFileSync(this.stateFile, 'utf8')) as Partial<SavedState>;
      if (typeof s.tunnelAddress === 'string' && isTunnelAddress(s.tunnelAddress, this.opts.tunnelSubnet()) && (s.implementation === 'kernel' || s.implementation === 'wireguard-go')) {
        return { tunnelAddress: s.tunnelAddress, implementation: s.implementation };
      }
    } catch {
      /* unreadable: claimed again */
    }
    return undefined;
  }

  private spec(tunnelAddress: string, publicKey: string): MeshDeviceSpec {
    return {
      ifname: this.ifname,
      tunnelAddress,
      tunnelSubnet: this.opts.tunnelSubnet(),
      mtu: this.opts.underlayMtu - WIREGUARD_OVERHEAD,
      listenPort: this.opts.listenPort ?? WG_PORT,
      privateKeyFile: this.keyFile,
      publicKey,
      runDir: this.runDir,
    };
  }

  current(): EncryptionState | undefined {
    return this.state;
  }

  /** What this host publishes in its cluster record (undefined while the device is down). */
  info(): WireGuardInfo | undefined {
    if (!this.state) return undefined;
    const a = this.opts.advertiseAddress;
    const port = this.opts.listenPort ?? WG_PORT;
    return { publicKey: this.state.publicKey, endpoint: a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`, tunnelAddress: this.state.tunnelAddress };
  }

  /** Bring the device up (once; concurrent callers share the attempt, a failed one is retried next time). */
  ensure(): Promise<EncryptionState> {
    if (this.state) return Promise.resolve(this.state);
    this.starting ??= this.bringUp().finally(() => {
      this.starting = undefined;
    });
    return this.starting;
  }

  private async bringUp(): Promise<EncryptionState> {
    const saved = this.readSaved();
    const implementation = saved?.implementation ?? (await detectImplementation());
    let tunnelAddress = saved?.tunnelAddress;
    try {
      tunnelAddress = await this.opts.store().claimTunnelAddress(this.opts.tunnelSubnet(), tunnelAddress);
    } catch (err) {
      // offline with an address from an earlier run: bring the device back, re-claim next time
      if (!(err instanceof ClusterUnreachableError) || tunnelAddress === undefined) throw err;
      this.opts.log(`cluster: WireGuard: cluster store unreachable, using the saved tunnel address ${tunnelAddress}`);
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(this.stateFile, `${JSON.stringify({ tunnelAddress, implementation })}\n`, { mode: 0o600 });
    let privateKey = readPrivateKeyFile(this.keyFile);
    if (!privateKey) {
      privateKey = generateKeyPair().privateKey;
      writePrivateKeyFile(this.keyFile, privateKey);
    }
    const publicKey = publicKeyOf(privateKey);
    const created = await ensureMeshDevice(null, this.spec(tunnelAddress, publicKey), implementation);
    // after the device is up on its port (its sockets are final); a throughput matter only, so a
    // failure (a kernel without pidfd_getfd) is logged and the device used as it is
    if (implementation === 'wireguard-go') {
      await raiseSocketBuffers({ ifname: this.ifname, runDir: this.runDir }).catch((err: Error) => this.opts.log(`cluster: WireGuard ${this.ifname}: socket buffers left at the default: ${err.message}`));
    }
    this.state = { ifname: this.ifname, tunnelAddress, publicKey, implementation };
    this.opts.log(`cluster: WireGuard ${this.ifname} (${implementation}) ${created ? 'up' : 'adopted'}: tunnel address ${tunnelAddress}, port ${this.opts.listenPort ?? WG_PORT}`);
    await this.syncPeers();
    await this.opts.publish().catch((err: Error) => this.opts.log(`cluster: WireGuard: publishing the public key: ${err.message} (again when the store answers)`));
    return this.state;
  }

  /**
   * After joining, and whenever another host publishes this host's tunnel address: claim the
   * device's address (again) in the store, so no other host can take it. When another host holds
   * it (the store was rebuilt, or lost the key, while this host was away) the store gives a free
   * one and the device moves to it at once; true then: the caller re-makes the encrypted
   * networks' VXLAN devices on the new address and publishes it.
   */
  async reclaim(cs: ClusterStore): Promise<boolean> {
    const st = this.state;
    if (!st) return false;
    const got = await cs.claimTunnelAddress(this.opts.tunnelSubnet(), st.tunnelAddress);
    if (got === st.tunnelAddress) return false;
    this.opts.log(`cluster: WireGuard: tunnel address ${st.tunnelAddress} is held by another host; moving to ${got}`);
    writeFileSync(this.stateFile, `${JSON.stringify({ tunnelAddress: got, implementation: st.implementation })}\n`, { mode: 0o600 });
    await ensureMeshDevice(null, this.spec(got, st.publicKey), st.implementation);
    this.state = { ...st, tunnelAddress: got };
    return true;
  }

  /** True when another host's record claims this host's tunnel address. */
  private contested(): boolean {
    const mine = this.state?.tunnelAddress;
    return mine !== undefined && [...this.hosts.values()].some((h) => h.id !== this.opts.hostId && h.wireguard?.tunnelAddress === mine);
  }

  /**
   * Bring a dead device back (wireguard-go killed, link deleted). The VXLAN devices were made
   * without a lower device and survive; until this runs they cannot send (fail closed).
   */
  async repairIfDown(): Promise<void> {
    const st = this.state;
    if (!st || this.starting) return;
    if (await meshDeviceUp(null, { ifname: this.ifname, runDir: this.runDir }, st.implementation)) return;
    this.opts.log(`cluster: WireGuard ${this.ifname} is down; bringing it back`);
    this.state = undefined;
    await this.ensure();
  }

  /**
   * Follow the cluster's host records: 'sync' when the peers should be synced, 'contested' when
   * another host publishes this host's tunnel address (reclaim() settles who keeps it).
   */
  onHosts(c: WatchChange<ClusterHostRecord>): 'sync' | 'contested' | undefined {
    if (c.type === 'snapshot') {
      this.hosts.clear();
      for (const h of c.items) this.hosts.set(h.id, h);
    } else if (c.type === 'put') this.hosts.set(c.item.id, c.item);
    else this.hosts.delete(c.item.id);
    if (this.state === undefined) return undefined;
    return this.contested() ? 'contested' : 'sync';
  }

  /** the host records as last seen (the topology labels other hosts by their advertise address) */
  hostRecords(): ClusterHostRecord[] {
    return [...this.hosts.values()];
  }

  private wantedPeers(): MeshPeer[] {
    const out: MeshPeer[] = [];
    for (const h of this.hosts.values()) {
      const wg = h.wireguard;
      if (h.id === this.opts.hostId || !wg?.tunnelAddress || !isTunnelAddress(wg.tunnelAddress, this.opts.tunnelSubnet())) continue;
      out.push({ publicKey: wg.publicKey, endpoint: wg.endpoint, tunnelAddress: wg.tunnelAddress });
    }
    return out;
  }

  async syncPeers(): Promise<void> {
    if (!this.state) return;
    const r = await syncMeshPeers(null, this.ifname, this.wantedPeers());
    if (r.put || r.removed) this.opts.log(`cluster: WireGuard peers: ${r.put} set, ${r.removed} removed`);
  }

  /**
   * A new key pair: applied to the device, then published; if publishing fails the old key is
   * put back (peers only know the published one). Peers replace the key from their hosts watch.
   */
  async rotate(): Promise<{ publicKey: string; previous: string }> {
    const st = this.state;
    if (!st) throw new UserError('this host has no WireGuard device: keys exist once an encrypted overlay network (-o encrypted) is used here');
    // peers learn the new key only through the store: refuse while it is unreachable
    this.opts.store();
    const old = readPrivateKeyFile(this.keyFile);
    if (!old) throw new SystemError(`the WireGuard private key ${this.keyFile} is missing`);
    const next = generateKeyPair();
    const fresh = `${this.keyFile}.new`;
    writePrivateKeyFile(fresh, next.privateKey);
    try {
      await rekeyMeshDevice(null, { ifname: this.ifname, privateKeyFile: fresh });
      renameSync(fresh, this.keyFile);
    } catch (err) {
      rmSync(fresh, { force: true });
      throw err;
    }
    this.state = { ...st, publicKey: next.publicKey };
    try {
      await this.opts.publish();
    } catch (err) {
      writePrivateKeyFile(this.keyFile, old);
      await rekeyMeshDevice(null, { ifname: this.ifname, privateKeyFile: this.keyFile });
      this.state = st;
      throw err;
    }
    this.opts.log(`cluster: WireGuard key rotated: ${st.publicKey} -> ${next.publicKey}`);
    return { publicKey: next.publicKey, previous: st.publicKey };
  }

  /**
   * Remove the device (stop wireguard-go by PID). With unpublish the host record loses its
   * WireGuard part, so peers drop this host. Also cleans up after a killed daemon (nothing up).
   */
  async stop(opts: { unpublish: boolean }): Promise<void> {
    await this.starting?.catch(() => undefined);
    const implementation = this.state?.implementation ?? this.readSaved()?.implementation;
    const wasUp = this.state !== undefined;
    this.state = undefined;
    if (implementation) await removeMeshDevice(null, { ifname: this.ifname, runDir: this.runDir }, implementation);
    if (wasUp) this.opts.log(`cluster: WireGuard ${this.ifname} removed`);
    if (wasUp && opts.unpublish) await this.opts.publish().catch((err: Error) => this.opts.log(`cluster: WireGuard: unpublishing: ${err.message}`));
  }
}
