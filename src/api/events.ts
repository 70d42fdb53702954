// Every change the daemon makes, for `GET /events` (server-sent events), in Docker's event shape.
import { EventEmitter } from 'node:events';

export interface BerthEvent {
  Type: 'network' | 'container' | 'daemon';
  Action: string;
  Actor: { ID: string; Attributes: Record<string, string> };
  time?: number;
}

class Events extends EventEmitter {
  override emit(name: 'event', e: BerthEvent): boolean {
    return super.emit(name, { ...e, time: e.time ?? Math.floor(Date.now() / 1000) });
  }
}

export const events = new Events();
events.setMaxListeners(1000);

/** Tell every `GET /events` listener about a change. */
export function publish(e: BerthEvent): void {
  events.emit('event', e);
}
