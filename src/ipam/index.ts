// IPAM: pure address logic, no I/O. Import from here.
export * from './address.js';
export * from './subnet.js';
export * from './allocate.js';
export * from './pools.js';
