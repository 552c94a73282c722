// Type-only: makes inject('kafkaBrokers') / inject('databaseUrl') typed in every test that imports this package.
import type {} from './provided-context.js';

export { ensureTestInfrastructure, type TestInfrastructure } from './infrastructure.js';
export { kafkaBrokers, startDedicatedKafka, type ControllableKafka } from './kafka.js';
export { waitForKafka, parseBrokerList, type WaitForKafkaOptions } from './kafka-ready.js';
export { KAFKA_VERSION, ensureKafkaJars, kafkaCacheDir } from './kafka-jars.js';
export { LocalKafkaBroker, type LocalKafkaBrokerOptions, type LocalKafkaSaslListener } from './local-kafka-broker.js';
export { uniqueTopicPrefix } from './names.js';
export { createTestDatabase, postgresAdminUrl, LOCAL_POSTGRES_URL, type TestDatabase } from './postgres.js';
export { waitFor, sleep, type WaitForOptions } from './wait-for.js';
export { containerRuntimeAvailable } from './containers.js';
export { freePort } from './ports.js';
export { startTwilioFake, type TwilioFake, type FakeSend, type TwilioFaultMode } from './twilio-fake.js';
export { guardResources, type ProcessGuard } from './process-guard.js';
export { startSmtpSink, type SmtpSink } from './smtp-sink.js';
export { startNppesFake, nppesRecord, type NppesFake, type NppesFaultMode, type NppesRecord } from './nppes-fake.js';
export {
  startStripeFake,
  signStripeWebhook,
  stripeEvent,
  stripeId,
  decodeStripeForm,
  type StripeFake,
  type StripeFakeError,
  type StripeFakeRequest,
} from './stripe-fake.js';
export { startOtlpCollector, spansOfExport, OTLP_SPAN_KIND, type OtlpCollector, type CollectedSpan } from './otlp-collector.js';
