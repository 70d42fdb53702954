// The daemon's side of the native berth-cni (native/berth-client.c): one CNI plugin call, body
// {env: CNI_* variables, stdin}, run by the daemon's engine and answered in the thin client's frames.
import { Frames } from '../common/frames.js';
import type { Engine } from '../engine/context.js';
import { runCni } from './plugin.js';

type Serial = <T>(fn: () => Promise<T>) => Promise<T>;

export async function serveCni(engine: Engine, serial: Serial, body: unknown): Promise<Buffer> {
  const b = (typeof body === 'object' && body !== null ? body : {}) as Record<string, unknown>;
  const env = (typeof b.env === 'object' && b.env !== null ? b.env : {}) as Record<string, unknown>;
  const cniEnv = Object.fromEntries(Object.entries(env).filter(([k, v]) => k.startsWith('CNI_') && typeof v === 'string')) as Record<string, string>;
  const { stdout, status } = await serial(() => runCni(() => engine, cniEnv, typeof b.stdin === 'string' ? b.stdin : ''));
  const frames = new Frames();
  frames.add('1', stdout);
  frames.add('x', String(status));
  return frames.toBuffer();
}
