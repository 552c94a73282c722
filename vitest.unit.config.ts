import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { testDefaults } from './vitest.shared.js';

// `npm run test:unit`: every project's `*.test.ts` in one run, with no Postgres or Kafka. Infrastructure is never
// started here (no global setup), so a test that needs it fails in this lane and belongs in a `*.int.test.ts` file.
const workspace = fileURLToPath(new URL('.', import.meta.url));
const projectRoots = ['packages', 'services'].flatMap((folder) =>
  readdirSync(`${workspace}${folder}`, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(`${workspace}${folder}/${entry.name}/vitest.config.ts`))
    .map((entry) => `${folder}/${entry.name}`),
);

export default defineConfig({
  test: {
    maxWorkers: 2,
    pool: 'forks',
    projects: projectRoots.map((root) => ({
      ...testDefaults,
      test: {
        ...testDefaults.test,
        name: root,
        root: `${workspace}${root}`,
        include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
        exclude: ['**/*.int.test.ts', '**/node_modules/**', '**/dist/**'],
      },
    })),
  },
});
