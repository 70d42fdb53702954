// A MAC address a container's interface may take: six hex pairs, and unicast. Broadcast
// (ff:ff:ff:ff:ff:ff), any multicast address (low bit of the first octet) and all zeros are
// refused here, as a user error, instead of by the kernel as EADDRNOTAVAIL (exit 3, HTTP 500).
import { UserError, quote } from './errors.js';

const MAC = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/;

/** The MAC in lower case; throws a UserError naming `flag` unless it is a usable unicast MAC. */
export function checkUnicastMac(text: string, flag = '--mac-address'): string {
  const mac = text.toLowerCase();
  if (!MAC.test(mac)) throw new UserError(`invalid ${flag} ${quote(text)}: expected six hex pairs such as 02:42:ac:11:00:02`);
  const first = parseInt(mac.slice(0, 2), 16);
  const why =
    mac === 'ff:ff:ff:ff:ff:ff' ? 'the broadcast address'
    : first & 1 ? 'a multicast address (the first octet is odd)'
    : mac === '00:00:00:00:00:00' ? 'all zeros'
    : undefined;
  if (why) throw new UserError(`invalid ${flag} ${quote(text)}: ${why}; expected a unicast MAC (first octet even, e.g. 02:42:ac:11:00:02)`);
  return mac;
}
