import { defineConfig } from 'vitest/config';
import { testDefaults } from '../../vitest.shared.js';

// The test starts the embedded platform (four PGlite databases, no Postgres or Kafka).
export default defineConfig(testDefaults);
