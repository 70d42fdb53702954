// Shared assertion of the unit tests: bad input fails with a UserError that names what is wrong.
import assert from 'node:assert/strict';
import { UserError } from '../../src/common/errors.js';

/** Asserts fn throws a UserError whose message contains every fragment. */
export function throwsUser(fn: () => unknown, ...fragments: string[]): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof UserError, `expected UserError, got ${String(err)}`);
    for (const f of fragments) assert.ok(err.message.includes(f), `"${err.message}" should mention ${f}`);
    return true;
  });
}
