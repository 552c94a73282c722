import type { TestProject } from 'vitest/node';
import { ensureTestInfrastructure } from './infrastructure.js';
import type {} from './provided-context.js';

/**
 * Vitest globalSetup: reuses KAFKA_BROKERS / TEST_DATABASE_URL when set, otherwise starts the services once for
 * the whole run; returns the teardown that stops what it started.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const infrastructure = await ensureTestInfrastructure();
  const previous = { KAFKA_BROKERS: process.env.KAFKA_BROKERS, TEST_DATABASE_URL: process.env.TEST_DATABASE_URL };
  // Test workers are forked after globalSetup and copy this process's environment, so kafkaBrokers() and
  // postgresAdminUrl() find the services there; inject() gets the same values.
  process.env.KAFKA_BROKERS = infrastructure.kafkaBrokers.join(',');
  process.env.TEST_DATABASE_URL = infrastructure.databaseUrl;
  project.provide('kafkaBrokers', infrastructure.kafkaBrokers);
  project.provide('databaseUrl', infrastructure.databaseUrl);
  return async () => {
    restore('KAFKA_BROKERS', previous.KAFKA_BROKERS);
    restore('TEST_DATABASE_URL', previous.TEST_DATABASE_URL);
    await infrastructure.stop();
  };
}

function restore(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}
