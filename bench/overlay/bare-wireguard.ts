// bench/overlay's anchor for the encrypted overlay (issue 16): a bare wireguard-go tunnel between
// two lab hosts, made by hand the way shared/research/encryption.md does (no berth): one
// wireguard-go per host in the foreground (tracked by the lab, killed by PID at its close), keys
// from `wg genkey` in 0600 files under the lab's temp dir, the tunnel MTU berth uses for its own
// devices (underlay MTU − 80), host → host addresses in TUNNEL_NET.
// Also: CPU ticks of processes by PID, to print what wireguard-go and iperf3 cost per run.
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execFileSync } from 'node:child_process';
import { BERTH_SOCKBUF } from '../../src/common/package.js';
import type { BackgroundProcess, Host } from '../../test/lab/index.js';

const WG_PORT_BASE = 51830;
const UAPI_DIR = '/var/run/wireguard';
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface BareTunnel {
  /** the address of b's end (iperf3 target) */
  peerAddress: string;
  /** the two wireguard-go processes (a's, b's) */
  processes: BackgroundProcess[];
  ifnames: string[];
  close(): Promise<void>;
}

/**
 * Tunnel number `n` (0–9: its own names, port and 10.127.n.0/24), a ↔ b over their underlay
 * addresses, at `mtu`; with socketBuffer, its UDP sockets get that much (dist/berth-sockbuf, as
 * berth does for its own wireguard-go) instead of wireguard-go's default; with ownSession,
 * each wireguard-go runs in a session of its own (setsid: what berth did before issue 16), hence
 * in a scheduling autogroup of its own where the kernel has autogroups on.
 */
export async function bareWireguardTunnel(
  labDir: string, tag: string, ends: [{ host: Host; underlay: string }, { host: Host; underlay: string }], mtu: number, n = 0, socketBuffer?: number,
  ownSession = false,
): Promise<BareTunnel> {
  const WG_PORT = WG_PORT_BASE + n;
  const ifnames = [`bDwg${tag}${n}a`, `bDwg${tag}${n}b`];
  const tunnel = [`10.127.${n}.1`, `10.127.${n}.2`];
  const keys: { priv: string; pub: string }[] = [];
  for (const [i, e] of ends.entries()) {
    const priv = (await e.host.execOk(['wg', 'genkey'])).stdout.trim();
    const pub = (await e.host.execOk(['wg', 'pubkey'], { input: `${priv}\n` })).stdout.trim();
    const file = join(labDir, `${ifnames[i]}.key`);
    writeFileSync(file, `${priv}\n`, { mode: 0o600 });
    keys.push({ priv: file, pub });
  }
  const processes: BackgroundProcess[] = [];
  const close = async () => {
    for (const p of processes) await p.kill();
    for (const n of ifnames) rmSync(join(UAPI_DIR, `${n}.sock`), { force: true });
  };
  try {
    for (const [i, e] of ends.entries()) {
      const ifname = ifnames[i] as string;
      // (setsid execs without forking: the spawned child leads no process group, so the PID is wireguard-go's)
      processes.push(await e.host.spawn([...(ownSession ? ['setsid'] : []), 'wireguard-go', '-f', ifname], { env: { LOG_LEVEL: 'error' } }));
      for (let t = 0; !(await e.host.exec(['wg', 'show', ifname, 'listen-port'])).stdout.trim(); t++) {
        if (t > 100) throw new Error(`wireguard-go ${ifname} did not come up`);
        await sleep(50);
      }
    }
    for (const [i, e] of ends.entries()) {
      const ifname = ifnames[i] as string;
      const other = ends[1 - i] as { underlay: string };
      await e.host.execOk([
        'wg', 'set', ifname, 'private-key', keys[i]?.priv as string, 'listen-port', String(WG_PORT),
        'peer', keys[1 - i]?.pub as string, 'endpoint', `${other.underlay}:${WG_PORT}`, 'allowed-ips', `${tunnel[1 - i]}/32`, 'persistent-keepalive', '25',
      ]);
      await e.host.execOk(['ip', 'addr', 'add', `${tunnel[i]}/24`, 'dev', ifname]);
      await e.host.execOk(['ip', 'link', 'set', ifname, 'mtu', String(mtu), 'up']);
    }
    if (!(await ends[0].host.ping(tunnel[1] as string))) throw new Error('bare wireguard tunnel: no ping reply');
    // its sockets exist once it has seen its link up (the ping above went through them)
    if (socketBuffer !== undefined) for (const p of processes) execFileSync(BERTH_SOCKBUF, [String(p.pid), String(socketBuffer)]);
  } catch (e) {
    await close();
    throw e;
  }
  return { peerAddress: tunnel[1] as string, processes, ifnames, close };
}

/** utime + stime of a process, in clock ticks (0 once it is gone). */
export function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(f[11]) + Number(f[12]);
  } catch {
    return 0;
  }
}

/** PIDs of the wireguard-go processes berth started for a host (from its pid files). */
export function berthWireguardPids(runDir: string): number[] {
  const dir = join(runDir, 'wireguard');
  let names: string[] = [];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pid'));
  } catch {
    return [];
  }
  return names.map((n) => Number(readFileSync(join(dir, n), 'utf8').trim().split(' ')[0])).filter((p) => Number.isInteger(p) && p > 0);
}
