// The embedded DNS: resolver (pure logic over a DnsView), forwarder, servers, and DnsTable, an
// in-memory DnsView the daemon can feed from its store.
export { canonicalIp, clientIp, ipToReverseName, parseUpstream, reverseNameToIp, type Upstream } from './addr.js';
export {
  DEFAULT_FORWARD_TIMEOUT_MS,
  ForwardError,
  Forwarder,
  defaultForwarder,
  forward,
  type DnsForwarder,
  type ForwardOptions,
  type ForwarderOptions,
} from './forward.js';
export {
  CLASSIC_UDP_SIZE,
  DNS_TTL,
  EDNS_UDP_SIZE,
  RCODE,
  answer,
  normalizeName,
  respond,
  type AnswerOptions,
  type DnsOutcome,
} from './resolver.js';
export {
  DnsServers,
  startDnsServer,
  type DnsServer,
  type DnsServerOptions,
  type DnsServerStats,
  type DnsServersOptions,
  type DnsSyncResult,
} from './server.js';
export type { SocketWrapper } from './sockets.js';
export { DnsTable, type DnsContainerRecord, type DnsEndpointRecord, type DnsNetworkRecord } from './table.js';
export type { DnsAddresses, DnsClientInfo, DnsView } from './view.js';
