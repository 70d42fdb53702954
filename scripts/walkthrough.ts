// berth's guided walkthrough: in a throwaway lab namespace (a stand-in "host"), build what a
// bridge network is made of with berth's kernel layer, show it, prove it carries packets, and
// remove it all. Nothing happens in the machine's own network namespace.
import { addAddress } from '../src/kernel/addresses.js';
import { createBridge, createVeth, getLink, setLinkUp, setMaster } from '../src/kernel/links.js';
import { createNetns, openNetns } from '../src/kernel/netns.js';
import { add, chain, counter, ip, masquerade, match, notMatch, rule, table, PRIORITY, cidr, accept, meta } from '../src/kernel/nft/model.js';
import { applyNft } from '../src/kernel/nft/apply.js';
import { addRoute } from '../src/kernel/routes.js';
import { withRtnl } from '../src/kernel/rtnl.js';
import { writeSysctl, sysctls } from '../src/kernel/sysctl.js';
import { Lab, addressesOf, links, nftRuleset, ping, routes } from '../test/lab/index.js';

const bold = (s: string) => (process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s);
const step = (n: number, text: string) => console.log(`\n${bold(`${n}. ${text}`)}`);
const show = (label: string, value: unknown) => console.log(`   ${label}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);

const lab = await Lab.create({ label: 'walkthrough' });
try {
  step(1, 'A throwaway lab: one "host" namespace and one "external" peer on a lab switch');
  const host = await lab.createHost('host');
  const external = await lab.createExternal('world');
  const sw = await lab.createSwitch('lan');
  await sw.plug(host, { ifname: 'eth0', address: '192.0.2.10/24' });
  await sw.plug(external, { ifname: 'eth0', address: '192.0.2.1/24' });
  show('host namespace', host.netnsPath);

  step(2, 'Two container namespaces, persisted under $BERTH_RUN/netns');
  const netnsDir = `${host.runDir}/netns`;
  const ctrs = ['web', 'db'].map((name) => ({ name, path: createNetns(netnsDir, name) }));
  for (const c of ctrs) show(c.name, c.path);

  step(3, 'A bridge with the gateway address, and a veth pair per container (peer born inside as eth0)');
  await withRtnl(host.netnsPath, async (nl) => {
    await createBridge(nl, { name: 'berth0' });
    const br = await getLink(nl, 'berth0');
    await addAddress(nl, br.index, '172.17.0.1/16');
    await setLinkUp(nl, br.index);
    let n = 1;
    for (const c of ctrs) {
      n++;
      const ns = openNetns(c.path);
      try {
        await createVeth(nl, { name: `veth${c.name}`, peerName: 'eth0', peerNetnsFd: ns.fd });
      } finally {
        ns.close();
      }
      const v = await getLink(nl, `veth${c.name}`);
      await setMaster(nl, v.index, br.index);
      await setLinkUp(nl, v.index);
      await withRtnl(c.path, async (inner) => {
        for (const ifname of ['lo', 'eth0']) await setLinkUp(inner, (await getLink(inner, ifname)).index);
        await addAddress(inner, (await getLink(inner, 'eth0')).index, `172.17.0.${n}/16`);
        await addRoute(inner, { dst: 'default', gateway: '172.17.0.1' });
      });
    }
  });
  const hostLinks = await links(host);
  show('bridge ports', hostLinks.filter((l) => l.master === 'berth0').map((l) => l.ifname));
  for (const c of ctrs) show(`${c.name} eth0`, (await addressesOf(c.path, 'eth0', 4)).join(', '));
  show('web routes', (await routes(ctrs[0]?.path ?? '')).map((r) => `${r.dst}${r.gateway ? ` via ${r.gateway}` : ''}`));

  step(4, 'NAT to the outside: ip_forward on, and an nftables table "berth" applied as one atomic batch');
  writeSysctl(host.netnsPath, sysctls.ipForward, '1');
  const T = table('inet', 'berth');
  applyNft(
    [
      add(T),
      add(chain(T, 'forward', { type: 'filter', hook: 'forward', priority: PRIORITY.filter, policy: 'accept' })),
      add(rule(T, 'forward', [match(meta('iifname'), 'berth0'), counter, accept])),
      add(chain(T, 'postrouting', { type: 'nat', hook: 'postrouting', priority: PRIORITY.srcnat, policy: 'accept' })),
      add(rule(T, 'postrouting', [match(ip.saddr, cidr('172.17.0.0/16')), notMatch(meta('oifname'), 'berth0'), counter, masquerade])),
    ],
    { netns: host.netnsPath },
  );
  const ruleset = await nftRuleset(host);
  show('nft objects in the host', ruleset.nftables.map((o) => Object.keys(o)[0]).filter((k) => k !== 'metainfo').join(' '));

  step(5, 'Packets');
  const web = ctrs[0]?.path ?? '';
  show('web -> db (172.17.0.3), across the bridge', (await ping(web, '172.17.0.3', { count: 2, timeout: 5 })) ? 'reached' : 'NOT reached');
  show('web -> gateway (172.17.0.1)', (await ping(web, '172.17.0.1', { count: 1, timeout: 5 })) ? 'reached' : 'NOT reached');
  show('web -> external 192.0.2.1, masqueraded', (await ping(web, '192.0.2.1', { count: 2, timeout: 5 })) ? 'reached' : 'NOT reached');
  console.log('   (the external peer has no route to 172.17.0.0/16: its replies arrive only because of the masquerade)');
} finally {
  step(6, 'Removing the lab: namespaces, links, rules, temp files');
  await lab.close();
  console.log('   done; the machine itself was never touched.');
}
