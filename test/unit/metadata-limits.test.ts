// Label caps (issue 11, item 15): key 1024 B, value 65536 B, all together 262144 B, counted in
// UTF-8 bytes; the error names the label (escaped, cut short) and what is accepted.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UserError } from '../../src/common/errors.js';
import { checkLabels, LABEL_KEY_MAX_BYTES, LABEL_VALUE_MAX_BYTES, LABELS_TOTAL_MAX_BYTES } from '../../src/engine/metadata-limits.js';

function refused(labels: Record<string, string>, ...fragments: string[]): void {
  assert.throws(() => checkLabels(labels), (err: unknown) => {
    assert.ok(err instanceof UserError, String(err));
    for (const f of fragments) assert.ok(err.message.includes(f), `"${err.message.slice(0, 300)}" should mention ${f}`);
    return true;
  });
}

void describe('label caps', () => {
  void test('labels at the caps pass', () => {
    checkLabels({ ['k'.repeat(LABEL_KEY_MAX_BYTES)]: 'v'.repeat(LABEL_VALUE_MAX_BYTES) });
    const four: Record<string, string> = {};
    for (let i = 0; i < 4; i++) four[`k${i}`] = 'v'.repeat(LABELS_TOTAL_MAX_BYTES / 4 - 2);
    checkLabels(four);
  });
  void test('a long key, a long value (in UTF-8 bytes) and too much in all are refused, naming the label', () => {
    refused({ ['k'.repeat(LABEL_KEY_MAX_BYTES + 1)]: 'v' }, 'key is 1025 bytes', 'up to 1024 bytes', '…');
    refused({ big: 'é'.repeat(LABEL_VALUE_MAX_BYTES / 2 + 1) }, 'label "big"', 'value is 65538 bytes', 'up to 65536 bytes');
    const many: Record<string, string> = {};
    for (let i = 0; i < 5; i++) many[`k${i}`] = 'v'.repeat(60_000);
    refused(many, 'label "k4"', 'up to 262144 bytes');
  });
  void test('control bytes in a refused key are escaped, not echoed', () => {
    refused({ [`\u001b[31m${'x'.repeat(2000)}`]: '' }, '\\u001b[31m');
  });
});
