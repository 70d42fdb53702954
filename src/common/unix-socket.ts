// Whether something accepts connections on a unix socket: a live daemon or plugin, before one
// removes a stale socket file to listen there itself.
import { connect } from 'node:net';

/** True if something accepts connections on the unix socket at path. */
export function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
