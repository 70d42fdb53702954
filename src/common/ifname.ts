// Interface names as the kernel accepts them (dev_valid_name): 1-15 bytes, no '/', ':' or whitespace.
import { UserError, quote } from './errors.js';

export const IFNAMSIZ = 15;

export function validateIfName(name: string, what = 'interface name'): string {
  const bytes = Buffer.byteLength(name);
  if (bytes === 0 || bytes > IFNAMSIZ || name === '.' || name === '..' || /[/:\s]/.test(name)) {
    throw new UserError(
      `invalid ${what} ${quote(name)}: use 1-${IFNAMSIZ} bytes without '/', ':' or whitespace (and not "." or "..")`,
    );
  }
  return name;
}
