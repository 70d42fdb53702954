// Docker's remote IpamDriver calls (libnetwork ipams/remote) onto berth's IPAM: pools are berth
// subnets, addresses are reserved in berth's store. Errors become {"Error": …} in server.ts.
import type { Engine } from '../engine/context.js';
import { BERTH_ADDRESS_SPACES, releaseDockerAddress, releaseDockerPool, requestDockerAddress, requestDockerPool } from '../engine/docker-networks.js';
import type { Handler } from './network-driver.js';
import { decode, PoolIdBody, ReleaseAddressBody, RequestAddressBody, RequestPoolBody } from './schemas.js';

const GATEWAY_REQUEST = 'com.docker.network.gateway';

export const ipamDriverCalls: Record<string, Handler> = {
  'IpamDriver.GetCapabilities': async () => ({ RequiresMACAddress: false, RequiresRequestReplay: false }),
  'IpamDriver.GetDefaultAddressSpaces': async () => ({ LocalDefaultAddressSpace: BERTH_ADDRESS_SPACES.local, GlobalDefaultAddressSpace: BERTH_ADDRESS_SPACES.global }),
  'IpamDriver.RequestPool': async (engine: Engine, body) => {
    const b = decode(RequestPoolBody, body);
    const { poolId, pool } = await requestDockerPool(engine, { pool: b.Pool, subPool: b.SubPool, v6: b.V6, options: b.Options });
    return { PoolID: poolId, Pool: pool, Data: {} };
  },
  // the network holds its subnet: only a pool's --ip-range note goes
  'IpamDriver.ReleasePool': async (engine, body) => {
    releaseDockerPool(engine, decode(PoolIdBody, body).PoolID);
    return {};
  },
  'IpamDriver.RequestAddress': async (engine, body) => {
    const b = decode(RequestAddressBody, body);
    const gateway = b.Options.RequestAddressType === GATEWAY_REQUEST;
    return { Address: await requestDockerAddress(engine, b.PoolID, b.Address, gateway), Data: {} };
  },
  'IpamDriver.ReleaseAddress': async (engine, body) => {
    const b = decode(ReleaseAddressBody, body);
    await releaseDockerAddress(engine, b.PoolID, b.Address);
    return {};
  },
};
