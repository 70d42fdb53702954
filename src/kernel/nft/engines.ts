// Running nft input in the current network namespace, by one of two engines that take the same
// input and give the same results: libnftables called in-process through koffi (a context per
// call, so its netlink socket lives in the namespace the caller entered), or a spawned `nft -f`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import koffi from 'koffi';
import { SystemError } from '../../common/errors.js';
import { withSignalsBlocked } from '../libc.js';
import type { NetnsTarget } from '../netns.js';

export type NftEngine = 'library' | 'process';

export interface NftTarget {
  /** namespace to act in (nsfs path or fd); null/absent: the one berth runs in */
  readonly netns?: NetnsTarget | null;
  /** default: library when it loads, else process */
  readonly engine?: NftEngine;
}

/** nft refused a batch (or a listing). Nothing in the batch was applied. */
export class NftError extends SystemError {
  constructor(
    message: string,
    /** nft's own error text */
    readonly nftMessage: string,
    /** index of the failing command in the batch (JSON: not counting metainfo), when known */
    readonly commandIndex?: number,
    /** index of the operation that command came from, when known */
    readonly opIndex?: number,
  ) {
    super(message);
  }
}

export interface RunResult {
  ok: boolean;
  output: string;
  error: string;
}
export interface RunOptions {
  json: boolean;
  dryRun: boolean;
}

const NFT_CTX_DEFAULT = 0;
const NFT_CTX_OUTPUT_JSON = 1 << 4;

interface NftLibrary {
  ctxNew(flags: number): unknown;
  ctxFree(ctx: unknown): void;
  getFlags(ctx: unknown): number;
  setFlags(ctx: unknown, flags: number): void;
  bufferOutput(ctx: unknown): number;
  bufferError(ctx: unknown): number;
  getOutput(ctx: unknown): string | null;
  getError(ctx: unknown): string | null;
  setDryRun(ctx: unknown, dry: boolean): void;
  run(ctx: unknown, buf: string): number;
}

let library: NftLibrary | null | undefined;

function loadLibrary(): NftLibrary | null {
  if (library !== undefined) return library;
  try {
    const lib = koffi.load('libnftables.so.1');
    const f = (sig: string) => lib.func(sig) as (...args: unknown[]) => unknown;
    const ctxNew = f('void *nft_ctx_new(uint32_t flags)');
    const ctxFree = f('void nft_ctx_free(void *ctx)');
    const getFlags = f('unsigned int nft_ctx_output_get_flags(void *ctx)');
    const setFlags = f('void nft_ctx_output_set_flags(void *ctx, unsigned int flags)');
    const bufferOutput = f('int nft_ctx_buffer_output(void *ctx)');
    const bufferError = f('int nft_ctx_buffer_error(void *ctx)');
    const getOutput = f('const char *nft_ctx_get_output_buffer(void *ctx)');
    const getError = f('const char *nft_ctx_get_error_buffer(void *ctx)');
    const setDryRun = f('void nft_ctx_set_dry_run(void *ctx, bool dry)');
    const run = f('int nft_run_cmd_from_buffer(void *ctx, const char *buf)');
    library = {
      ctxNew: (flags) => ctxNew(flags),
      ctxFree: (ctx) => void ctxFree(ctx),
      getFlags: (ctx) => getFlags(ctx) as number,
      setFlags: (ctx, flags) => void setFlags(ctx, flags),
      bufferOutput: (ctx) => bufferOutput(ctx) as number,
      bufferError: (ctx) => bufferError(ctx) as number,
      getOutput: (ctx) => getOutput(ctx) as string | null,
      getError: (ctx) => getError(ctx) as string | null,
      setDryRun: (ctx, dry) => void setDryRun(ctx, dry),
      run: (ctx, buf) => run(ctx, buf) as number,
    };
  } catch {
    library = null;
  }
  return library;
}

/** True when libnftables can be called in-process. */
export function nftLibraryAvailable(): boolean {
  return loadLibrary() !== null;
}

function runLibrary(lib: NftLibrary, input: string, o: RunOptions): RunResult {
  const ctx = lib.ctxNew(NFT_CTX_DEFAULT);
  if (ctx === null) throw new SystemError('libnftables: nft_ctx_new failed');
  try {
    // The JSON output flag is also what makes libnftables parse its input as JSON.
    if (o.json) lib.setFlags(ctx, lib.getFlags(ctx) | NFT_CTX_OUTPUT_JSON);
    if (o.dryRun) lib.setDryRun(ctx, true);
    lib.bufferOutput(ctx);
    lib.bufferError(ctx);
    // nft waits for the kernel's answers in select(), which a signal interrupts (EINTR, though
    // the batch may have been committed): the daemon's children send SIGCHLD at any time
    const rc = withSignalsBlocked(() => lib.run(ctx, input));
    return { ok: rc === 0, output: lib.getOutput(ctx) ?? '', error: lib.getError(ctx) ?? '' };
  } finally {
    lib.ctxFree(ctx);
  }
}

let nftBinary: string | undefined;
function nftPath(): string {
  nftBinary ??= ['/usr/sbin/nft', '/sbin/nft', '/usr/bin/nft'].find((p) => existsSync(p)) ?? 'nft';
  return nftBinary;
}

function runProcess(input: string, o: RunOptions): RunResult {
  // `nft -f -` opens /dev/stdin, which fails (ENXIO) on the socket Node gives a child as stdin:
  // hand it a private file instead.
  const dir = mkdtempSync(join(tmpdir(), 'berth-nft-'));
  try {
    const file = join(dir, o.json ? 'batch.json' : 'batch.nft');
    writeFileSync(file, input, { mode: 0o600 });
    const args = [...(o.json ? ['-j'] : []), ...(o.dryRun ? ['-c'] : []), '-f', file];
    const r = spawnSync(nftPath(), args, { encoding: 'utf8', maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'pipe'] });
    if (r.error) throw new SystemError(`cannot run ${nftPath()}: ${r.error.message}`, { cause: r.error });
    // Name the input as libnftables does, so both engines report errors alike.
    const stderr = r.stderr.replaceAll(file, '<cmdline>');
    if (r.signal) return { ok: false, output: r.stdout, error: `nft was killed by ${r.signal}\n${stderr}` };
    return { ok: r.status === 0, output: r.stdout, error: stderr };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The engine wanted, else the library when it loads, else the nft process. */
export function pickEngine(wanted: NftEngine | undefined): NftEngine {
  if (wanted === 'process') return 'process';
  if (loadLibrary()) return 'library';
  if (wanted === 'library') throw new SystemError('libnftables.so.1 cannot be loaded: install libnftables1 or use the nft process engine');
  return 'process';
}

/** Run input (JSON or native syntax, as o.json says) in the current namespace. */
export function run(engine: NftEngine, input: string, o: RunOptions): RunResult {
  return engine === 'library' ? runLibrary(loadLibrary()!, input, o) : runProcess(input, o);
}

/** nft's error text on one line, without the position prefix libnftables gives JSON input. */
export function cleanError(text: string): string {
  return text
    .split('\n')
    .map((l) => l.replace(/^internal:0:0-0: /, '').trim())
    .filter((l) => l !== '')
    .join('; ');
}
