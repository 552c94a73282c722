import type { ViteUserConfig } from 'vitest/config';

// `source` makes workspace packages resolve to their TypeScript sources. `import` is left out on
// purpose: vitest passes these to worker processes as `node --conditions`, and with `import` among
// them Node's require() picks some packages' ESM builds (pg → pg-pool/esm), which then fail to load.
const conditions = ['source', 'node', 'default'];

/** Settings every project's tests share. */
export const testDefaults: ViteUserConfig = {
  resolve: { conditions },
  ssr: { resolve: { conditions, externalConditions: ['source'] } },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    environment: 'node',
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Two cores: test files run one or two at a time so real brokers and databases are not starved.
    maxWorkers: 2,
    pool: 'forks',
  },
};

/** For projects whose tests need real Postgres and Kafka: one broker per run, shared by its files. */
export const infrastructureTestDefaults: ViteUserConfig = {
  ...testDefaults,
  test: { ...testDefaults.test, globalSetup: ['../../packages/testing/src/global-setup.ts'] },
};
