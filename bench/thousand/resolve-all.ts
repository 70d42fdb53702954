// The program bench/thousand runs inside one container (node --input-type=module -e RESOLVE_ALL
// NAME...): resolves every name, one after the other, against the container's own nameserver
// (its /etc/resolv.conf: berth's embedded DNS on a user-defined network) and prints JSON:
// {names, resolved, server, totalMs, p50Ms, p99Ms, firstFailure?}.
export const RESOLVE_ALL = `
import { readFileSync } from 'node:fs';
import { Resolver } from 'node:dns/promises';
const server = /^nameserver\\s+(\\S+)/m.exec(readFileSync('/etc/resolv.conf', 'utf8'))?.[1];
const r = new Resolver({ timeout: 2000, tries: 2 });
r.setServers([server]);
const names = process.argv.slice(1);
const ms = [];
let resolved = 0;
let firstFailure;
const t0 = performance.now();
for (const n of names) {
  const t = performance.now();
  try {
    if ((await r.resolve4(n)).length) resolved++;
  } catch (e) {
    firstFailure ??= n + ': ' + e.code;
  }
  ms.push(performance.now() - t);
}
const totalMs = performance.now() - t0;
ms.sort((a, b) => a - b);
const at = (p) => ms[Math.min(ms.length - 1, Math.ceil(p * ms.length) - 1)];
console.log(JSON.stringify({ names: names.length, resolved, server, totalMs, p50Ms: at(0.5), p99Ms: at(0.99), firstFailure }));
`;
