// Lint rules that catch bugs and keep module boundaries; formatting is prettier's job.
// docs/architecture.md's layering is enforced here: no import cycles (type-only ones included),
// every imported package declared by the package that imports it, packages never import services.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import noImportCycle from './tools/eslint-rules/no-import-cycle.js';

/** The Node.js globals the CommonJS tooling files use. */
const nodeGlobals = Object.fromEntries(
  ['require', 'module', 'exports', '__dirname', '__filename', 'process', 'console', 'Buffer', 'URL'].map(
    (g) => [g, 'readonly'],
  ),
);

/** What the examples' browser scripts use: the DOM, and supabase-js's browser build (`supabase`). */
const browserGlobals = Object.fromEntries(
  ['window', 'document', 'fetch', 'URLSearchParams', 'console', 'supabase'].map((g) => [g, 'readonly']),
);

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'deploy/**'],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    plugins: { 'import-x': importX, walcast: { rules: { 'no-import-cycle': noImportCycle } } },
    rules: {
      'walcast/no-import-cycle': 'error',
      // Each package.json declares what its files import (tests and tooling may use devDependencies).
      'import-x/no-extraneous-dependencies': ['error', { includeTypes: true }],
    },
  },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        // The inspector page (browser code, DOM types) has a project of its own.
        project: ['./tsconfig.check.json', './services/gateway/inspector/tsconfig.json'],
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      // From the type-checked set, the rules that found something here (the rest of it flagged
      // only tests' and clients' untyped JSON): each is cheap and none has a false positive today.
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'no-restricted-imports': ['error', { patterns: ['@walcast/*/src/*', '@walcast/*/dist/*'] }],
    },
  },
  {
    // Tooling: CommonJS scripts run by node (the flat config itself is an ES module).
    files: ['**/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: nodeGlobals },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    // The examples' pages: plain scripts in the browser, after supabase-js's own <script>.
    files: ['examples/*/public/**/*.js'],
    languageOptions: { sourceType: 'script', globals: browserGlobals },
  },
  {
    files: ['**/*.mjs'],
    languageOptions: { sourceType: 'module', globals: nodeGlobals },
  },
  {
    // Packages never import services.
    files: ['packages/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            '@walcast/*/src/*',
            '@walcast/*/dist/*',
            '@walcast/gateway',
            '@walcast/ingester',
            '**/services/**',
          ],
        },
      ],
    },
  },
  {
    // The gateway's channel layer (groups, filters, token checks) knows nothing of its websocket
    // layer, so it stays unit-testable without uWS sockets.
    files: ['services/gateway/src/{channels,filters,auth}/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        { patterns: ['@walcast/*/src/*', '@walcast/*/dist/*', '../ws/*', '../gateway-server'] },
      ],
    },
  },
  prettier,
);
