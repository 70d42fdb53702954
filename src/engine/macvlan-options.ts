// `network create -d macvlan -o` options: the macvlan driver's (drivers/macvlan/options.ts).
export { canonicalMacvlanOptions, macvlanOptions, type MacvlanOptions } from '../drivers/macvlan/options.js';
