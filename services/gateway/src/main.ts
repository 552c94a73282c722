import { createLogger, main, parseConfig, runService } from '@pep/service-kit';
import { buildApp } from './app.js';
import { configSchema } from './config.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logger = createLogger({ service: 'gateway', level: config.LOG_LEVEL });
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
  });
  await runService(app, { host: config.HOST, port: config.PORT, logger, shutdownTimeoutSeconds: config.SHUTDOWN_TIMEOUT_SECONDS });
});
