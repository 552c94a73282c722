import { createBus, KafkaBus, type Bus } from '@pep/bus';
import { kafkaClientOptions, verifyTopicsAtStart, type KafkaSettings, type ServiceTopics } from '@pep/service-kit';
import type { Logger } from 'pino';
import { openDatabase, type Database } from './connection.js';
import { migrate } from './migrate.js';

/** The settings every service with data reads from its environment (see each service's config.ts). */
export interface InfrastructureConfig extends KafkaSettings {
  DATABASE_URL?: string | undefined;
  /** Connections this replica's pool may hold to Postgres (default 10); see docs/operations.md for sizing it. */
  DATABASE_POOL_MAX?: number | undefined;
  PGLITE_DIR?: string | undefined;
  KAFKA_BROKERS?: string[] | undefined;
  KAFKA_CLIENT_ID: string;
  TOPIC_PREFIX: string;
  /** Consumer session timeout; the bus's default (10 s) when absent. */
  KAFKA_SESSION_TIMEOUT_MS?: number | undefined;
  MIGRATE_ON_START: boolean;
}

/** A service process's database and bus, and how to release them once the app is closed. */
export interface ServiceInfrastructure {
  database: Database;
  bus: Bus;
  /** Closes the bus, then the database; call after the app closed (its outbox flush needs both). */
  close(): Promise<void>;
}

/**
 * Opens what a service's main needs: Postgres (or PGlite), migrated when asked, and Kafka (or the
 * in-process bus when no brokers are given, for a single process on a laptop).
 */
export async function openServiceInfrastructure(
  config: InfrastructureConfig,
  options: {
    logger: Logger;
    migrationsDir: string;
    /** The service's topic declaration: checked at start in `KAFKA_TOPICS=verify` mode (see kafkaTopicsMode). */
    topics?: ServiceTopics;
  },
): Promise<ServiceInfrastructure> {
  const { logger } = options;
  const database = await openDatabase(
    config.DATABASE_URL
      ? {
          kind: 'postgres',
          url: config.DATABASE_URL,
          ...(config.DATABASE_POOL_MAX !== undefined ? { poolMax: config.DATABASE_POOL_MAX } : {}),
        }
      : { kind: 'pglite', dataDir: config.PGLITE_DIR ?? null },
    { logger },
  );
  try {
    if (config.MIGRATE_ON_START) await migrate(database, { migrationsDir: options.migrationsDir, logger });
  } catch (error) {
    await database.close();
    throw error;
  }
  const bus = createBus(
    config.KAFKA_BROKERS
      ? {
          kind: 'kafka',
          brokers: config.KAFKA_BROKERS,
          clientId: config.KAFKA_CLIENT_ID,
          topicPrefix: config.TOPIC_PREFIX,
          logger,
          ...(config.KAFKA_SESSION_TIMEOUT_MS !== undefined ? { sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS } : {}),
          ...kafkaClientOptions(config),
        }
      : { kind: 'in-process', logger },
  );
  if (options.topics && bus instanceof KafkaBus) {
    try {
      await verifyTopicsAtStart(bus, options.topics, config, logger);
    } catch (error) {
      await bus.close();
      await database.close();
      throw error;
    }
  }
  return {
    database,
    bus,
    async close() {
      await bus.close();
      await database.close();
    },
  };
}
