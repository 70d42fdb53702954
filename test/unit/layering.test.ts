// The layering check of `npm run lint` (eslint.config.js): the real rules with their real options,
// run on probe sources as if they sat in src/<folder>/ (no type information needed for these rules).
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const LAYER_RULES = ['no-restricted-imports', 'no-restricted-syntax'];
const all = (await import(new URL('eslint.config.js', `file://${REPO}`).href) as { default: Linter.Config[] }).default;
// the blocks that carry the layer rules, and only those rules
const config: Linter.Config[] = [
  { files: ['**/*.ts'], languageOptions: { parser: tseslint.parser } },
  ...all
    .filter((c) => LAYER_RULES.some((r) => c.rules?.[r]))
    .map((c) => ({ ...c, rules: Object.fromEntries(Object.entries(c.rules ?? {}).filter(([r]) => LAYER_RULES.includes(r))) })),
];
const linter = new Linter({ cwd: REPO });

/** The messages of the layer rules for `code` as src/<file>. */
function lint(file: string, code: string): string[] {
  return linter.verify(code, config, { filename: `${REPO}src/${file}` }).map((m) => m.message);
}
const allowed = (file: string, code: string) => assert.deepEqual(lint(file, code), [], `${file}: ${code}`);
const refused = (file: string, code: string, why: RegExp) => {
  const messages = lint(file, code);
  assert.equal(messages.length, 1, `${file}: ${code} should be refused once, got ${JSON.stringify(messages)}`);
  assert.match(messages[0] ?? '', why);
};

describe('layering check (eslint.config.js)', () => {
  it('lets imports point down', () => {
    allowed('engine/x.ts', "import { a } from '../drivers/bridge.js'; import { b } from '../ipam/index.js'; import { c } from './context.js';");
    allowed('store/x.ts', "export { parseAddress } from '../ipam/index.js';");
    allowed('kernel/nft/x.ts', "import { a } from '../../common/errors.js'; import { b } from '../netns.js';");
    allowed('daemon/x.ts', "import { a } from '../engine/context.js'; import { b } from '../dns/index.js'; const c = import('../engine/overlay.js');");
    allowed('main.ts', "import { a } from './cli/program.js'; import { b } from './daemon/heap.js'; const c = import('./daemon-root.js');");
  });

  it('refuses an import that points up, from any depth, type-only and dynamic ones too', () => {
    refused('kernel/x.ts', "import { Engine } from '../engine/context.js';", /src\/kernel\/ \(rank 1\) may not import src\/engine\//);
    refused('kernel/nft/x.ts', "import { Engine } from '../../engine/context.js';", /may not import src\/engine\//);
    refused('engine/x.ts', "import type { CliContext } from '../cli/context.js';", /may not import src\/cli\//);
    refused('engine/x.ts', "const s = await import('../api/server.js');", /may not import src\/api\//);
    refused('drivers/bridge/x.ts', "export * from '../../engine/context.js';", /may not import src\/engine\//);
  });

  it('refuses imports between folders of the same rank, both ways: no cycle can form', () => {
    refused('ipam/x.ts', "import { a } from '../kernel/addr.js';", /src\/ipam\/ \(rank 1\) may not import src\/kernel\/ \(rank 1\)/);
    refused('kernel/x.ts', "import { a } from '../ipam/index.js';", /may not import src\/ipam\//);
    for (const [a, b] of [['api', 'cli'], ['cli', 'daemon'], ['daemon', 'api'], ['daemon', 'cni'], ['portmap', 'drivers'], ['dns', 'store']] as const) {
      refused(`${a}/x.ts`, `import { x } from '../${b}/y.js';`, new RegExp(`may not import src/${b}/`));
      refused(`${b}/x.ts`, `import { x } from '../${a}/y.js';`, new RegExp(`may not import src/${a}/`));
    }
  });

  it('front ends reach drivers, store and kernel only through the engine', () => {
    for (const front of ['api', 'cli', 'cni', 'daemon']) {
      for (const lower of ['drivers', 'store', 'kernel']) refused(`${front}/x.ts`, `import { x } from '../${lower}/y.js';`, /only through the engine/);
    }
  });

  it('nothing imports the composition root', () => {
    refused('cli/x.ts', "const d = import('../daemon-root.js');", /composition root/);
    refused('cli/commands/x.ts', "import { x } from '../../main.js';", /composition root/);
  });

  it('keeps netlink and koffi to src/kernel/', () => {
    refused('engine/x.ts', "import 'netlink';", /Only src\/kernel\//);
    refused('main.ts', "import 'koffi';", /Only src\/kernel\//);
    allowed('kernel/x.ts', "import 'netlink';");
  });

  it('ranks every folder of src/ (a new folder must be given its place)', () => {
    const folders = readdirSync(`${REPO}src`, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
    for (const folder of folders) {
      refused(`${folder}/x.ts`, "import { x } from '../main.js';", /composition root/);
    }
  });
});
