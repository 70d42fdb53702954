// One rtnetlink socket bound to one network namespace. All link/address/route/neighbour
// operations go through `call`, which turns the kernel's error into a KernelError with its errno name.
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { SystemError } from '../common/errors.js';
import { withNetns, type NetnsTarget } from './netns.js';

/** A kernel refusal: `code` is the errno name (EEXIST, ENODEV, …). */
export class KernelError extends SystemError {
  constructor(
    readonly op: string,
    readonly code: string,
  ) {
    super(`${op}: ${code}${ERRNO_TEXT[code] ? ` (${ERRNO_TEXT[code]})` : ''}`);
  }
}

const ERRNO_TEXT: Record<string, string> = {
  EEXIST: 'already exists',
  ENODEV: 'no such device',
  ENOENT: 'not found',
  ESRCH: 'not found',
  EADDRNOTAVAIL: 'address not available',
  EINVAL: 'invalid argument',
  EBUSY: 'device or resource busy',
  ENETUNREACH: 'network unreachable',
  EOPNOTSUPP: 'not supported by this kernel',
  ERANGE: 'value out of range',
  EPERM: 'operation not permitted',
};

let requests = 0;
let answers = 0;

/** Requests sent through Rtnl.call in this process so far: tests count the work an operation does with it. */
export function rtnlRequestCount(): number {
  return requests;
}

/** Messages the kernel answered with through Rtnl.call (a dump's every entry): tests count what a read costs. */
export function rtnlAnswerCount(): number {
  return answers;
}

/** Errno codes meaning "that object is not there": teardown treats them as success. */
export const GONE = new Set(['ENODEV', 'ENOENT', 'ESRCH', 'EADDRNOTAVAIL']);

export class Rtnl {
  private constructor(
    readonly sock: RtNetlinkSocket,
    readonly netns: NetnsTarget | null,
  ) {}

  /** Open a socket in the given namespace (null: the host namespace berth runs in). */
  static open(netns: NetnsTarget | null = null): Rtnl {
    const sock = withNetns(netns, () => createRtNetlink());
    return new Rtnl(sock, netns);
  }

  close(): void {
    this.sock.socket.close();
  }

  /** Run one request, naming the operation in the error if the kernel refuses it. */
  async call<T>(op: string, fn: (s: RtNetlinkSocket) => Promise<T>): Promise<T> {
    requests++;
    try {
      const answer = await fn(this.sock);
      answers += Array.isArray(answer) ? answer.length : 1;
      return answer;
    } catch (err) {
      const m = /Request rejected: (\w+)/.exec((err as Error).message);
      if (m?.[1]) throw new KernelError(op, m[1]);
      throw err;
    }
  }

  /** Like call, but an "already gone" answer is success (idempotent teardown). */
  async callIgnoringGone(op: string, fn: (s: RtNetlinkSocket) => Promise<unknown>): Promise<boolean> {
    try {
      await this.call(op, fn);
      return true;
    } catch (err) {
      if (err instanceof KernelError && GONE.has(err.code)) return false;
      throw err;
    }
  }
}

/** Open a socket, use it, close it. */
export async function withRtnl<T>(netns: NetnsTarget | null, fn: (nl: Rtnl) => Promise<T>): Promise<T> {
  const nl = Rtnl.open(netns);
  try {
    return await fn(nl);
  } finally {
    nl.close();
  }
}
