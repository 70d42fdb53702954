// nftables batches against the real kernel, in a throwaway namespace: berth's table with base
// chains, a verdict map, a set and a concatenated DNAT map; runtime element changes; read-back;
// atomicity of failing batches; idempotent deletes; and the same results from libnftables called
// in-process and from a spawned nft. The root namespace's ruleset must not change.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import * as m from '../../src/kernel/nft/model.js';
import {
  NftError,
  applyNft,
  findTable,
  listNft,
  listNftChainComments,
  listNftChainCommentsByNft,
  nftLibraryAvailable,
  readNftState,
  readNftTable,
  type NftEngine,
  type NftListing,
} from '../../src/kernel/nft/apply.js';
import type { Json } from '../../src/kernel/nft/render.js';
import { NftGeneration } from '../../src/kernel/nft/generation.js';
import { nextGeneration } from '../../src/engine/firewall-cache.js';

import { readChainComments } from '../../src/kernel/nft/chain-comments.js';

const isRoot = process.getuid?.() === 0;
const NS = `bt${randomBytes(2).toString('hex')}-nft`;
const NS_PATH = `/run/netns/${NS}`;

function run(argv: string[]): string {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr}`);
  return r.stdout;
}

/** The root namespace's ruleset, read by a separate nft (read-only). */
function rootRuleset(): string {
  return run(['nft', '-j', 'list', 'ruleset']);
}

/** A listing without kernel handles, to compare rulesets built at different times. */
function withoutHandles(x: Json | NftListing): Json {
  if (Array.isArray(x)) return x.map((v: Json) => withoutHandles(v));
  if (typeof x === 'object' && x !== null) {
    return Object.fromEntries(Object.entries(x).flatMap(([k, v]) => (k === 'handle' ? [] : [[k, withoutHandles(v as Json)]])));
  }
  return x;
}

const sorted = <T>(xs: readonly T[]) => [...xs].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));

// ---------------------------------------------------------------------------------------------
// berth's table, as a later portmap/bridge driver might build it

const T = m.table('inet', 'berth');
const PUB_KEY = m.concat(m.ip.daddr, m.meta('l4proto'), m.th.dport);

const chains = {
  forward: m.chain(T, 'forward', { type: 'filter', hook: 'forward', priority: m.PRIORITY.filter, policy: 'accept' }),
  prerouting: m.chain(T, 'prerouting', { type: 'nat', hook: 'prerouting', priority: m.PRIORITY.dstnat, policy: 'accept' }),
  output: m.chain(T, 'output', { type: 'nat', hook: 'output', priority: m.PRIORITY.dstnat, policy: 'accept' }),
  postrouting: m.chain(T, 'postrouting', { type: 'nat', hook: 'postrouting', priority: m.PRIORITY.srcnat, policy: 'accept' }),
  isolate: m.chain(T, 'isolate'),
};
const subnets: m.SetObj = {
  kind: 'set',
  table: T,
  name: 'subnets4',
  type: 'ipv4_addr',
  flags: ['interval'],
  elements: [m.prefix('172.17.0.0', 16)],
};
const bridges: m.MapObj = {
  kind: 'map',
  table: T,
  name: 'bridges',
  type: 'ifname',
  data: 'verdict',
  elements: [{ key: 'berth0', data: m.jump('isolate') }],
};
const dnat4: m.MapObj = {
  kind: 'map',
  table: T,
  name: 'dnat4',
  type: ['ipv4_addr', 'inet_proto', 'inet_service'],
  data: ['ipv4_addr', 'inet_service'],
  elements: [{ key: m.tuple('10.0.0.1', 'tcp', 8080), data: m.tuple('10.0.0.2', 80) }],
};
const rules = [
  m.rule(T, 'forward', [m.ctState('established', 'related'), m.accept], 'berth:ct'),
  m.rule(T, 'forward', [m.vmap(m.meta('iifname'), 'bridges')], 'berth:bridges'),
  m.rule(T, 'isolate', [m.match(m.ip.daddr, m.setRef('subnets4')), m.accept], 'berth:subnets'),
  m.rule(T, 'prerouting', [m.fibDaddrLocal, m.match(m.meta('l4proto'), m.anonSet('tcp', 'udp')), m.dnat('ip', m.lookup(PUB_KEY, 'dnat4'))], 'berth:publish'),
  m.rule(T, 'output', [m.fibDaddrLocal, m.match(m.meta('l4proto'), m.anonSet('tcp', 'udp')), m.dnat('ip', m.lookup(PUB_KEY, 'dnat4'))], 'berth:publish-local'),
  m.rule(T, 'postrouting', [m.match(m.ip.saddr, m.setRef('subnets4')), m.notMatch(m.meta('oifname'), 'berth0'), m.masquerade], 'berth:masq'),
];
const setup: m.NftOp[] = [
  m.add(T),
  ...Object.values(chains).map((c) => m.add(c)),
  m.add(subnets),
  m.add(bridges),
  m.add(dnat4),
  ...rules.map((r) => m.add(r)),
];

const target = (engine: NftEngine) => ({ netns: NS_PATH, engine });

/** Build the table from scratch with one engine, change elements, and return the final listing. */
function buildAndChange(engine: NftEngine): NftListing {
  applyNft([m.del(T, { ifExists: true })], target(engine));
  applyNft(setup, target(engine));
  applyNft([m.add(m.elements(T, 'dnat4', [{ key: m.tuple('10.0.0.1', 'udp', 53), data: m.tuple('10.0.0.2', 5353) }]))], target(engine));
  applyNft([m.add(m.elements(T, 'bridges', [{ key: 'br-1', data: m.accept }]))], target(engine));
  applyNft([m.add(m.elements(T, 'subnets4', [m.prefix('172.18.0.0', 16)]))], target(engine));
  applyNft([m.del(m.elements(T, 'subnets4', [m.prefix('172.18.0.0', 16)]))], target(engine));
  return listNft({ ...target(engine), table: T });
}

void describe('nftables batches in a throwaway namespace', { skip: isRoot ? false : 'needs root' }, () => {
  let rootBefore = '';

  before(() => {
    rootBefore = rootRuleset();
    run(['ip', 'netns', 'add', NS]);
  });

  after(() => {
    try {
      run(['ip', 'netns', 'del', NS]);
    } finally {
      assert.equal(rootRuleset(), rootBefore, 'the root namespace ruleset changed');
    }
  });

  void it('applies berth’s table and reads it back as applied', () => {
    const r = applyNft([m.del(T, { ifExists: true }), ...setup], { netns: NS_PATH });
    // the concatenated-data map can only be declared in native syntax by nft 1.0.6
    assert.equal(r.syntax, 'text');
    const t = readNftTable(T, { netns: NS_PATH });
    assert.ok(t, 'table inet berth exists');

    assert.deepEqual(
      t.chains.map((c) => ({ name: c.name, base: c.base, comments: c.rules.map((x) => x.comment) })),
      Object.values(chains).map((c) => ({
        name: c.name,
        base: c.base,
        comments: rules.filter((x) => x.chain === c.name).map((x) => x.comment),
      })),
    );
    assert.deepEqual(
      t.sets.map((s) => ({ name: s.name, type: s.type, flags: s.flags, elements: s.elements })),
      [{ name: 'subnets4', type: 'ipv4_addr', flags: ['interval'], elements: subnets.elements }],
    );
    assert.deepEqual(
      sorted(t.maps.map((x) => ({ name: x.name, type: x.type, data: x.data, elements: sorted(x.elements) }))),
      sorted([bridges, dnat4].map((x) => ({ name: x.name, type: x.type, data: x.data, elements: sorted(x.elements ?? []) }))),
    );
  });

  void it('adds and deletes map and set elements at runtime, one JSON command each', () => {
    const entry = { key: m.tuple('10.0.0.1', 'tcp', 8443), data: m.tuple('10.0.0.2', 443) };
    const added = applyNft([m.add(m.elements(T, 'dnat4', [entry]))], { netns: NS_PATH });
    assert.deepEqual(added, { engine: nftLibraryAvailable() ? 'library' : 'process', syntax: 'json', commands: 1 });
    const dnat = () => findTable(readNftState(listNft({ netns: NS_PATH })), T)!.maps.find((x) => x.name === 'dnat4')!;
    assert.deepEqual(sorted(dnat().elements), sorted([...dnat4.elements!, entry]));

    applyNft([m.del(m.elements(T, 'dnat4', [entry]))], { netns: NS_PATH });
    assert.deepEqual(dnat().elements, dnat4.elements);

    // deleting an element that is already gone is success when asked for
    applyNft([m.del(m.elements(T, 'dnat4', [entry]), { ifExists: true })], { netns: NS_PATH });
    assert.throws(() => applyNft([m.del(m.elements(T, 'dnat4', [entry]))], { netns: NS_PATH }), NftError);
    assert.deepEqual(dnat().elements, dnat4.elements);
  });

  void it('translates address and port through the concatenated DNAT map', () => {
    // Both addresses on lo: a connection to 10.0.0.1:8080 made inside the namespace goes through
    // the nat output chain and must arrive at 10.0.0.2:80.
    run(['ip', '-n', NS, 'link', 'set', 'lo', 'up']);
    run(['ip', '-n', NS, 'addr', 'add', '10.0.0.1/32', 'dev', 'lo']);
    run(['ip', '-n', NS, 'addr', 'add', '10.0.0.2/32', 'dev', 'lo']);
    const script = `
      const net = require('node:net');
      const server = net.createServer((s) => { s.end(s.localAddress + ':' + s.localPort); server.close(); });
      server.listen(80, '10.0.0.2', () => {
        const c = net.connect(8080, '10.0.0.1');
        let got = '';
        c.on('data', (d) => (got += d));
        c.on('end', () => { process.stdout.write(got); });
        c.on('error', (e) => { console.error(e.message); process.exit(1); });
      });
      setTimeout(() => { console.error('timeout'); process.exit(2); }, 5000).unref();`;
    assert.equal(run(['nsenter', `--net=${NS_PATH}`, process.execPath, '-e', script]), '10.0.0.2:80');
  });

  void it('a failing batch changes nothing and says which command failed', () => {
    const beforeFail = JSON.stringify(listNft({ netns: NS_PATH }));
    const batch = [
      m.add(m.elements(T, 'subnets4', [m.prefix('10.99.0.0', 16)])),
      m.add(m.elements(T, 'dnat4', [{ key: m.tuple('10.0.0.1', 'tcp', 9000), data: m.tuple('10.0.0.2', 9) }])),
      m.add(m.chain(T, 'extra')),
      m.add(m.rule(T, 'extra', [m.match(m.ip.daddr, m.setRef('missing')), m.drop])),
      m.add(m.chain(T, 'extra2')),
    ];
    for (const engine of ['library', 'process'] as const) {
      if (engine === 'library' && !nftLibraryAvailable()) continue;
      const err = (() => {
        try {
          applyNft(batch, target(engine));
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      assert.ok(err instanceof NftError, `${engine}: expected NftError, got ${String(err)}`);
      assert.equal(err.exitCode, 3);
      assert.equal(err.opIndex, 3);
      assert.equal(err.commandIndex, 3);
      assert.match(err.message, /command 3 of 5 \(add rule inet berth extra\)/);
      assert.match(err.nftMessage, /No such file or directory/);
      assert.equal(JSON.stringify(listNft({ netns: NS_PATH })), beforeFail, `${engine}: the failed batch changed the ruleset`);
    }
  });

  void it('a failing native-syntax batch is atomic too', () => {
    const beforeFail = JSON.stringify(listNft({ netns: NS_PATH }));
    const other: m.MapObj = { ...dnat4, name: 'dnat4b', elements: [] };
    assert.throws(
      () => applyNft([m.add(other), m.add(m.rule(T, 'nochain', [m.accept]))], { netns: NS_PATH }),
      (e: unknown) => e instanceof NftError && e.opIndex === 1 && /add rule inet berth nochain/.test(e.message),
    );
    assert.equal(JSON.stringify(listNft({ netns: NS_PATH })), beforeFail);
  });

  void it('idempotent delete of a missing table succeeds; plain delete fails', () => {
    const missing = m.table('ip', 'berth');
    applyNft([m.del(missing, { ifExists: true })], { netns: NS_PATH });
    applyNft([m.del(missing, { ifExists: true })], { netns: NS_PATH, engine: 'process' });
    assert.throws(() => applyNft([m.del(missing)], { netns: NS_PATH }), NftError);
    assert.equal(readNftTable(missing, { netns: NS_PATH }), undefined);
    // and deleting chains, sets and maps that are not there
    applyNft(
      [
        m.del(m.chain(T, 'nochain'), { ifExists: true }),
        m.del({ kind: 'set', table: T, name: 'noset', type: 'ipv4_addr' }, { ifExists: true }),
        m.del({ kind: 'map', table: T, name: 'nomap', type: 'ifname', data: 'verdict' }, { ifExists: true }),
      ],
      { netns: NS_PATH },
    );
  });

  void it('libnftables in-process and a spawned nft give identical rulesets', { skip: nftLibraryAvailable() ? false : 'libnftables not loadable' }, () => {
    const viaLibrary = withoutHandles(buildAndChange('library'));
    const viaProcess = withoutHandles(buildAndChange('process'));
    assert.deepEqual(viaLibrary, viaProcess);
    // and the listings read the same through either engine
    assert.deepEqual(withoutHandles(listNft({ ...target('library'), table: T })), withoutHandles(listNft({ ...target('process'), table: T })));
  });

  void it('times one element add per engine (printed, not asserted)', { skip: nftLibraryAvailable() ? false : 'libnftables not loadable' }, (t) => {
    const rounds = 20;
    const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
    for (const engine of ['library', 'process'] as const) {
      const times: number[] = [];
      for (let i = 0; i < rounds; i++) {
        const el = m.elements(T, 'dnat4', [{ key: m.tuple('10.0.0.1', 'tcp', 20000 + i), data: m.tuple('10.0.0.2', 80) }]);
        const t0 = process.hrtime.bigint();
        applyNft([m.add(el)], target(engine));
        times.push(Number(process.hrtime.bigint() - t0) / 1e6);
        applyNft([m.del(el)], target(engine));
      }
      t.diagnostic(`element add via ${engine}: median ${median(times).toFixed(2)} ms, min ${Math.min(...times).toFixed(2)} ms over ${rounds}`);
    }
  });

  void it('each batch that changes the ruleset moves its generation by one; no-op batches, listings and refused batches do not (engine/firewall-cache.ts)', () => {
    const gen = NftGeneration.open(NS_PATH);
    try {
      const entry = { key: m.tuple('10.0.0.1', 'tcp', 8555), data: m.tuple('10.0.0.2', 443) };
      const g0 = gen.read();
      applyNft([m.add(m.elements(T, 'dnat4', [entry]))], { netns: NS_PATH });
      assert.equal(gen.read(), nextGeneration(g0), 'one batch, one step');
      applyNft([m.add(m.elements(T, 'dnat4', [entry]))], { netns: NS_PATH });
      const g1 = gen.read();
      assert.equal(g1, nextGeneration(g0), 'a batch that changes nothing (the element is there) commits nothing');
      listNft({ netns: NS_PATH });
      assert.throws(() => applyNft([m.del(m.elements(T, 'dnat4', [{ key: m.tuple('10.0.0.1', 'tcp', 8556), data: m.tuple('10.0.0.2', 443) }]))], { netns: NS_PATH }), NftError);
      assert.equal(gen.read(), g1, 'a listing and a refused batch commit nothing');
      applyNft([m.del(m.elements(T, 'dnat4', [entry]))], { netns: NS_PATH });
    } finally {
      gen.close();
    }
  });

  void it('reads a chain\'s rule comments over nfnetlink as nft lists them, whatever the maps hold', () => {
    applyNft([m.del(T, { ifExists: true }), ...setup], { netns: NS_PATH });
    // 2000 more DNAT elements: nft's listing reads them all, the nfnetlink reader none
    const many = Array.from({ length: 2000 }, (_, i) => ({ key: m.tuple('10.0.0.1', 'tcp', 20000 + i), data: m.tuple('10.0.0.2', 80) }));
    applyNft([m.add(m.elements(T, 'dnat4', many))], { netns: NS_PATH });
    for (const c of Object.keys(chains)) {
      const raw = readChainComments(T, c, NS_PATH);
      assert.ok(raw?.length, `chain ${c} has rules`);
      assert.deepEqual(raw, listNftChainCommentsByNft(T, c, { netns: NS_PATH }), `chain ${c}`);
      assert.deepEqual(listNftChainComments(T, c, { netns: NS_PATH }), raw);
    }
    assert.equal(readChainComments(T, 'nochain', NS_PATH), undefined, 'a missing chain');
    assert.equal(readChainComments(m.table('inet', 'nosuchtable'), 'forward', NS_PATH), undefined, 'a missing table');
    assert.equal(readChainComments(m.table('bridge', 'berth'), 'forward', NS_PATH), undefined, 'the same name in another family');
    applyNft([m.del(T)], { netns: NS_PATH });
    assert.equal(readChainComments(T, 'forward', NS_PATH), undefined, 'gone with its table');
  });

  void it('in-process batches survive signals: SIGCHLD from the daemon\'s children no longer interrupts nft (EINTR)', { skip: nftLibraryAvailable() ? false : 'no libnftables' }, () => {
    // bench/scale: "nft rejected the batch of 4 commands: ... Could not process rule: Interrupted
    // system call" (libnftables waits in select(), which a signal on its thread interrupts)
    const S = m.table('inet', 'berth_sig');
    applyNft([m.add(S), m.add({ kind: 'set', table: S, name: 'a', type: 'ipv4_addr' })], { netns: NS_PATH, engine: 'library' });
    const sender = spawn('bash', ['-c', `while kill -CHLD ${process.pid}; do :; done`], { stdio: 'ignore' });
    try {
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200); // the sender is under way
      const failures: string[] = [];
      for (let i = 0; i < 400; i++) {
        try {
          applyNft([m.add(m.elements(S, 'a', [`10.1.${i >> 8}.${i & 255}`]))], { netns: NS_PATH, engine: 'library' });
        } catch (err) {
          failures.push((err as Error).message);
        }
      }
      assert.deepEqual(failures.slice(0, 3), [], `${failures.length} of 400 batches failed`);
    } finally {
      sender.kill();
      applyNft([m.del(S)], { netns: NS_PATH });
    }
  });

  void it('removes its table', () => {
    applyNft([m.del(T, { ifExists: true })], { netns: NS_PATH });
    assert.equal(readNftTable(T, { netns: NS_PATH }), undefined);
  });
});
