// Containers: run (plan -> apply -> commit, undoing on failure), stop, remove, list, inspect,
// exec, connect. A container is a berth-init shim and its child in their own namespaces; its
// record, endpoints and published ports are in the store; its files are under
// $BERTH_RUN/containers/<id>. This module is the front ends' one door to the container use
// cases; each job lives in its own module:
// - container-types.ts: the record's types, lookup and live status
// - container-spec.ts: a RunSpec's checks; container-prepare.ts: record, namespace, endpoint, files
// - shim.ts: berth-init's argv, pidfile and process end; container-run.ts: starting it
// - container-lifecycle.ts: exit, stop, remove; container-exec.ts: exec, ports, logs
// - container-connect.ts: network connect and disconnect
export {
  asContainer, getContainer, listContainers, liveStatus,
  type Container, type ContainerConfig, type ContainerState, type ContainerStatus, type NetworkMode, type RunSpec, type Started,
} from './container-types.js';
export { prepareContainer, type Prepared } from './container-prepare.js';
export { KILLED_WITH_SHIM, killContainerProcess, readPidfile, StartFailed } from './shim.js';
export { adoptDetachedStart, recordStarted, runContainer, waitForeground, watchClientForeground, type ClientForeground } from './container-run.js';
export { containerExited, creationAbandoned, detachedExited, discardAbandoned, releaseNetwork, removeContainer, removeContainers, stopContainer } from './container-lifecycle.js';
export { containerPorts, execArgv, execInContainer, logPath } from './container-exec.js';
export { connectContainer, disconnectContainer, type ConnectOptions } from './container-connect.js';
