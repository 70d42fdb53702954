// The OpenAPI document served at /openapi.json describes exactly the routes the server has.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { OPENAPI } from '../../src/api/openapi.js';
import { routeTable } from '../../src/api/server.js';

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
