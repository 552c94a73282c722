import { KafkaBus } from '@pep/bus';
import { createLogger, signIdentity, type Identity, type Logger, type ServiceApp } from '@pep/service-kit';
import { createTestDatabase, uniqueTopicPrefix } from '@pep/testing';
import { openDatabase, type Database } from '../connection.js';
import type { EventedServiceDeps } from '../evented-service.js';
import { migrate } from '../migrate.js';

/** The internal identity secret services under test verify callers with. */
export const TEST_INTERNAL_SECRET = 'test-internal-secret-0123456789abcdef';

/** Headers of a request made by `identity`, as the gateway would send them. */
export async function headersOf(identity: Identity): Promise<Record<string, string>> {
  return { 'x-internal-identity': await signIdentity(TEST_INTERNAL_SECRET, identity) };
}

/** A service on its own fresh Postgres database and topic prefix, on the test brokers. */
export interface ServiceUnderTest<Built = ServiceApp> {
  app: ServiceApp;
  /** What the service's build function returned (the app, or the app with handles tests drive). */
  built: Built;
  database: Database;
  bus: KafkaBus;
  topicPrefix: string;
  databaseUrl: string;
  /** Runs `fn` when the service is closed, before its database is dropped. */
  onClose(fn: () => Promise<void> | void): void;
  /** Stops the service and its connections, keeping its database (a crash or a deploy; another start may share it). */
  stop(): Promise<void>;
  /** Stops the service and drops the database it created. */
  close(): Promise<void>;
}

/** What {@link startServiceUnderTest} needs. */
export interface StartServiceOptions<Built> {
  /** The service's name, for its logger. */
  service: string;
  /** Names the database and topic prefix, so a failed run's leftovers say which test made them. */
  label: string;
  brokers: string[];
  migrationsDir: string;
  /** Connections of the service's pool (a concurrency test wants every request in flight at once). */
  poolMax?: number;
  maxEventAttempts?: number;
  /** An existing database to start on (a second replica, a restart): migrated, and kept when the service closes. */
  databaseUrl?: string;
  /** The topic prefix of the instance shared with (default a fresh one). */
  topicPrefix?: string;
  /** Where the service and its bus log (default silent, or `TEST_LOG_LEVEL`): a test that reads the logs passes its own. */
  logger?: Logger;
  /** Builds the service from the common deps, adding its own. */
  build: (deps: EventedServiceDeps) => Promise<Built>;
}

/**
 * Starts a service the way every integration test does: a fresh database, migrated; its own topic prefix; a silent
 * logger (`TEST_LOG_LEVEL` to see it); the app built and ready. `close()` undoes it all in reverse order.
 */
export async function startServiceUnderTest<Built extends ServiceApp | { app: ServiceApp }>(
  options: StartServiceOptions<Built>,
): Promise<ServiceUnderTest<Built>> {
  const testDatabase = options.databaseUrl ? null : await createTestDatabase(options.label);
  const databaseUrl = options.databaseUrl ?? testDatabase!.url;
  const database = await openDatabase({
    kind: 'postgres',
    url: databaseUrl,
    ...(options.poolMax !== undefined ? { poolMax: options.poolMax } : {}),
  });
  const topicPrefix = options.topicPrefix ?? uniqueTopicPrefix(options.label);
  const logger = options.logger ?? createLogger({ service: options.service, level: process.env['TEST_LOG_LEVEL'] ?? 'silent' });
  const bus = new KafkaBus({ brokers: options.brokers, clientId: `test-${options.label}`, topicPrefix, logger });
  let app: ServiceApp | null = null;
  let built: Built;
  try {
    await migrate(database, { migrationsDir: options.migrationsDir });
    built = await options.build({
      logger,
      database,
      bus,
      internalAuthSecret: TEST_INTERNAL_SECRET,
      bodyLimit: 16 * 1024,
      outboxPollIntervalMs: 200,
      ...(options.maxEventAttempts !== undefined ? { maxEventAttempts: options.maxEventAttempts } : {}),
    });
    // Fastify instances have no `app`; a service that hands tests more than its app returns `{ app, … }`.
    app = (built as { app?: ServiceApp }).app ?? (built as ServiceApp);
    await app.ready();
  } catch (error) {
    // A start that failed leaves nothing behind, so the caller may simply start again.
    await app?.close().catch(() => undefined);
    await bus.close().catch(() => undefined);
    await database.close().catch(() => undefined);
    await testDatabase?.drop().catch(() => undefined);
    throw error;
  }
  const started = app;
  const cleanups: Array<() => Promise<void> | void> = [];
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await started.close();
    for (const cleanup of cleanups.reverse()) await cleanup();
    await bus.close();
    await database.close();
  };
  return {
    app: started,
    built,
    database,
    bus,
    topicPrefix,
    databaseUrl,
    onClose: (fn) => cleanups.push(fn),
    stop,
    async close() {
      await stop();
      await testDatabase?.drop();
    },
  };
}
