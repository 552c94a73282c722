import { defineConfig } from 'vitest/config';
import { infrastructureTestDefaults } from '../../vitest.shared.js';

// Each test file starts the whole platform (four PGlite databases): two at once starve two cores.
export default defineConfig({ ...infrastructureTestDefaults, test: { ...infrastructureTestDefaults.test, fileParallelism: false } });
