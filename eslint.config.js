// Lint rules: typescript-eslint's recommended type-aware set, plus the layer rule from DESIGN.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const kernelOnly = {
  patterns: [{ group: ['netlink', 'koffi'], message: 'Only src/kernel/ may touch the kernel (DESIGN.md, Layers).' }],
};

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
  { files: ['src/**/*.ts'], ignores: ['src/kernel/**'], rules: { 'no-restricted-imports': ['error', kernelOnly] } },
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
);
