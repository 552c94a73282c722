import type { ControllableKafka } from './kafka.js';
import { waitForKafka } from './kafka-ready.js';
import { freePort } from './ports.js';

const PROBE_TIMEOUT_MS = 1_500;
/** Same Kafka line as the local broker, so both paths behave alike. */
const KAFKA_IMAGE = 'apache/kafka:3.9.1';
const POSTGRES_IMAGE = 'postgres:15-alpine';

let probe: Promise<boolean> | undefined;

/** True when testcontainers finds a container engine that answers; decided once per process, within ~2 s. */
export function containerRuntimeAvailable(): Promise<boolean> {
  probe ??= (async () => {
    try {
      const { getContainerRuntimeClient } = await import('testcontainers');
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(false), PROBE_TIMEOUT_MS);
        timer.unref();
      });
      const answered = getContainerRuntimeClient().then(
        () => true,
        () => false,
      );
      const result = await Promise.race([answered, timeout]);
      clearTimeout(timer);
      return result;
    } catch {
      return false;
    }
  })();
  return probe;
}

/** A PostgreSQL container; `url` connects as its superuser. */
export async function startPostgresContainer(): Promise<{ url: string; stop(): Promise<void> }> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const container = await new PostgreSqlContainer(POSTGRES_IMAGE).start();
  return {
    url: container.getConnectionUri(),
    stop: async () => {
      await container.stop();
    },
  };
}

/**
 * A single-node KRaft Kafka container. Its host port is bound explicitly and advertised as such, so a docker
 * stop/start keeps both the address and the container's data (topics, committed offsets).
 */
export async function startKafkaContainer(): Promise<ControllableKafka> {
  const { GenericContainer, Wait, getContainerRuntimeClient } = await import('testcontainers');
  const client = await getContainerRuntimeClient();
  const host = client.info.containerRuntime.host;
  const port = await freePort();
  const brokers = [`${host}:${port}`];
  const container = await new GenericContainer(KAFKA_IMAGE)
    .withExposedPorts({ container: 9092, host: port })
    .withEnvironment({
      KAFKA_NODE_ID: '1',
      KAFKA_PROCESS_ROLES: 'broker,controller',
      KAFKA_LISTENERS: 'PLAINTEXT://0.0.0.0:9092,BROKER://0.0.0.0:9094,CONTROLLER://0.0.0.0:9093',
      // Clients outside use the fixed host port; the broker talks to itself on an in-container listener.
      KAFKA_ADVERTISED_LISTENERS: `PLAINTEXT://${host}:${port},BROKER://localhost:9094`,
      KAFKA_LISTENER_SECURITY_PROTOCOL_MAP: 'PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT',
      KAFKA_INTER_BROKER_LISTENER_NAME: 'BROKER',
      KAFKA_CONTROLLER_LISTENER_NAMES: 'CONTROLLER',
      KAFKA_CONTROLLER_QUORUM_VOTERS: '1@localhost:9093',
      KAFKA_NUM_PARTITIONS: '3',
      KAFKA_AUTO_CREATE_TOPICS_ENABLE: 'true',
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR: '1',
      KAFKA_TRANSACTION_STATE_LOG_MIN_ISR: '1',
      KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS: '0',
      KAFKA_HEAP_OPTS: '-Xms256m -Xmx512m',
    })
    .withWaitStrategy(Wait.forListeningPorts())
    .withStartupTimeout(120_000)
    .start();
  const ready = (): Promise<void> => waitForKafka(brokers, { timeoutMs: 90_000 });
  try {
    await ready();
  } catch (error) {
    await container.stop().catch(() => undefined);
    throw error;
  }
  const handle = () => client.container.getById(container.getId());
  let running = true;
  let destroyed = false;
  return {
    brokers,
    async stop() {
      if (!running) return;
      await client.container.stop(handle(), { timeout: 10 });
      running = false;
    },
    async start() {
      if (destroyed) throw new Error('Kafka container was destroyed');
      if (running) return;
      await client.container.start(handle());
      running = true;
      await ready();
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      if (running) {
        await container.stop();
      } else {
        await client.container.remove(handle(), { removeVolumes: true });
      }
    },
  };
}
