import type { ViteUserConfig } from 'vitest/config';

/** Settings every project's tests share: workspace packages resolve to their TypeScript sources. */
export const testDefaults: ViteUserConfig = {
  resolve: { conditions: ['source', 'node', 'import', 'default'] },
  ssr: { resolve: { conditions: ['source', 'node', 'import', 'default'], externalConditions: ['source'] } },
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
