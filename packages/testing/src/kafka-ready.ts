import { Kafka, logLevel } from 'kafkajs';
import { sleep } from './wait-for.js';

/** Options for {@link waitForKafka}. */
export interface WaitForKafkaOptions {
  timeoutMs: number;
  /** Returns a reason when waiting is pointless (e.g. the broker process already exited). */
  failure?: () => string | undefined;
}

/** Resolves once a broker at `brokers` answers admin requests; throws after `timeoutMs`. */
export async function waitForKafka(brokers: string[], options: WaitForKafkaOptions): Promise<void> {
  // No retries inside kafkajs: this loop owns the time bound, and kafkajs' own logging would only be noise.
  const kafka = new Kafka({
    clientId: 'pep-testing-readiness',
    brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 1_000,
    requestTimeout: 5_000,
    retry: { retries: 0 },
  });
  const deadline = Date.now() + options.timeoutMs;
  let lastError = 'no attempt finished';
  while (Date.now() < deadline) {
    const failure = options.failure?.();
    if (failure) throw new Error(failure);
    const admin = kafka.admin();
    try {
      await admin.connect();
      const cluster = await admin.describeCluster();
      if (cluster.brokers.length > 0) {
        await admin.listTopics();
        return;
      }
      lastError = 'cluster reports no brokers yet';
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    } finally {
      await admin.disconnect().catch(() => undefined);
    }
    await sleep(250);
  }
  throw new Error(`Kafka at ${brokers.join(',')} was not ready within ${options.timeoutMs} ms (last error: ${lastError})`);
}

/** Parses a comma-separated `host:port` list such as the KAFKA_BROKERS variable; undefined when empty. */
export function parseBrokerList(value: string | undefined): string[] | undefined {
  const brokers = (value ?? '')
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry.length > 0);
  return brokers.length > 0 ? brokers : undefined;
}
