// The etcd connection under the cluster store: client options that make failures quick, the
// error a caller sees when no member answers, and raw transactions (compare-and-swap).
//
// Failure timing: each unary call has a deadline of requestTimeoutMs; a refused or failed call
// is retried at once on another member (up to one try per member, plus one); a member that
// fails 3 calls in a row is skipped for 1 s (circuit breaker). Every store operation as a whole is
// bounded by operationTimeoutMs. So with one member down operations go on (a retry lands on a
// live member), and with all down they fail within about operationTimeoutMs.
import type { Etcd3, ICompare, IKeyValue, IRequestOp, ITxnResponse } from 'etcd3';
// cockatiel is etcd3's own fault-handling library (a dependency of etcd3): it is how etcd3 takes
// retry, circuit-breaker and backoff settings.
import type { IBackoff } from 'cockatiel';
import { cockatielLib, etcd3Lib } from './etcd-lib.js';
import { UserError } from '../common/errors.js';
import { prefixRangeEnd } from './cluster-keys.js';

import { ClusterUnreachableError } from './cluster-errors.js';

export { ClusterUnreachableError };

export interface EtcdTimings {
  /** Deadline of one request to one member. Default 1000 ms. */
  requestTimeoutMs?: number;
  /** Bound on a whole store operation, retries included. Default 2500 ms. */
  operationTimeoutMs?: number;
}

const ENDPOINT_RE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):([0-9]{1,5})$/;

/** Check `H:P` endpoints; also accepts `etcd://H:P` and `http://H:P` (the scheme is dropped). */
export function parseEndpoints(endpoints: readonly string[]): string[] {
  if (endpoints.length === 0) throw new UserError('no etcd endpoint given: expected one or more HOST:PORT, e.g. 10.0.0.1:2379');
  return endpoints.map((raw) => {
    const e = raw.replace(/^(etcd|http):\/\//, '').replace(/\/$/, '');
    const m = ENDPOINT_RE.exec(e);
    const port = Number(m?.[2]);
    if (!m || port < 1 || port > 65535) {
      throw new UserError(`invalid etcd endpoint ${JSON.stringify(raw)}: expected HOST:PORT like 10.0.0.1:2379 or [fd00::1]:2379 (TLS is not supported)`);
    }
    return e;
  });
}

export function createEtcdClient(endpoints: readonly string[], t: Required<EtcdTimings>): Etcd3 {
  const { Etcd3, isRecoverableError } = etcd3Lib();
  const { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } = cockatielLib();
  return new Etcd3({
    hosts: endpoints.map((e) => `http://${e}`),
    dialTimeout: t.requestTimeoutMs,
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + t.requestTimeoutMs }),
    grpcOptions: {
      // Reconnect to a restarted member within about a second, not gRPC's default of minutes.
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 1000,
      // Notice a silently dead member under a watch or keepalive stream. etcd rejects pings
      // more often than every 5 s (--grpc-keepalive-min-time).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 3000,
    },
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1000, breaker: new ConsecutiveBreaker(3) }),
      global: retry(handleWhen(isRecoverableError), { maxAttempts: endpoints.length + 1 }),
      // etcd3 calls .next() on this before use (as with its own default, an ExponentialBackoff);
      // its typings ask for an already-started backoff.
      watchBackoff: new ExponentialBackoff({ initialDelay: 100, maxDelay: 1000 }) as unknown as IBackoff<unknown>,
    },
  });
}

class OperationTimeout extends Error {}

/** True for errors that mean "no member answered", as opposed to a refused request. */
export function isUnreachable(e: unknown): boolean {
  if (!(e instanceof Error)) return false;
  const { GRPCGenericError, isRecoverableError } = etcd3Lib();
  return e instanceof OperationTimeout || cockatielLib().isBrokenCircuitError(e) || isRecoverableError(e) || e instanceof GRPCGenericError;
}

/** grpc-js messages end in an empty "Resolution note:"; keep the part that says what failed. */
function causeText(e: Error): string {
  return e.message.replace(/\s*Resolution note:\s*$/, '').trim() || e.constructor.name;
}

const RETRY_PAUSE_MS = 150;

/**
 * Run one store operation with an overall deadline, retrying it while no member answers (a
 * leader election, a member restarting), and turning "still no answer" into
 * ClusterUnreachableError. A timed-out write may still have been applied: the store's writes are
 * idempotent (or recognise their own earlier success) for that reason.
 */
export async function bounded<T>(endpoints: readonly string[], timeoutMs: number, fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: Error | undefined;
  const attempts = async (): Promise<T> => {
    for (;;) {
      try {
        return await fn();
      } catch (e) {
        // "circuit breaker is open" only says an earlier call failed: keep that earlier cause.
        if (!cockatielLib().isBrokenCircuitError(e) || !last) last = e as Error;
        if (!isUnreachable(e) || Date.now() + RETRY_PAUSE_MS >= deadline) throw e;
        await new Promise((r) => setTimeout(r, RETRY_PAUSE_MS));
      }
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new OperationTimeout(last ? `${causeText(last)} (still failing after ${timeoutMs} ms)` : `no answer within ${timeoutMs} ms`)),
      timeoutMs,
    );
  });
  try {
    return await Promise.race([attempts(), timeout]);
  } catch (e) {
    if (e instanceof OperationTimeout) throw new ClusterUnreachableError(endpoints, e.message, { cause: last ?? e });
    if (isUnreachable(e)) throw new ClusterUnreachableError(endpoints, causeText(last ?? (e as Error)), { cause: e });
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

// ---- raw transactions ---------------------------------------------------------------------------

type Target = 'Version' | 'Create' | 'Mod' | 'Value' | 'Lease';
type Result = 'Equal' | 'Greater' | 'Less' | 'NotEqual';

/** One compare of a transaction; with `prefix`, it must hold for every key under that prefix. */
export interface Compare {
  key: string;
  prefix?: boolean;
  target: Target;
  result: Result;
  value: number | string;
}

const targetField: Record<Exclude<Target, 'Value'>, string> = {
  Version: 'version',
  Create: 'create_revision',
  Mod: 'mod_revision',
  Lease: 'lease',
};

function compareOp(c: Compare): ICompare {
  const op: Record<string, unknown> = { key: Buffer.from(c.key), target: c.target, result: c.result };
  if (c.target === 'Value') op.value = Buffer.from(String(c.value));
  else op[targetField[c.target]] = String(c.value);
  // etcd 3.3+ compares every key in [key, range_end): "no key under prefix" is Create == 0 here.
  // A proto field (range_end) that etcd3's ICompare typing does not list, hence the plain record.
  if (c.prefix) op.range_end = prefixRangeEnd(c.key);
  return op;
}

export const op = {
  put(key: string, value: unknown, lease?: string): IRequestOp {
    return { request_put: { key: Buffer.from(key), value: Buffer.from(JSON.stringify(value)), ...(lease ? { lease } : {}) } };
  },
  del(key: string): IRequestOp {
    return { request_delete_range: { key: Buffer.from(key) } };
  },
  delPrefix(prefix: string): IRequestOp {
    return { request_delete_range: { key: Buffer.from(prefix), range_end: prefixRangeEnd(prefix) } };
  },
  get(key: string): IRequestOp {
    return { request_range: { key: Buffer.from(key) } };
  },
  getPrefix(prefix: string): IRequestOp {
    return { request_range: { key: Buffer.from(prefix), range_end: prefixRangeEnd(prefix) } };
  },
};

export interface TxnResult {
  succeeded: boolean;
  revision: number;
  response: ITxnResponse;
  /** kvs of the i-th range op of the branch that ran (empty for other ops). */
  kvs(i: number): IKeyValue[];
}

export async function txn(client: Etcd3, compare: Compare[], success: IRequestOp[], failure: IRequestOp[] = []): Promise<TxnResult> {
  const response = await client.kv.txn({ compare: compare.map(compareOp), success, failure });
  return {
    succeeded: response.succeeded,
    revision: Number(response.header.revision),
    response,
    kvs: (i) => response.responses[i]?.response_range?.kvs ?? [],
  };
}

/** Every key/value under prefix, with the revision the read was made at. */
export async function rangePrefix(client: Etcd3, prefix: string): Promise<{ kvs: IKeyValue[]; revision: number }> {
  const r = await client.getAll().prefix(prefix).exec();
  return { kvs: r.kvs, revision: Number(r.header.revision) };
}
