// The berth-cni binary (bin/berth-cni, dist/berth-cni.mjs), part of the composition root: one CNI
// call, run by the engine in this process.
import { readFileSync } from 'node:fs';
import { Engine } from './engine/context.js';
import { runCni } from './cni/plugin.js';

let stdin = '';
try {
  stdin = readFileSync(0, 'utf8');
} catch {
  // no stdin: an empty config
}
const { stdout, status } = await runCni(() => new Engine(), process.env, stdin);
process.stdout.write(stdout);
process.exitCode = status;
