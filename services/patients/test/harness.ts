import { KafkaBus } from '@pep/bus';
import { migrate, openDatabase, type Database } from '@pep/db';
import { createLogger, signIdentity, type Identity, type ServiceApp } from '@pep/service-kit';
import { createTestDatabase, uniqueTopicPrefix } from '@pep/testing';
import { buildApp } from '../src/app.js';
import { migrationsDir } from '../src/migrations.js';

export const SECRET = 'test-internal-secret-0123456789abcdef';

/** A patients service on its own fresh Postgres database and topic prefix, on the given brokers. */
export interface PatientsUnderTest {
  app: ServiceApp;
  database: Database;
  bus: KafkaBus;
  topicPrefix: string;
  databaseUrl: string;
  close(): Promise<void>;
}

export async function startPatients(
  label: string,
  brokers: string[],
  options: { maxEventAttempts?: number } = {},
): Promise<PatientsUnderTest> {
  const testDatabase = await createTestDatabase(label);
  const database = await openDatabase({ kind: 'postgres', url: testDatabase.url });
  await migrate(database, { migrationsDir });
  const topicPrefix = uniqueTopicPrefix(label);
  const logger = createLogger({ service: 'patients', level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const bus = new KafkaBus({ brokers, clientId: `test-${label}`, topicPrefix, logger });
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: SECRET,
    bodyLimit: 16 * 1024,
    outboxPollIntervalMs: 200,
    ...(options.maxEventAttempts !== undefined ? { maxEventAttempts: options.maxEventAttempts } : {}),
  });
  await app.ready();
  return {
    app,
    database,
    bus,
    topicPrefix,
    databaseUrl: testDatabase.url,
    async close() {
      await app.close();
      await bus.close();
      await database.close();
      await testDatabase.drop();
    },
  };
}

/** Headers of a request made by a member of the organization, as the gateway would send them. */
export async function as(identity: Identity): Promise<Record<string, string>> {
  return { 'x-internal-identity': await signIdentity(SECRET, identity) };
}

export const orgA: Identity = { organization: '6c0a4ad4-1f7b-4c55-9a0e-5a9f3f1b0a01', user: 'user-a', roles: ['staff'] };
export const orgB: Identity = { organization: '6c0a4ad4-1f7b-4c55-9a0e-5a9f3f1b0b02', user: 'user-b', roles: ['admin'] };
