// The cluster store's error, in a module of its own: the engine names it without loading the
// etcd client (which costs ~11 MB and tens of ms at every start of a process without a cluster).
import { SystemError } from '../common/errors.js';

/**
 * No etcd member answered (all down, no quorum, or the network to them is gone). The message
 * says so and names the endpoints: "cluster store unreachable (etcd at H:P, …): cause".
 */
export class ClusterUnreachableError extends SystemError {
  constructor(
    readonly endpoints: readonly string[],
    readonly causeText: string,
    options?: ErrorOptions,
  ) {
    super(`cluster store unreachable (etcd at ${endpoints.join(', ')}): ${causeText}`, options);
  }
}
