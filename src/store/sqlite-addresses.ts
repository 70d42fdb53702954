// Address allocations in berth.db: one row per address a network's subnet hands out, the
// gateway and aux addresses included, each with its owner (an endpoint id, 'gateway', 'aux:NAME').
import { NotFoundError, UserError } from '../common/errors.js';
import { allocateAddress, parseAddress, parseCidr, validateSubnetConfig, type SubnetConfig } from '../ipam/index.js';
import { checkOwner } from './records.js';
import type { SqliteDb } from './sqlite-db.js';
import type { SqliteNetworks } from './sqlite-networks.js';

export class SqliteAddresses {
  constructor(
    private readonly db: SqliteDb,
    private readonly networks: SqliteNetworks,
  ) {}

  allocate(networkId: string, subnetCidr: string, owner: string, request: { static?: string } = {}): string {
    checkOwner(owner);
    const cidr = parseCidr(subnetCidr, 'subnet');
    return this.db.transaction(() => {
      const network = this.networks.row('id', networkId);
      if (!network) throw new NotFoundError(`network ${networkId} not found`);
      const subnets = JSON.parse(network.subnets) as SubnetConfig[];
      const config = subnets.find((s) => s.subnet === cidr.text);
      if (!config) {
        const known = subnets.map((s) => s.subnet).join(', ') || 'none';
        throw new UserError(`network ${network.name} has no subnet ${cidr.text}; its subnets: ${known}`);
      }
      const used = this.db
        .prepare<[string, string], { address: string }>('SELECT address FROM allocations WHERE network_id = ? AND subnet = ?')
        .all(networkId, cidr.text)
        .map((r) => r.address);
      const address = allocateAddress(validateSubnetConfig(config), used, request.static);
      this.db
        .prepare('INSERT INTO allocations (network_id, subnet, address, owner) VALUES (?, ?, ?, ?)')
        .run(networkId, cidr.text, address.text, owner);
      return address.text;
    });
  }

  release(networkId: string, address: string): boolean {
    const canonical = parseAddress(address).text;
    return this.db.transaction(
      () => this.db.prepare('DELETE FROM allocations WHERE network_id = ? AND address = ?').run(networkId, canonical).changes > 0,
    );
  }

  releaseOwner(owner: string): number {
    return this.db.transaction(() => this.db.prepare('DELETE FROM allocations WHERE owner = ?').run(owner).changes);
  }

  list(networkId: string): { subnet: string; address: string; owner: string }[] {
    return this.db
      .prepare<[string], { subnet: string; address: string; owner: string }>(
        'SELECT subnet, address, owner FROM allocations WHERE network_id = ? ORDER BY subnet, address',
      )
      .all(networkId);
  }
}
