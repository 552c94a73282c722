import { randomUUID } from 'node:crypto';
import { createTestDatabase, kafkaBrokers, type TestDatabase } from '@pep/testing';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openServiceInfrastructure, type InfrastructureConfig } from './infrastructure.js';

describe('openServiceInfrastructure', () => {
  let testDb: TestDatabase;
  beforeAll(async () => {
    testDb = await createTestDatabase('db_infrastructure');
  });
  afterAll(async () => {
    await testDb?.drop();
  });

  it('holds at most DATABASE_POOL_MAX connections to Postgres per process', async () => {
    // No brokers: the in-process bus, so only the database matters here.
    const config = {
      NODE_ENV: 'test',
      DATABASE_URL: testDb.url,
      DATABASE_POOL_MAX: 2,
      KAFKA_CLIENT_ID: 'infrastructure-test',
      TOPIC_PREFIX: '',
      MIGRATE_ON_START: false,
    } as InfrastructureConfig;
    const { database, close } = await openServiceInfrastructure(config, { logger: pino({ level: 'silent' }), migrationsDir: '.' });
    try {
      const first = await database.sql.connect();
      const second = await database.sql.connect();
      let third: Awaited<ReturnType<typeof database.sql.connect>> | null = null;
      const waiting = database.sql.connect().then((session) => (third = session));
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The pool is full: the third session waits for one to come back rather than opening a third connection.
      expect(third).toBeNull();
      await first.release();
      await waiting;
      expect(third).not.toBeNull();
      await second.release();
      await third!.release();
    } finally {
      await close();
    }
  });

  describe('in KAFKA_TOPICS=verify mode', () => {
    const topics = { service: 'infra', publishes: ['infra.thing'], groups: {}, deadLetters: true };
    const kafkaConfig = (brokers: string[]) =>
      ({
        NODE_ENV: 'test',
        DATABASE_URL: testDb.url,
        KAFKA_BROKERS: brokers,
        KAFKA_CLIENT_ID: 'infrastructure-test',
        // A prefix of its own: the topic is missing on the shared broker whatever other tests created.
        TOPIC_PREFIX: `infra-${randomUUID()}.`,
        MIGRATE_ON_START: false,
        KAFKA_TOPICS: 'verify',
        KAFKA_TOPIC_PARTITIONS: 1,
        KAFKA_TOPIC_RETENTION_MS: 60_000,
        KAFKA_DLQ_RETENTION_MS: 60_000,
      }) as InfrastructureConfig;

    it('starts when Kafka does not answer, as when consumers join in the background', async () => {
      const { bus, close } = await openServiceInfrastructure(kafkaConfig(['127.0.0.1:1']), {
        logger: pino({ level: 'silent' }),
        migrationsDir: '.',
        topics,
      });
      expect(await bus.healthy()).toBe(false);
      await close();
    });

    it('still refuses to start on a reachable broker without the declared topics', async () => {
      await expect(
        openServiceInfrastructure(kafkaConfig(await kafkaBrokers()), { logger: pino({ level: 'silent' }), migrationsDir: '.', topics }),
      ).rejects.toThrow(/infra\.thing: missing/);
    });
  });
});
