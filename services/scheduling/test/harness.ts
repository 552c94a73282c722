import { randomUUID } from 'node:crypto';
import { KafkaBus, type Subscription } from '@pep/bus';
import { createEvent, parseEvent, settingsChangedV1, type EventEnvelope } from '@pep/contracts';
import { migrate, openDatabase, type Database } from '@pep/db';
import { createLogger, signIdentity, type Identity, type ServiceApp } from '@pep/service-kit';
import { createTestDatabase, uniqueTopicPrefix } from '@pep/testing';
import { buildApp } from '../src/app.js';
import { migrationsDir } from '../src/migrations.js';

/** The internal identity secret the tests sign callers with. */
export const SECRET = 'test-internal-secret-0123456789abcdef';

/** A scheduling service on its own fresh Postgres database and topic prefix, on the given brokers. */
export interface SchedulingUnderTest {
  app: ServiceApp;
  database: Database;
  bus: KafkaBus;
  topicPrefix: string;
  databaseUrl: string;
  close(): Promise<void>;
}

/** Options of {@link startScheduling}. */
export interface StartOptions {
  /** Connections of the service's pool; the concurrency test wants every booking in flight at once. */
  poolMax?: number;
  /** The service's clock (offers lapse by it). */
  now?: () => Date;
  /** How often the service looks for lapsed offers. */
  offerExpiryIntervalMs?: number;
}

/** Starts a scheduling service on a fresh database, migrated, with its relay and consumer running. */
export async function startScheduling(label: string, brokers: string[], options: StartOptions = {}): Promise<SchedulingUnderTest> {
  const testDatabase = await createTestDatabase(label);
  const database = await openDatabase({ kind: 'postgres', url: testDatabase.url, ...(options.poolMax !== undefined ? { poolMax: options.poolMax } : {}) });
  await migrate(database, { migrationsDir });
  const topicPrefix = uniqueTopicPrefix(label);
  const logger = createLogger({ service: 'scheduling', level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const bus = new KafkaBus({ brokers, clientId: `test-${label}`, topicPrefix, logger });
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: SECRET,
    bodyLimit: 16 * 1024,
    outboxPollIntervalMs: 200,
    ...(options.now ? { now: options.now } : {}),
    ...(options.offerExpiryIntervalMs !== undefined ? { offerExpiryIntervalMs: options.offerExpiryIntervalMs } : {}),
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

/** Headers of a request made by this caller, as the gateway would send them. */
export async function as(identity: Identity): Promise<Record<string, string>> {
  return { 'x-internal-identity': await signIdentity(SECRET, identity) };
}

/** A fresh organization with callers of each kind scheduling distinguishes. */
export function organization() {
  const id = randomUUID();
  const caller = (roles: string[]): Identity => ({ organization: id, user: randomUUID(), roles });
  return { id, admin: caller(['admin']), staff: caller(['staff']), provider: caller(['provider']), integrator: caller(['integrator']), patient: caller(['patient']) };
}

/** Collects every event published on the given topics of a service under test. */
export async function observe(service: SchedulingUnderTest, brokers: string[], topics: string[]) {
  const seen: EventEnvelope[] = [];
  const observer = new KafkaBus({ brokers, clientId: `observer-${randomUUID()}`, topicPrefix: service.topicPrefix, logger: createLogger({ service: 'observer', level: 'silent' }) });
  const subscription: Subscription = await observer.subscribe({
    groupId: `test.observer.${randomUUID()}`,
    topics,
    handler: async (message) => {
      seen.push(parseEvent(message.value));
    },
  });
  return {
    seen,
    async stop() {
      await subscription.stop();
      await observer.close();
    },
  };
}

/** Publishes auth's settings.changed for an organization-wide setting, as auth would. */
export async function publishOrganizationSettings(
  service: SchedulingUnderTest,
  organization: string,
  settings: Record<string, unknown>,
  options: { settingId?: string; time?: Date; deleted?: boolean; id?: string } = {},
): Promise<EventEnvelope> {
  const settingId = options.settingId ?? randomUUID();
  const event = createEvent(settingsChangedV1, {
    source: '/services/auth',
    organization,
    subject: settingId,
    ...(options.time ? { time: options.time } : {}),
    ...(options.id ? { id: options.id } : {}),
    data: { _id: settingId, organization, ref: 'organization', refId: organization, settings, unsubscribed: [], unsubscribedAll: false, deleted: options.deleted ?? false },
  });
  await service.bus.publish([{ topic: settingsChangedV1.topic, key: settingId, value: JSON.stringify(event) }]);
  return event;
}
