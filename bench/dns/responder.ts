// bench/dns: a minimal UDP DNS responder, in two roles (node dist/bench/dns/responder.js ADDRESS PORT MODE):
//   upstream   the fake upstream resolver both servers forward to: a name under `up.test` gets
//              one A record (192.0.2.1), every other name NXDOMAIN
//   echo       the reference: every question gets that A record (nothing looked up): what the
//              path, the load generator and a do-almost-nothing single-threaded Node server reach
// Answers are built by copying the query's header and question and appending one record with a
// compression pointer, so the responder costs as little as a Node UDP server can. Prints
// "ready ADDRESS:PORT" once bound. Lab only: it is started inside the bench's namespaces.
import { createSocket } from 'node:dgram';

const [address = '', portText = '', mode = ''] = process.argv.slice(2);
const port = Number(portText);
if (!/^[0-9.]+$/.test(address) || !Number.isInteger(port) || port < 1 || port > 65535 || (mode !== 'upstream' && mode !== 'echo')) {
  process.stderr.write('usage: responder.js IPV4 PORT upstream|echo\n');
  process.exit(2);
}

const ANSWER = Buffer.from([0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 192, 0, 2, 1]);
const SUFFIX = 'up.test';

/** End offset of the question (after QTYPE and QCLASS), the lower-case name, or undefined if malformed. */
function question(m: Buffer): { end: number; name: string; qtype: number } | undefined {
  let i = 12;
  const labels: string[] = [];
  for (;;) {
    const len = m[i];
    if (len === undefined || len > 63) return undefined;
    i++;
    if (len === 0) break;
    if (i + len > m.length) return undefined;
    labels.push(m.toString('latin1', i, i + len).toLowerCase());
    i += len;
  }
  if (i + 4 > m.length) return undefined;
  return { end: i + 4, name: labels.join('.'), qtype: m.readUInt16BE(i) };
}

const sock = createSocket({ type: 'udp4', recvBufferSize: 1 << 20 });
sock.on('message', (m, r) => {
  if (m.length < 12 || (m[2] ?? 0) & 0x80 || m.readUInt16BE(4) !== 1) return;
  const q = question(m);
  if (!q) return;
  const known = mode === 'echo' || q.name === SUFFIX || q.name.endsWith(`.${SUFFIX}`);
  const withAnswer = known && q.qtype === 1;
  const out = Buffer.allocUnsafe(q.end + (withAnswer ? ANSWER.length : 0));
  m.copy(out, 0, 0, q.end);
  // QR, the query's opcode and RD, RA; rcode NXDOMAIN for unknown names
  out[2] = 0x80 | ((m[2] ?? 0) & 0x79);
  out[3] = 0x80 | (known ? 0 : 3);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(withAnswer ? 1 : 0, 6);
  out.writeUInt32BE(0, 8);
  if (withAnswer) ANSWER.copy(out, q.end);
  sock.send(out, r.port, r.address);
});
sock.on('error', (e) => {
  process.stderr.write(`responder: ${e.message}\n`);
  process.exit(1);
});
sock.bind(port, address, () => process.stdout.write(`ready ${address}:${port}\n`));
