// First: tracing must start before the modules it instruments load.
import './tracing.js';
import { openServiceInfrastructure } from '@pep/db';
import { createLogger, main, parseConfig, runService } from '@pep/service-kit';
import { buildApp } from './app.js';
import { configSchema } from './config.js';
import { migrationsDir } from './migrations.js';
import { topics } from './topics.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logger = createLogger({ service: 'auth', level: config.LOG_LEVEL });
  const { database, bus, close } = await openServiceInfrastructure(config, { logger, migrationsDir, topics });
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    signingKeySecret: config.SIGNING_KEY_SECRET,
    signingKeyRotationDays: config.SIGNING_KEY_ROTATION_DAYS,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    publicUrl: config.PUBLIC_URL,
    mailer: config.SMTP_URL
      ? { from: config.MAIL_FROM, smtpUrl: config.SMTP_URL }
      : { from: config.MAIL_FROM, directory: config.MAIL_DIR! },
    bodyLimit: config.BODY_LIMIT_BYTES,
    avatarMaxBytes: config.AVATAR_MAX_BYTES,
    integratorRateLimitMaxPerMinute: config.INTEGRATOR_RATE_LIMIT_MAX_PER_MINUTE,
    schedulingUrl: config.SCHEDULING_URL,
    ownerLookupTimeoutMs: config.OWNER_LOOKUP_TIMEOUT_MS,
    ...(config.GATEWAY_URL ? { gatewayUrl: config.GATEWAY_URL } : {}),
    ...(config.ZENDESK_SHARED_SECRET ? { zendeskSharedSecret: config.ZENDESK_SHARED_SECRET } : {}),
  });
  await runService(app, {
    host: config.HOST,
    port: config.PORT,
    metricsPort: config.METRICS_PORT,
    logger,
    shutdownTimeoutSeconds: config.SHUTDOWN_TIMEOUT_SECONDS,
    afterClose: close,
  });
});
