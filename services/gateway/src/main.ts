// First: tracing must start before the modules it instruments load.
import './tracing.js';
import { KafkaBus } from '@pep/bus';
import { createLogger, kafkaClientOptions, main, parseConfig, runService, verifyTopicsAtStart } from '@pep/service-kit';
import { buildApp } from './app.js';
import { configSchema, corsOriginsOf } from './config.js';
import { REVOCATION_TOPICS } from './revocations.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  if (config.CORS_ORIGINS === '*')
    logger.warn('CORS_ORIGINS is *: browsers on any web site may call the API with a token they hold; list your apps’ origins instead');
  const authUrl = config.UPSTREAMS.auth;
  if (!authUrl) throw new Error('UPSTREAMS must name auth: the gateway loads access-token revocations from it');
  const bus = new KafkaBus({
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID,
    topicPrefix: config.TOPIC_PREFIX,
    logger,
    ...(config.KAFKA_SESSION_TIMEOUT_MS !== undefined ? { sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS } : {}),
    ...kafkaClientOptions(config),
  });
  // auth's migration Job creates these; the gateway only reads them, with one group per replica and no dead letters.
  const topics = { service: 'gateway', publishes: [], groups: { 'gateway.revocations': [...REVOCATION_TOPICS] }, deadLetters: false };
  try {
    await verifyTopicsAtStart(bus, topics, config, logger);
  } catch (error) {
    await bus.close();
    throw error;
  }
  const app = await buildApp({
    logger,
    upstreams: config.UPSTREAMS,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    downtimeMessage: config.DOWNTIME_MESSAGE,
    bodyLimit: config.BODY_LIMIT_BYTES,
    upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
    jwksUrl: config.JWKS_URL,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
    corsOrigins: corsOriginsOf(config),
    trustProxyHops: config.TRUST_PROXY_HOPS,
    revocations: {
      bus,
      authUrl,
      refreshIntervalMs: config.REVOCATION_REFRESH_SECONDS * 1000,
      maxStalenessMs: config.REVOCATION_MAX_STALENESS_SECONDS * 1000,
      ...(config.GATEWAY_REPLICA_ID ? { replicaId: config.GATEWAY_REPLICA_ID } : {}),
    },
  });
  await runService(app, {
    host: config.HOST,
    port: config.PORT,
    metricsPort: config.METRICS_PORT,
    logger,
    shutdownTimeoutSeconds: config.SHUTDOWN_TIMEOUT_SECONDS,
    afterClose: () => bus.close(),
  });
});
