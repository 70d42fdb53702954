// The lab test harness: multi-host network labs in namespaces, for berth's integration tests
// (DESIGN.md, Testing). Everything lives in namespaces named bt<tag>-<name> and in
// $TMPDIR/berth-lab-<tag>/, and Lab.close() removes all of it. Example:
//
//   import { withLab, routes } from '../lab/index.js';
//   await withLab(async (lab) => {
//     const sw = await lab.createSwitch('under');
//     const [a, b] = [await lab.createHost('a'), await lab.createHost('b')];
//     const net = await lab.createExternal('net');
//     await sw.plug(a, { ifname: 'eth0', address: '10.99.0.1/24', gateway: '10.99.0.254' });
//     await sw.plug(b, { ifname: 'eth0', address: '10.99.0.2/24', gateway: '10.99.0.254' });
//     await sw.plug(net, { ifname: 'eth0', address: '10.99.0.254/24' });
//     await a.berthOk(['network', 'create', '--subnet', '10.20.0.0/24', 'n1']);
//     assert.ok((await routes(a)).some((r) => r.dst === '10.20.0.0/24'));
//     assert.equal(await a.ping(b.ipv4()), true);
//   });
//
// More in test/integration/lab.test.ts.
export {
  type ExecOptions,
  type ExecResult,
  type NsRef,
  DEFAULT_TIMEOUT_MS,
  ExecError,
  formatArgv,
  netnsPathOf,
  run,
  runIn,
  runOk,
} from './exec.js';
export {
  type EtcdClusterOptions,
  type EtcdMember,
  ETCDCTL_BIN,
  ETCD_BIN,
  ETCD_CLIENT_PORT,
  ETCD_PEER_PORT,
  EtcdCluster,
  startEtcdCluster,
} from './etcd.js';
export {
  type LabOptions,
  type NodeKind,
  type Plug,
  type PlugOptions,
  type SpawnOptions,
  type WaitForOutputOptions,
  BackgroundProcess,
  External,
  Host,
  Lab,
  LabNode,
  Switch,
  createExternal,
  createHost,
  createSwitch,
  withLab,
} from './lab.js';
export { BERTH_BIN, BERTH_CLIENT, VIA_CLIENT, VIA_DAEMON, LAB_ENV_MARKER, LAB_NETNS_RE, REPO_ROOT, SUITE_PREFIX, labDir, ownerState } from './names.js';
export {
  type Family,
  type FdbEntry,
  type IpAddrInfo,
  type IpAddrLink,
  type IpLink,
  type IpNeigh,
  type IpRoute,
  type NftObject,
  type NftRuleset,
  type PingOptions,
  addressesOf,
  addrs,
  fdb,
  link,
  links,
  neighs,
  nftRuleset,
  nftTables,
  ping,
  routes,
  sysctl,
  writeSysctl,
} from './query.js';
export { type DiffOptions, type RootSnapshot, diffSnapshots, loadSnapshot, saveSnapshot, snapshotRootNamespace } from './snapshot.js';
export { type LeftoverCheck, type SweepOptions, type SweepReport, checkLeftovers, sweepLabs } from './sweep.js';
