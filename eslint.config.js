// Lint rules: typescript-eslint's recommended type-aware set, plus the layer rules from DESIGN.md.
import { readdirSync } from 'node:fs';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const kernelOnly = [{ group: ['netlink', 'koffi'], message: 'Only src/kernel/ may touch the kernel (DESIGN.md, Layers).' }];

// Layers (DESIGN.md): a folder of src/ imports only folders of strictly lower rank. Same rank is
// forbidden too, so no import points up and no cycle between folders can form.
// dns imports nothing of berth's: it sits beside store, so the overlay driver may feed it records.
const RANKS = { common: 0, kernel: 1, ipam: 1, store: 2, dns: 2, portmap: 3, drivers: 3, engine: 4, api: 5, cli: 5, cni: 5, daemon: 5, plugin: 5, ui: 5 };
// front ends reach these only through the engine
const FRONT_ENDS = ['api', 'cli', 'cni', 'daemon', 'plugin', 'ui'];
const THROUGH_ENGINE = ['drivers', 'store', 'kernel'];
// the composition root (src/*.ts, or a src/root/ folder) wires the front ends: nothing imports it
const ROOT_MODULES = readdirSync(new URL('./src/', import.meta.url)).filter((f) => f.endsWith('.ts')).map((f) => f.slice(0, -'.ts'.length));

/** What src/<folder>/ may not import: [regex source over the import's specifier, message]. */
function forbiddenFor(folder) {
  // regex sources without a slash (esquery's regex syntax has none): \x2F is '/'
  const up = String.raw`^(\.\.\x2F)+`; // one or more '../': out of this folder
  const end = String.raw`(\x2F|$)`;
  const where = `src/${folder}/ (rank ${RANKS[folder]})`;
  const rules = Object.entries(RANKS)
    .filter(([other, rank]) => other !== folder && rank >= RANKS[folder])
    .map(([other, rank]) => [`${up}${other}${end}`, `${where} may not import src/${other}/ (rank ${rank}): imports point down only (DESIGN.md, Layers).`]);
  if (FRONT_ENDS.includes(folder)) {
    for (const other of THROUGH_ENGINE) rules.push([`${up}${other}${end}`, `${where} is a front end: it reaches src/${other}/ only through the engine (DESIGN.md, Layers).`]);
  }
  rules.push([String.raw`${up}(root${end}|(${ROOT_MODULES.join('|')})(\.js)?$)`, `${where} may not import the composition root: it imports the front ends, not the other way (DESIGN.md, Layers).`]);
  return rules;
}

/** One block per folder: a later block's rule options replace an earlier one's, so each carries all its patterns. */
const layerBlocks = Object.keys(RANKS).map((folder) => {
  const forbidden = forbiddenFor(folder);
  return {
    files: [`src/${folder}/**/*.ts`],
    rules: {
      'no-restricted-imports': ['error', { patterns: [...(folder === 'kernel' ? [] : kernelOnly), ...forbidden.map(([regex, message]) => ({ regex, message }))] }],
      // no-restricted-imports does not look at import(): the same rules for dynamic imports
      'no-restricted-syntax': ['error', ...forbidden.map(([regex, message]) => ({ selector: `ImportExpression[source.value=/${regex}/]`, message }))],
    },
  };
});

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true, allowNullish: true }],
    },
  },
  { files: ['src/**/*.ts'], ignores: ['src/kernel/**'], rules: { 'no-restricted-imports': ['error', { patterns: kernelOnly }] } },
  ...layerBlocks,
  {
    // node:test's describe/it return promises the runner itself awaits
    files: ['test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        { allowForKnownSafeCalls: [{ from: 'package', name: ['describe', 'it', 'test', 'suite'], package: 'node:test' }] },
      ],
    },
  },
  // plain-JS build scripts: no type information
  { files: ['**/*.mjs'], extends: [tseslint.configs.disableTypeChecked], languageOptions: { globals: { console: 'readonly', process: 'readonly' } } },
  // the CommonJS launchers' helper (bin/package.json)
  {
    files: ['**/*.cjs'],
    extends: [tseslint.configs.disableTypeChecked],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable', process: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
