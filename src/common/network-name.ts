// Network names: Docker accepts nearly any text ("test 01" included), so berth does too, and
// refuses only what would break a path, a terminal or a key: control characters, '/', and
// more than 255 bytes. Kernel names never derive from it (bridges are br-<id>).
import { UserError } from './errors.js';

const MAX_BYTES = 255;

/** Why a network name is refused, or undefined when it is fine. */
export function networkNameProblem(name: string): string | undefined {
  if (name === '') return 'it is empty';
  if (name.trim() === '') return 'it is only white space';
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'it holds a control character';
  if (name.includes('/')) return "it holds a '/'";
  if (Buffer.byteLength(name, 'utf8') > MAX_BYTES) return `it is longer than ${MAX_BYTES} bytes`;
  return undefined;
}

/** The name, or a UserError naming the problem (the name shown with escapes, never raw bytes). */
export function checkNetworkName(name: string): string {
  const problem = networkNameProblem(name);
  if (problem) {
    const shown = JSON.stringify(name.length > 80 ? `${name.slice(0, 80)}…` : name);
    throw new UserError(`invalid network name ${shown}: ${problem}; any text up to ${MAX_BYTES} bytes without control characters or '/' is accepted`);
  }
  return name;
}
