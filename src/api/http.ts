// What the API server and its route modules share: the Docker API version answered, the error
// that carries an HTTP status, and the shape of a route (the server owns the routing itself).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Engine } from '../engine/context.js';

export const API_VERSION = '1.41';
export const MIN_API_VERSION = '1.24';

export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** A parsed request, as a route handler sees it. */
export interface RouteRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  params: Record<string, string>;
  body: unknown;
  raw: IncomingMessage;
  res: ServerResponse;
}

export interface RouteSpec {
  method: string;
  /** as written, e.g. /networks/{id} */
  path: string;
  handler: (engine: Engine, req: RouteRequest) => Promise<unknown>;
  /** the answer's status when the handler returns (Docker: 201 for create, 204 for delete); default 200 */
  status?: number;
}
