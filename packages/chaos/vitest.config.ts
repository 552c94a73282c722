import { defineConfig } from 'vitest/config';
import { testDefaults } from '../../vitest.shared.js';

// No shared broker: the fault-injection run starts its own, since it stops and restarts it.
export default defineConfig({ ...testDefaults, test: { ...testDefaults.test, include: ['src/**/*.test.ts'], maxWorkers: 1 } });
