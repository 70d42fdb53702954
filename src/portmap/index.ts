// Port publishing: pure parsing, expansion and host port picking, no I/O. Import from here.
export * from './spec.js';
export * from './allocate.js';
