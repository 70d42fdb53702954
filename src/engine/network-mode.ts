// A container's network mode, one typed value from the edge to the kernel. Every front end
// parses what the user wrote with parseNetworkMode (`berth run --network`, the API's
// HostConfig.NetworkMode); the record keeps its string form (networkModeText), read back with
// storedNetworkMode, so that no other code looks inside the string.
import { UserError, quote } from '../common/errors.js';
import { networkNameProblem } from '../common/network-name.js';

export type NetworkMode =
  | { kind: 'bridge' }
  | { kind: 'host' }
  | { kind: 'none' }
  | { kind: 'container'; ref: string }
  /** a user-defined network, by name or id */
  | { kind: 'network'; ref: string };

const CONTAINER = 'container:';

/** A network mode as the user wrote it; anything that cannot be one is refused here. */
export function parseNetworkMode(value: string): NetworkMode {
  if (value === 'bridge' || value === 'default') return { kind: 'bridge' };
  if (value === 'host') return { kind: 'host' };
  if (value === 'none') return { kind: 'none' };
  if (value.startsWith(CONTAINER)) {
    const ref = value.slice(CONTAINER.length);
    if (!ref) throw new UserError(`invalid network mode ${quote(value)}: expected container:NAME or container:ID`);
    return { kind: 'container', ref };
  }
  if (networkNameProblem(value)) {
    throw new UserError(`invalid network ${quote(value)}: accepted are bridge, host, none, container:NAME|ID or the name of a user-defined network`);
  }
  return { kind: 'network', ref: value };
}

/** The record's form, once resolved: the kind, container:ID of the target, or the network's name. */
export function networkModeText(mode: NetworkMode): string {
  return mode.kind === 'container' ? `${CONTAINER}${mode.ref}` : mode.kind === 'network' ? mode.ref : mode.kind;
}

/** A record's network mode (written by networkModeText) as the typed value. */
export function storedNetworkMode(text: string): NetworkMode {
  if (text === 'bridge' || text === 'host' || text === 'none') return { kind: text };
  if (text.startsWith(CONTAINER)) return { kind: 'container', ref: text.slice(CONTAINER.length) };
  return { kind: 'network', ref: text };
}

/** The id of the container whose namespace a record's mode joins, if it joins one. */
export function joinedContainerId(text: string): string | undefined {
  const mode = storedNetworkMode(text);
  return mode.kind === 'container' ? mode.ref : undefined;
}
