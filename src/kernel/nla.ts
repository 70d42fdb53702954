// Netlink attribute (TLV) encoding for the nested data the `netlink` package leaves raw:
// link-kind data (veth peer, vxlan, macvlan, bridge port). 4-byte aligned, host byte order.

export const NLA_F_NESTED = 0x8000;

const align4 = (n: number): number => (n + 3) & ~3;

export function nla(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc(align4(len));
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

export const nlaNested = (type: number, children: Buffer[]): Buffer => nla(type | NLA_F_NESTED, Buffer.concat(children));
export const nlaString = (type: number, s: string): Buffer => nla(type, Buffer.from(`${s}\0`));
export const nlaU8 = (type: number, v: number): Buffer => nla(type, Buffer.from([v]));

export function nlaU16be(type: number, v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return nla(type, b);
}

export function nlaU32(type: number, v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return nla(type, b);
}

/** struct ifinfomsg with everything zero: the header of a veth peer's attributes. */
export function ifinfomsg(): Buffer {
  return Buffer.alloc(16);
}

/** Split a buffer of attributes into type -> payload (last one wins; nested flag stripped). */
export function parseNla(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & ~NLA_F_NESTED & 0x3fff;
    if (len < 4 || off + len > buf.length) break;
    out.set(type, buf.subarray(off + 4, off + len));
    off += align4(len);
  }
  return out;
}

export const nlaToString = (b: Buffer): string => b.toString('utf8').replace(/\0.*$/s, '');
