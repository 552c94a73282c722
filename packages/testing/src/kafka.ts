import { containerRuntimeAvailable, startKafkaContainer } from './containers.js';
import { parseBrokerList, waitForKafka } from './kafka-ready.js';
import { LocalKafkaBroker } from './local-kafka-broker.js';

/** A Kafka broker a test owns and may take down and bring back (same address, same data). */
export interface ControllableKafka {
  brokers: string[];
  /** Takes the broker down; clients see connection errors until {@link start}. */
  stop(): Promise<void>;
  /** Brings the broker back on the same address with its topics and committed offsets; resolves when ready. */
  start(): Promise<void>;
  /** Stops the broker and discards its data. */
  destroy(): Promise<void>;
}

let processBroker: Promise<string[]> | undefined;

/**
 * The broker shared by the current test run: `KAFKA_BROKERS` (set by the root runner or by this package's
 * vitest globalSetup, which test workers inherit), else one started lazily for this process.
 */
export function kafkaBrokers(): Promise<string[]> {
  const fromEnv = parseBrokerList(process.env.KAFKA_BROKERS);
  if (fromEnv) return Promise.resolve(fromEnv);
  processBroker ??= (async () => {
    process.stderr.write(
      '[@pep/testing] KAFKA_BROKERS is not set and no globalSetup provided a broker: starting one for this process ' +
        "(add @pep/testing's src/global-setup.ts to vitest globalSetup to share one per run)\n",
    );
    // Released at process exit by the broker's own exit hook.
    const kafka = await provisionKafka();
    return kafka.brokers;
  })();
  processBroker.catch(() => {
    processBroker = undefined;
  });
  return processBroker;
}

/** Starts a broker for one test that may stop and restart it: a container when an engine answers, else a local JVM. */
export function startDedicatedKafka(): Promise<ControllableKafka> {
  return provisionKafka();
}

async function provisionKafka(): Promise<ControllableKafka> {
  if (await containerRuntimeAvailable()) return startKafkaContainer();
  return LocalKafkaBroker.start();
}

/** The run-wide broker: KAFKA_BROKERS when given (checked to answer), else a new one that `stop` destroys. */
export async function provisionSharedKafka(): Promise<{ brokers: string[]; stop(): Promise<void> }> {
  const fromEnv = parseBrokerList(process.env.KAFKA_BROKERS);
  if (fromEnv) {
    try {
      await waitForKafka(fromEnv, { timeoutMs: 30_000 });
    } catch (error) {
      throw new Error(`KAFKA_BROKERS=${fromEnv.join(',')} does not answer: ${(error as Error).message}`, { cause: error });
    }
    return { brokers: fromEnv, stop: async () => undefined };
  }
  const kafka = await provisionKafka();
  return { brokers: kafka.brokers, stop: () => kafka.destroy() };
}
