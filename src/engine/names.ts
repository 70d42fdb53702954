// Container names and hostnames: Docker's rules, and Docker-style generated names.
import { randomInt } from 'node:crypto';
import { UserError, quote } from '../common/errors.js';

const NAME = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const HOSTNAME = /^(?=.{1,63}$)[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

export function validateContainerName(name: string): string {
  if (!NAME.test(name) || name.length > 128) {
    throw new UserError(`invalid container name ${quote(name)}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, up to 128 characters`);
  }
  return name;
}

export function validateHostname(name: string): string {
  if (!HOSTNAME.test(name)) {
    throw new UserError(`invalid hostname ${quote(name)}: use 1-63 letters, digits and '-', not starting or ending with '-'`);
  }
  return name;
}

const ADJECTIVES = ['brave', 'calm', 'eager', 'fond', 'keen', 'quiet', 'swift', 'tidy', 'vivid', 'wise', 'bold', 'merry', 'noble', 'plucky', 'jolly', 'sharp'];
const NAMES = ['hopper', 'lovelace', 'turing', 'ritchie', 'thompson', 'torvalds', 'kare', 'liskov', 'knuth', 'hamilton', 'cerf', 'perlman', 'allen', 'wing', 'goldberg', 'dijkstra'];

/** adjective_name, with a number appended on a clash, as Docker does. */
export function generateName(taken: (name: string) => boolean): string {
  for (let i = 0; ; i++) {
    const base = `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NAMES[randomInt(NAMES.length)]}`;
    const name = i < 10 ? base : `${base}${randomInt(1000)}`;
    if (!taken(name)) return name;
  }
}
