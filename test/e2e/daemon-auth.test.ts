// End to end, who may use the daemon's TCP API (issue 11, item 1). Before: `--api
// tcp://127.0.0.1:PORT` needed nothing, and any local user (`nobody`) could POST
// /containers/create with NetworkMode host and run a command as root. Now a loopback listener
// needs the bearer token in $BERTH_ROOT/api-token (0600 root), any TCP listener may use mutual
// TLS (--tlsverify, as dockerd), and a non-loopback listener without TLS is refused at start.
// The clients are curl run as nobody inside the lab host, and the stock docker CLI.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { type Host, Lab } from '../lab/index.js';
import { asNobody, curl, makeTestPki, type TestPki } from './auth-helpers.js';
import { type Daemon, findDockerClis, killContainers, startDaemon, stopDaemon } from './daemon-helpers.js';

const T = { timeout: 90_000 };
const TOKEN_PORT = 23770;
const TLS_PORT = 23771;

void describe('berth daemon: TCP API authentication', () => {
  let lab: Lab;
  let h: Host;
  let pki: TestPki;
  let d: Daemon | undefined;
  let marker: string;
  const url = (port: number, path: string, scheme = 'http') => `${scheme}://127.0.0.1:${port}${path}`;
  const createBody = () => ({ Cmd: ['touch', marker], HostConfig: { NetworkMode: 'host' } });

  before(async () => {
    lab = await Lab.create({ label: 'e2e daemon auth' });
    h = await lab.createHost('h');
    pki = await makeTestPki();
    // where the container would leave its mark: a path root can write and the test can see
    const dir = join(lab.dir, 'marks');
    await mkdir(dir, { recursive: true });
    marker = join(dir, 'ran-as-root');
  });
  after(async () => {
    await stopDaemon(d).catch(() => undefined);
    if (h) await killContainers(h);
    await pki?.close();
    await lab?.close();
  });

  void test('loopback TCP: no token or a wrong one is 401 and nothing runs; the token (0600 root) works', T, async () => {
    d = await startDaemon(h, { args: ['--api', `tcp://127.0.0.1:${TOKEN_PORT}`] });
    const tokenFile = join(h.rootDir, 'api-token');
    const st = await stat(tokenFile);
    assert.equal(st.mode & 0o777, 0o600, `api-token mode ${(st.mode & 0o777).toString(8)}`);
    assert.equal(st.uid, 0, 'api-token belongs to root');
    const token = (await readFile(tokenFile, 'utf8')).trim();
    assert.match(token, /^[A-Za-z0-9_-]{32,}$/);
    // nobody cannot read it
    const cat = await h.exec(asNobody(['cat', tokenFile]));
    assert.notEqual(cat.code, 0, 'nobody must not read the api token');
    assert.equal(cat.stdout, '');

    const tries: Record<string, string>[] = [{}, { Authorization: 'Bearer wrong-token-wrong-token-wrong-token' }, { Authorization: `Basic ${token}` }];
    for (const headers of tries) {
      const r = await curl(h, url(TOKEN_PORT, '/v1.41/containers/create'), { method: 'POST', body: createBody(), headers, nobody: true });
      assert.equal(r.status, 401, `POST /containers/create as nobody with ${JSON.stringify(Object.keys(headers))}: ${r.status} ${r.body}`);
      assert.match(r.body, /api-token|Bearer/);
      const get = await curl(h, url(TOKEN_PORT, '/_ping'), { headers, nobody: true });
      assert.equal(get.status, 401, 'even /_ping needs the token');
    }
    // nothing ran and nothing was recorded
    assert.equal(existsSync(marker), false, 'a refused request ran nothing');
    const ps = await h.berthJson<unknown[]>(['ps', '-a', '--format', 'json']);
    assert.deepEqual(ps, [], 'a refused request created no container');

    // the token, sent by nobody (who got it from root), works
    const auth = { Authorization: `Bearer ${token}` };
    assert.equal((await curl(h, url(TOKEN_PORT, '/_ping'), { headers: auth, nobody: true })).status, 200);
    const ok = await curl(h, url(TOKEN_PORT, '/v1.41/containers/create?name=tokened'), { method: 'POST', body: createBody(), headers: auth, nobody: true });
    assert.equal(ok.status, 201, `with the token: ${ok.status} ${ok.body}`);
    const until = Date.now() + 10_000;
    while (!existsSync(marker) && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    assert.equal(existsSync(marker), true, 'the container ran');
    await h.berth(['rm', '-f', 'tokened']);
    await rm(marker, { force: true });
  });

  void test('the stock docker CLI with the token in its config (HttpHeaders) works; without it, it is refused', T, async (t) => {
    const { present } = await findDockerClis();
    const cli = present[0];
    if (!cli || !d) return t.skip('no docker CLI, or no daemon from the previous test');
    const token = (await readFile(join(h.rootDir, 'api-token'), 'utf8')).trim();
    const withToken = join(lab.dir, 'docker-token');
    const without = join(lab.dir, 'docker-plain');
    await mkdir(withToken, { recursive: true });
    await mkdir(without, { recursive: true });
    await writeFile(join(withToken, 'config.json'), JSON.stringify({ HttpHeaders: { Authorization: `Bearer ${token}` } }));
    await writeFile(join(without, 'config.json'), '{}');
    const dk = (config: string) =>
      h.exec([cli.path, '-H', `tcp://127.0.0.1:${TOKEN_PORT}`, 'network', 'ls', '--format', '{{.Name}}'], { timeoutMs: 30_000, env: { DOCKER_CONFIG: config, DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined, DOCKER_TLS_VERIFY: undefined } });
    const ok = await dk(withToken);
    assert.equal(ok.code, 0, `docker with the token: ${ok.stderr}`);
    assert.match(ok.stdout, /^bridge$/m);
    const bad = await dk(without);
    assert.notEqual(bad.code, 0, 'docker without the token is refused');
  });

  void test('TLS (--tlsverify): a client certificate signed by the CA works; none, or a rogue one, gets no handshake', T, async () => {
    await stopDaemon(d);
    d = undefined;
    d = await startDaemon(h, {
      args: ['--api', `tcp://127.0.0.1:${TLS_PORT}`, '--tlsverify', '--tlscacert', pki.ca, '--tlscert', pki.serverCert, '--tlskey', pki.serverKey],
    });
    const good = await curl(h, url(TLS_PORT, '/v1.41/networks/bridge', 'https'), { tls: { ca: pki.ca, cert: pki.clientCert, key: pki.clientKey }, nobody: true });
    assert.equal(good.status, 200, `with a client certificate: ${good.status} ${good.stderr}`);
    assert.equal((JSON.parse(good.body) as { Name: string }).Name, 'bridge');

    const none = await curl(h, url(TLS_PORT, '/v1.41/containers/create', 'https'), { method: 'POST', body: createBody(), tls: { ca: pki.ca }, nobody: true });
    assert.equal(none.status, 0, `without a client certificate there is no HTTP answer: ${none.status} ${none.body}`);
    assert.notEqual(none.exit, 0);
    const rogue = await curl(h, url(TLS_PORT, '/v1.41/containers/create', 'https'), { method: 'POST', body: createBody(), tls: { ca: pki.ca, cert: pki.rogueCert, key: pki.rogueKey }, nobody: true });
    assert.equal(rogue.status, 0, `a certificate from another CA gets no HTTP answer: ${rogue.status} ${rogue.body}`);
    const plain = await curl(h, url(TLS_PORT, '/_ping'), { nobody: true });
    assert.notEqual(plain.status, 200, 'plain HTTP on the TLS port is not served');
    assert.equal(existsSync(marker), false, 'nothing ran');
  });

  void test('the stock docker CLI with --tlsverify and a client certificate works', T, async (t) => {
    const { present } = await findDockerClis();
    const cli = present[0];
    if (!cli || !d) return t.skip('no docker CLI, or no daemon from the previous test');
    const config = join(lab.dir, 'docker-tls');
    await mkdir(config, { recursive: true });
    const base = [cli.path, '-H', `tcp://127.0.0.1:${TLS_PORT}`, '--tlsverify', '--tlscacert', pki.ca];
    const env = { DOCKER_CONFIG: config, DOCKER_HOST: undefined, DOCKER_CONTEXT: undefined, DOCKER_TLS_VERIFY: undefined, DOCKER_CERT_PATH: undefined };
    const ok = await h.exec([...base, '--tlscert', pki.clientCert, '--tlskey', pki.clientKey, 'network', 'ls', '--format', '{{.Name}}'], { timeoutMs: 30_000, env });
    assert.equal(ok.code, 0, `docker --tlsverify: ${ok.stderr}`);
    assert.match(ok.stdout, /^bridge$/m);
    const rogue = await h.exec([...base, '--tlscert', pki.rogueCert, '--tlskey', pki.rogueKey, 'network', 'ls'], { timeoutMs: 30_000, env });
    assert.notEqual(rogue.code, 0, 'docker with a rogue certificate is refused');
  });

  void test('refused at start (exit 1, named): a non-loopback TCP listener without TLS, half-given TLS options', T, async () => {
    await stopDaemon(d);
    d = undefined;
    const cases: [string[], RegExp][] = [
      [['--api', 'tcp://0.0.0.0:23772'], /"tcp:\/\/0\.0\.0\.0:23772" is not a loopback address.*--tlsverify/],
      [['--api', 'tcp://[::]:23772'], /is not a loopback address/],
      [['--api', 'tcp://127.0.0.1:23772', '--tlscert', pki.serverCert, '--tlskey', pki.serverKey], /go with --tlsverify/],
      [['--api', 'tcp://0.0.0.0:23772', '--tlsverify', '--tlscert', pki.serverCert, '--tlskey', pki.serverKey], /--tlsverify needs --tlscacert/],
      [['--api', 'tcp://0.0.0.0:23772', '--tlsverify', '--tlscacert', join(lab.dir, 'missing.pem'), '--tlscert', pki.serverCert, '--tlskey', pki.serverKey], /--tlscacert ".*missing\.pem": ENOENT/],
      [['--api', 'tcp://127.0.0.1:99999'], /invalid --api "tcp:\/\/127\.0\.0\.1:99999"/],
      [['--api', 'tcp://127.0.0.1:2375\u001b[2J'], /invalid --api "tcp:\/\/127\.0\.0\.1:2375\\u001b\[2J"/],
    ];
    for (const [args, pattern] of cases) {
      const r = await h.berth(['daemon', ...args], { timeoutMs: 15_000 });
      assert.equal(r.code, 1, `berth daemon ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, pattern);
      assert.ok(!r.stderr.includes('\u001b'), 'no raw escape in the message');
      assert.doesNotMatch(r.stderr, /listening on/);
    }
  });
});
