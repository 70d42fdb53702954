// Caps on user metadata (labels) that berth stores and decodes again and again: a network's
// labels are read with the network, by every command and by the daemon's polls. Without a cap a
// 10 MB label made any create take seconds and the idle daemon burn half a core (issue 11,
// item 15). Sizes are UTF-8 bytes.
import { UserError } from '../common/errors.js';

export const LABEL_KEY_MAX_BYTES = 1024;
export const LABEL_VALUE_MAX_BYTES = 65_536;
export const LABELS_TOTAL_MAX_BYTES = 262_144;

/** A key for a message: quoted, escaped (no raw control bytes), and cut short. */
function shown(key: string): string {
  return JSON.stringify(key.length > 60 ? `${key.slice(0, 60)}…` : key);
}

/** Refuse labels over the caps, naming the label and what is accepted. */
export function checkLabels(labels: Record<string, string>, what = 'label'): void {
  let total = 0;
  for (const [key, value] of Object.entries(labels)) {
    const k = Buffer.byteLength(key);
    const v = Buffer.byteLength(value);
    if (k > LABEL_KEY_MAX_BYTES) throw new UserError(`${what} ${shown(key)}: its key is ${k} bytes; accepted are keys of up to ${LABEL_KEY_MAX_BYTES} bytes`);
    if (v > LABEL_VALUE_MAX_BYTES) throw new UserError(`${what} ${shown(key)}: its value is ${v} bytes; accepted are values of up to ${LABEL_VALUE_MAX_BYTES} bytes`);
    total += k + v;
    if (total > LABELS_TOTAL_MAX_BYTES) {
      throw new UserError(`${what} ${shown(key)}: the labels reach ${total} bytes with it; accepted are up to ${LABELS_TOTAL_MAX_BYTES} bytes of keys and values in all`);
    }
  }
}
