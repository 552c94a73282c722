import type { Bus } from './bus.js';
import { InProcessBus, type InProcessBusOptions } from './in-process-bus.js';
import { KafkaBus, type KafkaBusOptions } from './kafka-bus.js';

export * from './bus.js';
export { InProcessBus, type InProcessBusOptions } from './in-process-bus.js';
export { KafkaBus, type KafkaBusOptions, type KafkaSaslOptions, type KafkaTlsOptions, type TopicProvisioning } from './kafka-bus.js';
export * from './topics.js';
export { clientCredentialsTokenProvider, type ClientCredentials } from './oauth-token.js';
export { deadLetterHeaders, retryDelay, retryPolicy, runWithRetry, type RetryOutcome, type RetryPolicy } from './delivery.js';
export { murmur2, partitionForKey } from './murmur2.js';
export * from './tracing.js';

/** Which transport {@link createBus} builds, with that transport's options. */
export type BusConfig = ({ kind: 'kafka' } & KafkaBusOptions) | ({ kind: 'in-process' } & InProcessBusOptions);

/** Builds the bus a runtime asked for: Kafka in production, in-process for the embedded platform. */
export function createBus(config: BusConfig): Bus {
  if (config.kind === 'kafka') {
    const { kind: _kind, ...options } = config;
    return new KafkaBus(options);
  }
  const { kind: _kind, ...options } = config;
  return new InProcessBus(options);
}
