import { createBus } from '@pep/bus';
import { createLogger, main, parseConfig, runService } from '@pep/service-kit';
import { buildApp } from './app.js';
import { configSchema } from './config.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
  const authUrl = config.UPSTREAMS.auth;
  if (!authUrl) throw new Error('UPSTREAMS must name auth: the gateway loads access-token revocations from it');
  const bus = createBus({
    kind: 'kafka',
    brokers: config.KAFKA_BROKERS,
    clientId: config.KAFKA_CLIENT_ID,
    topicPrefix: config.TOPIC_PREFIX,
    logger,
    ...(config.KAFKA_SESSION_TIMEOUT_MS !== undefined ? { sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS } : {}),
  });
  const app = await buildApp({
    logger,
    upstreams: config.UPSTREAMS,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    downtimeMessage: config.DOWNTIME_MESSAGE,
    bodyLimit: config.BODY_LIMIT_BYTES,
    upstreamTimeoutMs: config.UPSTREAM_TIMEOUT_MS,
    jwksUrl: config.JWKS_URL,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
    corsOrigins: config.CORS_ORIGINS === '*' ? '*' : config.CORS_ORIGINS.split(',').map((origin) => origin.trim()),
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
    logger,
    shutdownTimeoutSeconds: config.SHUTDOWN_TIMEOUT_SECONDS,
    afterClose: () => bus.close(),
  });
});
