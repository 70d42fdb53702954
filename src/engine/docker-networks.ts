// Docker's networks on berth (issue 14): dockerd's remote NetworkDriver and IpamDriver calls for
// networks and address pools, as berth use cases. A Docker network is a real berth network
// (created here, labelled with Docker's id) or an existing one it joins (-o berth.network=NAME,
// remembered in a file: berth's record is not Docker's to relabel).
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConflictError, NotFoundError, UserError } from '../common/errors.js';
import { cidrCovers, DEFAULT_POOLS, firstHostAddress, parseAddress, parseCidr, pickFreeSubnet, pickUlaSubnet } from '../ipam/index.js';
import type { NetworkRecord } from '../store/store.js';
import type { Engine } from './context.js';
import { createNetwork, getNetwork, hostSubnets, networkSubnets, removeNetwork } from './networks.js';
import { driverOf, isClusterNetwork } from '../drivers/registry.js';
import { randomBytes } from 'node:crypto';
import { requireCluster } from './overlay.js';

/** The label a berth network created for Docker carries: Docker's network id. */
export const DOCKER_NETWORK_LABEL = 'berth.docker.network-id';
/** Who holds an address the IPAM handed to Docker before its endpoint exists (Join takes it over): docker-ipam:<random>. */
export const DOCKER_IPAM_OWNER = 'docker-ipam';
export const isDockerIpamOwner = (owner: string): boolean => owner === DOCKER_IPAM_OWNER || owner.startsWith(`${DOCKER_IPAM_OWNER}:`);
const newIpamOwner = () => `${DOCKER_IPAM_OWNER}:${randomBytes(8).toString('hex')}`;

const DOCKER_ID = /^[0-9a-f]{64}$/;

export function checkDockerId(id: string, what: string): string {
  if (!DOCKER_ID.test(id)) throw new UserError(`${what} "${id}" is not a Docker id (64 lowercase hex digits)`);
  return id;
}

export interface DockerSubnet {
  pool: string;
  /** with its prefix, as Docker sends it (10.0.0.1/24) */
  gateway?: string;
  aux: Record<string, string>;
  /** the IPAM driver's address space ('' when Docker sent none): tells berth's IPAM from Docker's */
  addressSpace?: string;
}

export interface DockerNetworkRequest {
  dockerId: string;
  /** `-o` options: berth.driver, berth.network, berth.name, the rest the driver's own */
  options: Record<string, string>;
  v4: DockerSubnet[];
  v6: DockerSubnet[];
  ipv6: boolean;
  internal: boolean;
}

/** Keys of `-o` the plugin reads itself; every other key goes to the berth driver, which refuses those it does not know. */
export const PLUGIN_OPTIONS = { driver: 'berth.driver', network: 'berth.network', name: 'berth.name' } as const;
const DRIVERS = ['bridge', 'macvlan', 'overlay'];
/** The address spaces berth's IPAM driver answers (ipam-driver.ts): Docker names one in each pool. */
export const BERTH_ADDRESS_SPACES = { local: 'berth-local', global: 'berth-global' } as const;
const isBerthSpace = (s: string | undefined) => s === BERTH_ADDRESS_SPACES.local || s === BERTH_ADDRESS_SPACES.global;

function joinedDir(engine: Engine): string {
  return join(engine.paths.root, 'docker-plugin', 'joined');
}

/** Docker networks that joined an existing berth network: Docker id -> berth network id. */
function joinedNetworks(engine: Engine): Map<string, string> {
  const out = new Map<string, string>();
  let names: string[] = [];
  try {
    names = readdirSync(joinedDir(engine));
  } catch {
    return out;
  }
  for (const name of names) if (DOCKER_ID.test(name)) out.set(name, readFileSync(join(joinedDir(engine), name), 'utf8').trim());
  return out;
}

/** The berth network behind a Docker network id, if any. */
export function findDockerNetwork(engine: Engine, dockerId: string): NetworkRecord | undefined {
  const own = engine.store.listNetworks().find((n) => n.labels[DOCKER_NETWORK_LABEL] === dockerId);
  if (own) return own;
  const joined = joinedNetworks(engine).get(dockerId);
  return joined ? engine.store.findNetwork(joined) : undefined;
}

export function getDockerNetwork(engine: Engine, dockerId: string): NetworkRecord {
  const net = findDockerNetwork(engine, dockerId);
  if (!net) throw new NotFoundError(`Docker network ${dockerId.slice(0, 12)} is not a berth network (created before berth's plugin served it, or removed from berth)`);
  return net;
}

const cidrOf = (s: DockerSubnet) => parseCidr(s.pool, 'Docker pool');
const gatewayIp = (s: DockerSubnet) => (s.gateway ? parseAddress(s.gateway.split('/')[0] ?? '', 'Docker gateway').text : undefined);

/** Docker's pools must be the joined network's subnets: Docker hands out the addresses from them. */
function checkJoin(net: NetworkRecord, req: DockerNetworkRequest, what = `-o ${PLUGIN_OPTIONS.network}=${net.name}`): void {
  const want = net.subnets.map((s) => s.subnet).sort();
  const given = [...req.v4, ...req.v6].map((s) => cidrOf(s).text).sort();
  if (want.join(',') !== given.join(',')) {
    throw new UserError(
      `${what}: the berth network has subnet(s) ${want.join(', ')}, Docker asked for ${given.join(', ') || 'none'}: ` +
        `give docker network create --subnet ${want.join(' --subnet ')}`,
    );
  }
}

/** An overlay of the cluster called name (made through another host's dockerd, or with berth). */
function clusterOverlayNamed(engine: Engine, name: string): NetworkRecord | undefined {
  const net = engine.store.listNetworks().find((n) => n.name === name);
  return net && isClusterNetwork(net) ? net : undefined;
}

/** A driver option given when joining must be the overlay's own (-o encrypted on one host only would split it). */
function checkSameOptions(net: NetworkRecord, given: Record<string, string>, name: string): void {
  if (!Object.keys(given).length) return;
  const canonical = driverOf(net.driver).canonicalOptions(given);
  for (const [k, v] of Object.entries(canonical)) {
    if (net.options[k] !== v) throw new UserError(`-o ${k}: the cluster's overlay "${name}" has ${k in net.options ? `${k}=${net.options[k] ?? ''}` : `no ${k}`}; leave -o ${k} out to join it as it is`);
  }
}

function overlayWithSubnets(engine: Engine, subnets: readonly DockerSubnet[]): NetworkRecord | undefined {
  const given = subnets.map((s) => cidrOf(s).text).sort().join(',');
  return engine.store.listNetworks().find((n) => isClusterNetwork(n) && n.subnets.map((s) => s.subnet).sort().join(',') === given);
}

function rememberJoin(engine: Engine, dockerId: string, net: NetworkRecord): NetworkRecord {
  mkdirSync(joinedDir(engine), { recursive: true, mode: 0o700 });
  writeFileSync(join(joinedDir(engine), dockerId), `${net.id}\n`, { mode: 0o600 });
  return net;
}

/** The berth driver asked for, and for an overlay berth's IPAM (checked before the store is read). */
function checkDriverRequest(driverName: string, subnets: readonly DockerSubnet[]): void {
  if (!DRIVERS.includes(driverName)) throw new UserError(`invalid -o ${PLUGIN_OPTIONS.driver}=${driverName}: expected ${DRIVERS.join(', ')}`);
  // each dockerd's own IPAM would hand the same overlay address to containers on two hosts
  if (driverName === 'overlay' && !subnets.every((s) => isBerthSpace(s.addressSpace))) {
    throw new UserError(`-o ${PLUGIN_OPTIONS.driver}=overlay needs berth's IPAM, which allocates in the cluster: add --ipam-driver with the same plugin name as -d`);
  }
}

/** NetworkDriver.CreateNetwork: a new berth network, or Docker's name for an existing one. Bad input changes nothing. */
export async function createDockerNetwork(engine: Engine, req: DockerNetworkRequest): Promise<NetworkRecord> {
  checkDockerId(req.dockerId, 'NetworkID');
  const { [PLUGIN_OPTIONS.driver]: driver, [PLUGIN_OPTIONS.network]: joinName, [PLUGIN_OPTIONS.name]: name, ...driverOptions } = req.options;
  const driverName = driver ?? 'bridge';
  const subnets = [...req.v4, ...(req.ipv6 ? req.v6 : [])];
  if (joinName === undefined) checkDriverRequest(driverName, subnets);
  const existing = findDockerNetwork(engine, req.dockerId);
  if (existing) return existing; // a replayed call
  if (joinName !== undefined) {
    const other = Object.keys(req.options).filter((k) => k !== PLUGIN_OPTIONS.network);
    if (other.length) throw new UserError(`-o ${PLUGIN_OPTIONS.network}=${joinName} joins an existing berth network: it takes no other -o option (got ${other.join(', ')})`);
    const net = getNetwork(engine, joinName);
    checkJoin(net, req);
    return rememberJoin(engine, req.dockerId, net);
  }
  // another host's dockerd made this overlay in the cluster: this one joins it under the same name
  const shared = name !== undefined && driverName === 'overlay' ? clusterOverlayNamed(engine, name) : undefined;
  if (shared) {
    checkJoin(shared, req, `-o ${PLUGIN_OPTIONS.name}=${name} names the cluster's overlay`);
    checkSameOptions(shared, driverOptions, name ?? '');
    return rememberJoin(engine, req.dockerId, shared);
  }
  const made = createNetwork(engine, {
    name: name ?? `docker-${req.dockerId.slice(0, 12)}`,
    driver: driverName,
    subnets: subnets.map((s) => cidrOf(s).text),
    gateways: subnets.map(gatewayIp).filter((g): g is string => g !== undefined),
    ipRanges: subnets.flatMap((s) => {
      const range = isBerthSpace(s.addressSpace) ? noteRangeOf(engine, cidrOf(s).text) : undefined;
      return range ? [range] : [];
    }),
    auxAddresses: Object.fromEntries(subnets.flatMap((s) => Object.entries(s.aux))),
    ipv6: req.ipv6,
    internal: req.internal,
    attachable: true,
    options: driverOptions,
    labels: { [DOCKER_NETWORK_LABEL]: req.dockerId },
  });
  // the same subnet as a cluster overlay: most likely another host's, to be joined by its name
  return made.catch((err: unknown) => {
    const twin = driverName === 'overlay' && err instanceof ConflictError ? overlayWithSubnets(engine, subnets) : undefined;
    throw twin ? new ConflictError(`${err instanceof Error ? err.message : String(err)}; to join the cluster's overlay "${twin.name}" that has this subnet, add -o ${PLUGIN_OPTIONS.name}=${twin.name}`) : err;
  });
}

/** NetworkDriver.DeleteNetwork: remove the berth network made for it (a joined one stays). Gone already: success. */
export async function deleteDockerNetwork(engine: Engine, dockerId: string): Promise<void> {
  checkDockerId(dockerId, 'NetworkID');
  const joinedFile = join(joinedDir(engine), dockerId);
  if (joinedNetworks(engine).has(dockerId)) {
    rmSync(joinedFile, { force: true });
    return;
  }
  const net = findDockerNetwork(engine, dockerId);
  if (net) await removeNetwork(engine, net.id);
}

// ---- IpamDriver: pools are subnets; the PoolID is the pool's text; only a pool's --ip-range is
// held between RequestPool and CreateNetwork, in a file

function rangesDir(engine: Engine): string {
  return join(engine.paths.run, 'docker-plugin', 'ip-ranges');
}
const rangeFile = (engine: Engine, pool: string) => join(rangesDir(engine), pool.replace('/', '_'));

/** The --ip-range RequestPool noted for a pool of berth's IPAM, if any. */
function noteRangeOf(engine: Engine, pool: string): string | undefined {
  try {
    return parseCidr(readFileSync(rangeFile(engine, pool), 'utf8').trim(), 'ip-range').text;
  } catch {
    return undefined;
  }
}

/** IpamDriver.ReleasePool: the pool's --ip-range note goes (the network held its subnet). */
export function releaseDockerPool(engine: Engine, poolId: string): void {
  rmSync(rangeFile(engine, parseCidr(poolId, 'PoolID').text), { force: true });
}

export interface PoolRequest {
  pool: string;
  subPool: string;
  v6: boolean;
  options: Record<string, string>;
}

/** IpamDriver.RequestPool: the asked-for subnet, a joined network's, or a free one (as berth picks). */
export async function requestDockerPool(engine: Engine, req: PoolRequest): Promise<{ poolId: string; pool: string }> {
  if (req.subPool && !req.pool) throw new UserError('SubPool (--ip-range) needs Pool (--subnet)');
  if (req.subPool) {
    const pool = parseCidr(req.pool, 'Pool (--subnet)');
    const range = parseCidr(req.subPool, 'SubPool (--ip-range)');
    if ((pool.family === 6) !== req.v6) throw new UserError(`Pool "${req.pool}" is not an IPv${req.v6 ? 6 : 4} subnet`);
    if (!cidrCovers(pool, range)) throw new UserError(`SubPool (--ip-range) "${req.subPool}" is not inside Pool (--subnet) ${pool.text}`);
    // CreateNetwork gets the pool, not its range: noted here for it (ReleasePool drops the note)
    mkdirSync(rangesDir(engine), { recursive: true, mode: 0o700 });
    writeFileSync(rangeFile(engine, pool.text), `${range.text}\n`, { mode: 0o600 });
    return { poolId: pool.text, pool: pool.text };
  }
  const joinName = req.options[PLUGIN_OPTIONS.network];
  let pool: string;
  if (req.pool) {
    const cidr = parseCidr(req.pool, 'Pool (--subnet)');
    if ((cidr.family === 6) !== req.v6) throw new UserError(`Pool "${req.pool}" is not an IPv${req.v6 ? 6 : 4} subnet`);
    pool = cidr.text;
    rmSync(rangeFile(engine, pool), { force: true }); // a note a crash left behind
  } else if (joinName !== undefined) {
    // dockerd checks a pool it did not ask for against the host's routes, and asks again while it
    // overlaps one: a berth network's subnet is routed on this host, so it would ask forever
    const net = getNetwork(engine, joinName);
    const own = net.subnets.find((s) => s.subnet.includes(':') === req.v6);
    throw new UserError(`--ipam-opt ${PLUGIN_OPTIONS.network}=${joinName}: give the network's subnet too (--subnet ${own?.subnet ?? net.subnets.map((s) => s.subnet).join(' --subnet ')})`);
  } else {
    const taken = [...(await hostSubnets(engine)), ...networkSubnets(engine)];
    pool = (req.v6 ? pickUlaSubnet(taken) : pickFreeSubnet(DEFAULT_POOLS, taken)).text;
  }
  return { poolId: pool, pool };
}

/** The berth network whose subnet is the pool (none before CreateNetwork: gateway and aux requests). */
function networkOfPool(engine: Engine, pool: string): NetworkRecord | undefined {
  return engine.store.listNetworks().find((n) => n.subnets.some((s) => s.subnet === pool));
}

/**
 * IpamDriver.RequestAddress. Before CreateNetwork (the gateway, aux addresses) the network
 * records them itself: the address is only checked and echoed. After it, an endpoint's address
 * is reserved in berth's store until CreateEndpoint takes it over (or ReleaseAddress frees it).
 */
export async function requestDockerAddress(engine: Engine, poolId: string, address: string, gateway: boolean): Promise<string> {
  const pool = parseCidr(poolId, 'PoolID');
  const wanted = address ? parseAddress(address, 'Address') : undefined;
  if (wanted && wanted.family !== pool.family) throw new UserError(`Address "${address}" is not in pool ${pool.text}`);
  const net = networkOfPool(engine, pool.text);
  if (!net || gateway) {
    const ip = wanted ?? firstHostAddress(pool);
    if (ip.value < pool.first || ip.value > pool.last) throw new UserError(`Address "${address}" is not in pool ${pool.text}`);
    return `${ip.text}/${pool.prefix}`;
  }
  // an overlay's addresses are the cluster's: unique across the hosts' dockerds
  const ip = isClusterNetwork(net)
    ? await requireCluster(engine).store().allocateAddress(net.id, newIpamOwner(), { subnet: pool.text, ...(wanted ? { address: wanted.text } : {}) })
    : engine.store.allocateAddress(net.id, pool.text, newIpamOwner(), wanted ? { static: wanted.text } : {});
  return `${ip}/${pool.prefix}`;
}

/** IpamDriver.ReleaseAddress: frees an address still held for Docker (an endpoint's goes with the endpoint). */
export async function releaseDockerAddress(engine: Engine, poolId: string, address: string): Promise<void> {
  const pool = parseCidr(poolId, 'PoolID');
  const ip = parseAddress(address.split('/')[0] ?? '', 'Address').text;
  const net = networkOfPool(engine, pool.text);
  if (net) await releaseIpamHolds(engine, net, [ip]);
}

/** Free addresses still held for Docker by the IPAM (not an endpoint's). */
export async function releaseIpamHolds(engine: Engine, net: NetworkRecord, ips: readonly string[]): Promise<void> {
  if (isClusterNetwork(net)) {
    const cs = requireCluster(engine).store();
    for (const a of await cs.listAllocations(net.id)) if (ips.includes(a.address) && isDockerIpamOwner(a.owner)) await cs.releaseAddress(net.id, a.address, a.owner);
    return;
  }
  // with Docker's own IPAM berth holds nothing: no transaction to open (a Join's common case)
  const held = (): string[] => engine.store.listAllocations(net.id).filter((a) => ips.includes(a.address) && isDockerIpamOwner(a.owner)).map((a) => a.address);
  if (!held().length) return;
  engine.store.transaction(() => {
    for (const address of held()) engine.store.releaseAddress(net.id, address);
  });
}
