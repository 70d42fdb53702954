// The embedded DNS resolver: one query in, one answer out. Pure logic over a DnsView (no
// sockets here apart from the forwarder it is given). dns-packet does all wire encoding.
//
// What berth answers itself (authoritative, AA set, TTL 600 like Docker's embedded DNS;
// aardvark-dns uses 60 — 600 keeps caching clients quiet, and berth names change only when
// containers come and go, which clients without a cache, like glibc, see at once anyway):
// - A / AAAA / ANY for container names, --network-alias names, 12-hex short ids (a full 64-hex
//   id is one octet longer than a DNS label may be, so no stub resolver can ask for it) and
//   `name.network`, case-insensitive, trailing dot or not, among the networks the client shares;
//   several addresses (an alias on several containers) come in rotating order, one step per query;
//   a name berth knows but without an address of the asked type → NOERROR, no answers (NODATA);
//   any other type for a berth name → NODATA as well.
// - PTR for container addresses on shared networks (when the view implements lookupAddress).
// Everything else is forwarded to the client's upstreams (unless all its networks are
// --internal: NXDOMAIN); no upstreams or no answer → SERVFAIL. Unknown client → REFUSED;
// opcode other than QUERY → NOTIMP; a message that does not decode, or has other than one
// question → FORMERR; EDNS version above 0 → BADVERS; a datagram shorter than a header, or a
// response, is ignored (null). RA is set on every answer berth sends.
//
// EDNS: when the query has an OPT record, the answer has one (UDP size 1232, no options) and a
// UDP answer of berth's may use the client's advertised size up to 1232; otherwise 512. An answer
// that does not fit is cut to the records that fit, with TC set, and the client retries over TCP.
// (dns-packet does not compress names, so every record repeats the owner name: an alias of n
// characters fits about 1232 / (n + 16) A records.) Forwarded answers go back as the upstream
// sent them (RA set), cut to header and question with TC only if larger than the client takes.
import {
  AUTHORITATIVE_ANSWER,
  RECURSION_AVAILABLE,
  TRUNCATED_RESPONSE,
  decode,
  encode,
  type Answer,
  type DecodedPacket,
  type OptAnswer,
  type Packet,
  type Question,
} from 'dns-packet';
import { clientIp, reverseNameToIp } from './addr.js';
import { ForwardError, defaultForwarder, type DnsForwarder } from './forward.js';
import type { DnsAddresses, DnsClientInfo, DnsView } from './view.js';

/** TTL of berth's own answers, in seconds (Docker: 600; aardvark-dns: 60). */
export const DNS_TTL = 600;
/** Largest UDP answer berth sends, and the size it advertises in EDNS (DNS flag day 2020). */
export const EDNS_UDP_SIZE = 1232;
/** UDP answer size for clients without EDNS (RFC 1035). */
export const CLASSIC_UDP_SIZE = 512;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export interface AnswerOptions {
  /** Where unknown names go; default the process-wide forwarder (host namespace). */
  forwarder?: DnsForwarder;
  /** How the query came: sets the answer size limit, and whether truncated upstream answers are retried over TCP. Default udp. */
  transport?: 'udp' | 'tcp';
  /** TTL of berth's own records (default DNS_TTL). */
  ttl?: number;
  /** Per-upstream forwarding timeout (default the forwarder's, 2 s). */
  timeoutMs?: number;
  /** Called with what happened to each query: for counters and debug logs. */
  observe?: (outcome: DnsOutcome) => void;
  /** A view or forwarder that throws (a bug, not the client's fault): the client gets SERVFAIL. */
  onError?: (err: unknown) => void;
}

/** How a query was handled. */
export type DnsOutcome = 'answered' | 'nodata' | 'nxdomain' | 'forwarded' | 'servfail' | 'refused' | 'formerr' | 'notimp' | 'ignored';

const OPCODE_MASK = 0x7800;
const RD = 0x0100;
const CD = 0x0010;
const QR_BYTE = 0x80;

const OPT_OK: OptAnswer = { type: 'OPT', name: '.', udpPayloadSize: EDNS_UDP_SIZE, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] };
const OPT_BADVERS: OptAnswer = { ...OPT_OK, extendedRcode: 1 };

let rotation = 0;

/** What a response needs from its query. */
interface Ctx {
  readonly id: number;
  /** opcode, RD and CD of the query, plus RA: the base of every answer's flags. */
  readonly flags: number;
  readonly question: Question | undefined;
  readonly edns: boolean;
  /** Largest answer of berth's own for this client and transport. */
  readonly maxSize: number;
  /** Largest answer the client takes (its EDNS size over UDP): the bound for forwarded answers. */
  readonly clientMax: number;
}

// dns-packet sizes a message (a second walk over every name) before encoding it into a new
// buffer, unless given one: encoding into a scratch buffer and copying out is ~2x faster. Only
// used when an upper bound of the size fits, since dns-packet does not check for room.
const SCRATCH = Buffer.allocUnsafe(16384);

function sizeBound(name: string, answers: readonly Answer[]): number {
  const nameMax = name.length * 3 + 2;
  let n = 12 + nameMax + 4 + 11;
  for (const a of answers) {
    const d = (a as { data?: unknown }).data;
    n += a.name.length * 3 + 2 + 10 + (typeof d === 'string' ? (a.type === 'A' ? 4 : a.type === 'AAAA' ? 16 : d.length * 3 + 2) : 65536);
  }
  return n;
}

function encodePacket(packet: Packet, name: string, answers: readonly Answer[]): Buffer {
  if (sizeBound(name, answers) > SCRATCH.length) return encode(packet);
  encode(packet, SCRATCH, 0);
  return Buffer.from(SCRATCH.subarray(0, encode.bytes));
}

function build(ctx: Ctx, rcode: number, answers: Answer[] = [], aa = false): Buffer {
  const packet: Packet = {
    type: 'response',
    id: ctx.id,
    flags: ctx.flags | (aa ? AUTHORITATIVE_ANSWER : 0) | (rcode & 0x0f),
    questions: ctx.question ? [ctx.question] : [],
    answers,
    additionals: ctx.edns ? [rcode === RCODE.BADVERS ? OPT_BADVERS : OPT_OK] : [],
  };
  const qname = ctx.question?.name ?? '';
  let buf = encodePacket(packet, qname, answers);
  if (buf.length > ctx.maxSize && answers.length > 0) {
    // keep the records that fit and set TC: the client asks again over TCP
    packet.flags = (packet.flags ?? 0) | TRUNCATED_RESPONSE;
    let keep = Math.max(0, Math.floor((answers.length * (ctx.maxSize - 12)) / buf.length));
    do {
      packet.answers = answers.slice(0, keep);
      buf = encodePacket(packet, qname, packet.answers);
      keep--;
    } while (buf.length > ctx.maxSize && keep >= 0);
  }
  return buf;
}

/** FORMERR for a message whose header is readable but whose body is not. */
function formErrFromHeader(raw: Buffer): Buffer {
  const flags = ((((raw[2] ?? 0) << 8) | (raw[3] ?? 0)) & (OPCODE_MASK | RD | CD)) | RECURSION_AVAILABLE;
  return encode({ type: 'response', id: raw.readUInt16BE(0), flags: flags | RCODE.FORMERR });
}

function rotate(list: readonly string[], start: number): readonly string[] {
  const n = list.length;
  if (n < 2) return list;
  const k = start % n;
  if (k === 0) return list;
  return [...list.slice(k), ...list.slice(0, k)];
}

function addressAnswers(q: Question, addrs: DnsAddresses, ttl: number): Answer[] {
  const answers: Answer[] = [];
  const start = rotation++;
  if (rotation > 0x3fffffff) rotation = 0;
  const wantA = q.type === 'A' || (q.type as string) === 'ANY';
  const wantAAAA = q.type === 'AAAA' || (q.type as string) === 'ANY';
  if (wantA) for (const ip of rotate(addrs.v4, start)) answers.push({ type: 'A', name: q.name, ttl, class: 'IN', data: ip });
  if (wantAAAA) for (const ip of rotate(addrs.v6, start)) answers.push({ type: 'AAAA', name: q.name, ttl, class: 'IN', data: ip });
  return answers;
}

/** Lower case, no trailing dot: the form DnsView.lookupName receives. */
export function normalizeName(name: string): string {
  const n = name.endsWith('.') && name.length > 1 ? name.slice(0, -1) : name;
  return n.toLowerCase();
}

/**
 * Answer one query. `query` is the message as received (or already decoded); `client.ip` its
 * source address. Resolves with the encoded answer, or null when the message deserves none
 * (shorter than a DNS header, or itself a response).
 */
export async function answer(query: Buffer | Packet, client: { ip: string }, view: DnsView, opts: AnswerOptions = {}): Promise<Buffer | null> {
  return respond(query, clientIp(client.ip), view, opts);
}

/**
 * answer() without the promise when the answer is local (the server's hot path): returns the
 * answer, null, or a promise when the query is forwarded. ip must be canonical (clientIp()).
 */
export function respond(query: Buffer | Packet, ip: string, view: DnsView, opts: AnswerOptions = {}): Buffer | null | Promise<Buffer | null> {
  const observe = opts.observe;
  let raw: Buffer | undefined;
  let msg: Packet;
  if (Buffer.isBuffer(query)) {
    raw = query;
    if (raw.length < 12 || ((raw[2] ?? 0) & QR_BYTE) !== 0) {
      observe?.('ignored');
      return null;
    }
    try {
      msg = decode(raw);
    } catch {
      observe?.('formerr');
      return formErrFromHeader(raw);
    }
  } else {
    msg = query;
    if (msg.type === 'response') {
      observe?.('ignored');
      return null;
    }
  }

  const qflags = msg.flags ?? 0;
  const questions = msg.questions ?? [];
  let opt: OptAnswer | undefined;
  let optCount = 0;
  for (const a of msg.additionals ?? []) {
    if (a.type === 'OPT') {
      opt = a;
      optCount++;
    }
  }
  const tcp = opts.transport === 'tcp';
  const clientMax = tcp ? 65535 : opt ? Math.max(CLASSIC_UDP_SIZE, opt.udpPayloadSize || 0) : CLASSIC_UDP_SIZE;
  const ctx: Ctx = {
    id: msg.id ?? 0,
    flags: (qflags & (OPCODE_MASK | RD | CD)) | RECURSION_AVAILABLE,
    question: questions.length === 1 ? questions[0] : undefined,
    edns: opt !== undefined,
    maxSize: tcp ? clientMax : Math.min(clientMax, EDNS_UDP_SIZE),
    clientMax,
  };

  if (optCount > 1 || questions.length !== 1) {
    observe?.('formerr');
    return build(ctx, RCODE.FORMERR);
  }
  if ((qflags & OPCODE_MASK) !== 0) {
    observe?.('notimp');
    return build(ctx, RCODE.NOTIMP);
  }
  if (opt && opt.ednsVersion !== 0) {
    observe?.('formerr');
    return build(ctx, RCODE.BADVERS);
  }
  try {
    return local(ctx, raw ?? msg, ip, view, opts);
  } catch (err) {
    opts.onError?.(err);
    observe?.('servfail');
    return build(ctx, RCODE.SERVFAIL);
  }
}

function local(ctx: Ctx, query: Buffer | Packet, ip: string, view: DnsView, opts: AnswerOptions): Buffer | Promise<Buffer> {
  const observe = opts.observe;
  const client = view.lookupClient(ip);
  if (!client) {
    observe?.('refused');
    return build(ctx, RCODE.REFUSED);
  }

  const q = ctx.question as Question;
  const ttl = opts.ttl ?? DNS_TTL;
  const cls = (q.class ?? 'IN') as string;
  if (cls === 'IN' || cls === 'ANY') {
    const name = normalizeName(q.name);
    if (q.type === 'PTR') {
      const target = view.lookupAddress ? reverseNameToIp(name) : undefined;
      const names = target !== undefined ? view.lookupAddress?.(target, client.networkIds) : undefined;
      if (names && names.length > 0) {
        observe?.('answered');
        return build(
          ctx,
          RCODE.NOERROR,
          names.map((n) => ({ type: 'PTR', name: q.name, ttl, class: 'IN', data: n })),
          true,
        );
      }
    } else {
      const addrs = view.lookupName(name, client.networkIds);
      if (addrs) {
        const answers = addressAnswers(q, addrs, ttl);
        observe?.(answers.length > 0 ? 'answered' : 'nodata');
        return build(ctx, RCODE.NOERROR, answers, true);
      }
    }
  }
  return notOurs(ctx, Buffer.isBuffer(query) ? query : encode(query), client, opts);
}

function notOurs(ctx: Ctx, raw: Buffer, client: DnsClientInfo, opts: AnswerOptions): Buffer | Promise<Buffer> {
  const observe = opts.observe;
  if (client.internalOnly) {
    observe?.('nxdomain');
    return build(ctx, RCODE.NXDOMAIN, [], true);
  }
  if (client.upstreams.length === 0) {
    observe?.('servfail');
    return build(ctx, RCODE.SERVFAIL);
  }
  const forwarder = opts.forwarder ?? defaultForwarder();
  return forwarder.forward(raw, client.upstreams, { tcpOnTruncation: opts.transport === 'tcp', timeoutMs: opts.timeoutMs }).then(
    (resp) => {
      resp[3] = (resp[3] ?? 0) | RECURSION_AVAILABLE;
      observe?.('forwarded');
      // an upstream that ignored the size the client takes: say so rather than send it whole
      return resp.length > ctx.clientMax ? truncated(resp, ctx) : resp;
    },
    (err: unknown) => {
      if (!(err instanceof ForwardError)) opts.onError?.(err);
      observe?.('servfail');
      return build(ctx, RCODE.SERVFAIL);
    },
  );
}

/** An upstream answer too large for the client's transport: its header and question, TC set. */
function truncated(resp: Buffer, ctx: Ctx): Buffer {
  let rcode = 0;
  let aa = false;
  try {
    const d: DecodedPacket = decode(resp);
    rcode = (d.flags ?? 0) & 0x0f;
    aa = d.flag_aa;
  } catch {
    rcode = RCODE.SERVFAIL;
  }
  const buf = build(ctx, rcode, [], aa);
  buf[2] = (buf[2] ?? 0) | (TRUNCATED_RESPONSE >> 8);
  return buf;
}
