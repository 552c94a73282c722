import { defineConfig } from 'vitest/config';
import { infrastructureTestDefaults } from '../../vitest.shared.js';

export default defineConfig(infrastructureTestDefaults);
