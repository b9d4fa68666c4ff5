/**
 * Jest runs in native ESM mode (node --experimental-vm-modules, see `npm test`) because jose 6 is
 * ESM-only; ts-jest transpiles TypeScript to ESM. Workspace packages resolve to their sources.
 * @type {import('jest').Config}
 */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: '<rootDir>/tsconfig.test.json' }],
  },
  moduleNameMapper: {
    '^@herald/protocol$': '<rootDir>/protocol/src/index.ts',
    '^@herald/publisher-sdk$': '<rootDir>/publisher-sdk/src/index.ts',
    '^@herald/publisher-sdk/storage$': '<rootDir>/publisher-sdk/src/storage/index.ts',
    '^@herald/gateway$': '<rootDir>/gateway/src/index.ts',
    '^@herald/client$': '<rootDir>/client/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  setupFiles: ['<rootDir>/test/support/fetch-closes-connections.ts'],
  testMatch: ['<rootDir>/**/test/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  testTimeout: 60_000,
  maxWorkers: 2,
};
