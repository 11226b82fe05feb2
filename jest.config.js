// Three projects: `unit` (pure, next to the code, no I/O), `int` (real PostgreSQL, Redis and
// websockets; one file at a time because each file starts its own servers) and `browser` (the same,
// with pages in headless Chromium: the inspector and the browser example).
// TypeScript is stripped by swc; types are checked by `tsc -b` and `pnpm typecheck`.
/** @type {import('jest').Config} */
const swc = [
  '@swc/jest',
  {
    jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
    module: { type: 'commonjs' },
  },
];

const base = {
  testEnvironment: 'node',
  // jose is ESM-only; let swc turn it into CommonJS for jest's module loader.
  transform: { '^.+\\.(t|m?j)s$': swc },
  transformIgnorePatterns: ['/node_modules/(?!(\\.pnpm/jose@|jose/))'],
  moduleNameMapper: {
    '^@walcast/(protocol|config|logger|bus|local-services|test-utils|devstack|resume)$':
      '<rootDir>/packages/$1/src/index.ts',
  },
};

module.exports = {
  // Integration tests start servers; jest only honours testTimeout at the root.
  testTimeout: 60_000,
  reporters: ['default', '<rootDir>/tools/jest-summary-reporter.js'],
  projects: [
    {
      ...base,
      displayName: 'unit',
      testMatch: [
        '<rootDir>/{packages,services}/*/src/**/*.test.ts',
        '<rootDir>/services/gateway/inspector/src/**/*.test.ts',
        '<rootDir>/test/faults/src/**/*.test.ts',
        '<rootDir>/test/fuzz/src/**/*.test.ts',
      ],
    },
    {
      ...base,
      displayName: 'int',
      testMatch: [
        '<rootDir>/{packages,services}/*/test/**/*.int.test.ts',
        '<rootDir>/test/e2e/**/*.int.test.ts',
        '<rootDir>/test/fuzz/test/**/*.int.test.ts',
      ],
    },
    {
      ...base,
      displayName: 'browser',
      testMatch: ['<rootDir>/test/browser/**/*.browser.test.ts'],
    },
  ],
};
