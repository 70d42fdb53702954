// What the API server hands the thin client's routes (/berth/v1/*) to. The API knows only this
// shape; the composition root (src/daemon-root.ts) builds it from the CLI's gateway and the CNI
// plugin's, so that front ends never import each other.

/** The server's queue: one engine call at a time. */
export type Serial = <T>(fn: () => Promise<T>) => Promise<T>;

/** Each answers the native client's frames (src/common/frames.ts); bodies are checked by the routes' schemas. */
export interface ThinClientGateway {
  /** POST /berth/v1/cli: run a command line {argv, cwd, pid, path} */
  run(body: unknown): Promise<Buffer>;
  /** POST /berth/v1/cli/continue: the client's report after a run hand-over {token, status} */
  continue(body: unknown): Promise<Buffer>;
  /** POST /berth/v1/cni: one CNI plugin call {env, stdin}; callerPid: the connected process, as the kernel says (SO_PEERCRED) */
  cni(body: unknown, callerPid: number | undefined): Promise<Buffer>;
}

/** Called once per server with its queue; the gateway queues its engine calls itself. */
export type GatewayFactory = (serial: Serial) => ThinClientGateway;
