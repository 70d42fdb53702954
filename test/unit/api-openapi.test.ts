// The OpenAPI document served at /openapi.json describes exactly the routes the server has.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OPENAPI } from '../../src/api/openapi.js';
import { routeTable } from '../../src/api/server.js';
import { ContainerCreateBody, decodeBody, jsonSchemaOf, NetworkCreateBody } from '../../src/api/schemas.js';
import { throwsUser } from './assert-errors.js';

describe('openapi.json', () => {
  const documented = Object.entries(OPENAPI.paths)
    .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{\w+\}/g, '{}')}`))
    .sort();
  const served = routeTable()
    .map((r) => `${r.method} ${r.path}`)
    .sort();

  it('documents every route the server answers', () => {
    assert.deepEqual(served.filter((r) => !documented.includes(r)), []);
  });
  it('documents no route the server does not answer', () => {
    assert.deepEqual(documented.filter((r) => !served.includes(r)), []);
  });
  it('is an OpenAPI 3.1 document with an error schema', () => {
    assert.equal(OPENAPI.openapi, '3.1.0');
    assert.ok(OPENAPI.components.schemas.Error);
  });
});

describe('openapi.json request bodies', () => {
  const schemas = OPENAPI.components.schemas as Record<string, { properties?: Record<string, Record<string, unknown>> }>;
  it('are the schemas the server decodes with (zod, shared)', () => {
    assert.deepEqual(schemas.NetworkCreate, jsonSchemaOf(NetworkCreateBody));
    assert.deepEqual(schemas.ContainerCreate, jsonSchemaOf(ContainerCreateBody));
  });
  it('type the fields that were silently dropped before (issue 11 item 4)', () => {
    const create = schemas.NetworkCreate?.properties ?? {};
    assert.match(JSON.stringify(create.Internal), /boolean/);
    assert.match(JSON.stringify(create.IPAM), /"Config".*"array"/);
    const ctr = schemas.ContainerCreate?.properties ?? {};
    assert.match(JSON.stringify(ctr.Cmd), /"array".*"string"/);
    assert.match(JSON.stringify(ctr.HostConfig), /"Dns"/);
  });
  it('every POST route that takes a JSON body documents a schema for it', () => {
    for (const p of ['/networks/create', '/networks/{id}/connect', '/networks/{id}/disconnect', '/containers/create', '/berth/v1/cli', '/berth/v1/cli/continue', '/berth/v1/cni']) {
      const op = (OPENAPI.paths as Record<string, { post?: { requestBody?: { content: Record<string, { schema: { $ref?: string } }> } } }>)[p]?.post;
      const ref = op?.requestBody?.content['application/json']?.schema.$ref ?? '';
      assert.ok(schemas[ref.replace('#/components/schemas/', '')], `${p}: ${ref}`);
    }
  });
  it('a wrong type is refused naming the field, its type and what is accepted', () => {
    throwsUser(() => decodeBody(NetworkCreateBody, { Name: 'n', Internal: 'yes' }, 'network create'), 'Internal', 'string "yes"', 'true or false');
    throwsUser(() => decodeBody(NetworkCreateBody, { Name: 'n', IPAM: { Config: [{ Subnet: 24 }] } }, 'network create'), 'IPAM.Config[0].Subnet', 'number 24', 'a string');
    throwsUser(() => decodeBody(ContainerCreateBody, { Cmd: ['sleep', 600] }, 'container create'), 'Cmd[1] is number 600', 'a string');
    throwsUser(() => decodeBody(ContainerCreateBody, { Cmd: 5 }, 'container create'), 'Cmd is number 5', 'a string or a list of strings');
    assert.deepEqual(decodeBody(NetworkCreateBody, { Name: 'n', Driver: null, IPAM: null, Unknown: 1 }, 'network create'), { Name: 'n', Driver: null, IPAM: null });
  });
});

describe('container create bodies', () => {
  it('null-filled settings are unset; settings for another network than NetworkMode are refused', async () => {
    const { runSpecFromRequest } = await import('../../src/api/containers.js');
    const spec = runSpecFromRequest({ Cmd: ['sleep', '1'], HostConfig: { NetworkMode: 'host' }, NetworkingConfig: { EndpointsConfig: { host: { Links: null, Aliases: null, IPAMConfig: null } } } }, 'x');
    assert.deepEqual(spec.network, { kind: 'host' });
    throwsUser(() => runSpecFromRequest({ Cmd: ['sleep', '1'], NetworkingConfig: { EndpointsConfig: { other: { Aliases: ['a'] } } } }, 'x'), 'EndpointsConfig has settings for "other"');
    const mac = runSpecFromRequest({ Cmd: ['sleep', '1'], HostConfig: { NetworkMode: 'n1' }, NetworkingConfig: { EndpointsConfig: { n1: { MacAddress: '02:42:AC:11:00:09' } } } }, 'x');
    assert.equal(mac.mac, '02:42:ac:11:00:09', 'API 1.44 puts MacAddress in the endpoint settings');
    throwsUser(() => runSpecFromRequest({ Image: 'busybox', Cmd: ['true'] }, 'x'), 'Image "busybox"', 'no images');
    throwsUser(() => runSpecFromRequest({ Cmd: ['true'], HostConfig: { Dns: ['8.8.8.8\nsearch evil'] } }, 'x'), 'HostConfig.Dns[0]', 'an IP address');
  });
  it('a MAC address is checked at the edge, as the CLI checks it, named as the body names it', async () => {
    const { runSpecFromRequest } = await import('../../src/api/containers.js');
    throwsUser(() => runSpecFromRequest({ Cmd: ['true'], MacAddress: '01:00:5e:00:00:01' }, 'x'), 'invalid MacAddress', 'multicast');
    const body = { Cmd: ['true'], HostConfig: { NetworkMode: 'n1' }, NetworkingConfig: { EndpointsConfig: { n1: { MacAddress: 'ff:ff:ff:ff:ff:ff' } } } };
    throwsUser(() => runSpecFromRequest(body, 'x'), 'invalid EndpointConfig.MacAddress', 'broadcast');
  });
});
