import { provisionSharedKafka } from './kafka.js';
import { provisionPostgres } from './postgres.js';

/** The services one whole test run shares. */
export interface TestInfrastructure {
  /** Admin-capable Postgres URL (hand it down as TEST_DATABASE_URL). */
  databaseUrl: string;
  /** Kafka bootstrap addresses (hand them down as KAFKA_BROKERS, comma-joined). */
  kafkaBrokers: string[];
  /** Releases whatever this call started (nothing for services taken from the environment). */
  stop(): Promise<void>;
}

/** Makes sure Postgres and a Kafka broker answer, starting them when the environment does not provide them. */
export async function ensureTestInfrastructure(): Promise<TestInfrastructure> {
  const postgres = await provisionPostgres();
  let kafka: Awaited<ReturnType<typeof provisionSharedKafka>>;
  try {
    kafka = await provisionSharedKafka();
  } catch (error) {
    await postgres.stop().catch(() => undefined);
    throw error;
  }
  let stopping: Promise<void> | undefined;
  return {
    databaseUrl: postgres.url,
    kafkaBrokers: kafka.brokers,
    stop: () => {
      stopping ??= (async () => {
        const results = await Promise.allSettled([kafka.stop(), postgres.stop()]);
        const failed = results.find((result): result is PromiseRejectedResult => result.status === 'rejected');
        if (failed) throw failed.reason;
      })();
      return stopping;
    },
  };
}
