// Traffic control on a host interface: a token bucket (tbf) as root qdisc, and the redirect of a
// link's incoming traffic to an ifb device (where a tbf can shape it), as the reference CNI
// bandwidth plugin does. The `netlink` package has no tc messages, so this spawns iproute2's
// `tc` with an argv (no shell), and reads its JSON output only (`tc -j`).
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SystemError } from '../common/errors.js';

const TC_TIMEOUT_MS = 10_000;

function tcPath(): string {
  // runtimes may scrub PATH (conmon): look in the usual places
  for (const p of ['/usr/sbin/tc', '/sbin/tc', '/usr/bin/tc', '/bin/tc']) if (existsSync(p)) return p;
  throw new SystemError('the `tc` tool is missing: install iproute2');
}

function tc(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(tcPath(), args, { timeout: TC_TIMEOUT_MS, encoding: 'utf8', env: {} }, (err, stdout, stderr) => {
      if (err) reject(new SystemError(`tc ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

export interface TokenBucket {
  /** bits per second */
  rate: number;
  /** bits */
  burst: number;
}

/** The queue a packet may wait in before it is dropped, as the reference plugin: 25 ms. */
const LATENCY = '25ms';

/** A tbf root qdisc on dev: what dev sends is held to the rate. */
export async function addTokenBucket(dev: string, tb: TokenBucket): Promise<void> {
  await tc(['qdisc', 'add', 'dev', dev, 'root', 'handle', '1:', 'tbf', 'rate', `${tb.rate}bit`, 'burst', `${Math.ceil(tb.burst / 8)}`, 'latency', LATENCY]);
}

/** Everything dev receives goes out of target instead (an ingress qdisc, a match-all u32 filter, mirred). */
export async function redirectIngress(dev: string, target: string): Promise<void> {
  await tc(['qdisc', 'add', 'dev', dev, 'handle', 'ffff:', 'ingress']);
  await tc(['filter', 'add', 'dev', dev, 'parent', 'ffff:', 'protocol', 'all', 'u32', 'match', 'u32', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', target]);
}

/** The kinds of qdisc on dev (e.g. ["tbf", "ingress"]); empty when dev is gone. */
export async function qdiscKinds(dev: string): Promise<string[]> {
  try {
    const list = JSON.parse(await tc(['-j', 'qdisc', 'show', 'dev', dev])) as { kind?: string }[];
    return list.map((q) => q.kind ?? '').filter((k) => k !== '' && k !== 'noqueue');
  } catch {
    return [];
  }
}
