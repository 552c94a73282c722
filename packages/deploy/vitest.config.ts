import { defineConfig } from 'vitest/config';
import { testDefaults } from '../../vitest.shared.js';

// This project has no sources of its own: its tests check files elsewhere in the repository.
export default defineConfig({
  ...testDefaults,
  test: { ...testDefaults.test, include: ['test/*.test.ts'] },
});
