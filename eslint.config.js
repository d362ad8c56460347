// Lint: typescript-eslint's type-checked rules plus the project's own (exhaustive switches, no
// floating promises, type-only imports, and no clock, timer or unseeded randomness in protocol/).
// Formatting is Prettier's (eslint-config-prettier turns off the rules that would fight it).
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      '**/.tmp-bundle/**',
      '**/out/**',
      'runs/**',
      'scratch/**',
      'patches/**',
      'protocol/src/compress/wasm/kernels-bytes.ts',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: { allowDefaultProject: ['node/vitest.config.ts', 'protocol/vitest.config.ts', 'sim/vitest.config.ts', 'test/vitest.config.ts'] },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // An async function without await is how an interface's promise is returned simply.
      '@typescript-eslint/require-await': 'off',
    },
  },
  {
    // Tests read JSON files and CLI output: values of type any are checked by the assertions.
    files: ['**/test/**/*.ts', '**/bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
    },
  },
  {
    // The sans-I/O core reads no clock, sets no timer and draws no unseeded randomness.
    files: ['protocol/src/**/*.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'setTimeout', message: 'protocol/ is sans-I/O: ask the host for a timer (setTimer action).' },
        { name: 'setInterval', message: 'protocol/ is sans-I/O: ask the host for a timer (setTimer action).' },
        { name: 'setImmediate', message: 'protocol/ is sans-I/O.' },
        { name: 'Date', message: 'protocol/ is sans-I/O: every input carries `now`.' },
        { name: 'performance', message: 'protocol/ is sans-I/O: every input carries `now`.' },
        { name: 'process', message: 'protocol/ has no Node APIs.' },
      ],
      'no-restricted-properties': ['error', { object: 'Math', property: 'random', message: 'Use the seeded streams of protocol/src/rng.' }],
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*'], message: 'protocol/ has no Node APIs.' }] }],
    },
  },
  prettier,
);
