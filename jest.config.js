// Unit tests live beside the code (*.spec.ts); e2e tests boot the real app against PostgreSQL and Redis (test/, *.e2e-spec.ts).
const tsJest = ['ts-jest', { isolatedModules: true, diagnostics: false }];
// @fastify/static ships one ESM-only dependency; Node requires it natively, Jest needs it transpiled.
const esmJs = ['ts-jest', { isolatedModules: true, diagnostics: false, tsconfig: { allowJs: true, module: 'commonjs', target: 'es2022' } }];
const transform = { '^.+\\.ts$': tsJest, '/node_modules/.+/content-disposition/.+\\.js$': esmJs };
const transformIgnorePatterns = ['^(?!.*/node_modules/content-disposition/).*/node_modules/'];
// The pipeline client's packages are tested from their sources, built or not.
const moduleNameMapper = { '^@queue-mutex/client$': '<rootDir>/packages/client/src/index.ts' };
const testPathIgnorePatterns = ['/node_modules/', '/dist/', '<rootDir>/bench/results/'];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      roots: ['<rootDir>/src', '<rootDir>/packages', '<rootDir>/actions', '<rootDir>/bench'],
      testMatch: ['**/*.spec.ts'],
      testPathIgnorePatterns,
      moduleNameMapper,
      transform,
      transformIgnorePatterns,
    },
    {
      displayName: 'e2e',
      testEnvironment: 'node',
      roots: ['<rootDir>/test'],
      testMatch: ['**/*.e2e-spec.ts'],
      transform,
      transformIgnorePatterns,
      setupFiles: ['<rootDir>/test/support/setup-env.ts'],
    },
  ],
  testTimeout: 60_000,
  // The e2e tests boot real instances and kill real Redis and PostgreSQL processes under them:
  // a reconnect timer of a client whose server is gone may outlive its test file, and a run whose
  // tests all finished must not then wait on it.
  forceExit: true,
};
