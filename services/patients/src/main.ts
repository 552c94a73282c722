// First: tracing must start before the modules it instruments load.
import './tracing.js';
import { openServiceInfrastructure } from '@pep/db';
import { controllableClock, createLogger, main, parseConfig, registerClockRoutes, runService } from '@pep/service-kit';
import { buildApp } from './app.js';
import { configSchema } from './config.js';
import { migrationsDir } from './migrations.js';
import { topics } from './topics.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logger = createLogger({ service: 'patients', level: config.LOG_LEVEL });
  const { database, bus, close } = await openServiceInfrastructure(config, { logger, migrationsDir, topics });
  // Referrals expire by this clock; end-to-end tests move it with scheduling's and messaging's (ADR 0009).
  const clock = config.CLOCK_CONTROL ? controllableClock() : null;
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    bodyLimit: config.BODY_LIMIT_BYTES,
    nppes: { url: config.NPPES_API_URL, timeoutMs: config.NPPES_TIMEOUT_MS },
    referralExpiryIntervalMs: config.REFERRAL_EXPIRY_SECONDS * 1000,
    mailer: config.SMTP_URL
      ? { from: config.MAIL_FROM, smtpUrl: config.SMTP_URL }
      : config.MAIL_DIR
        ? { from: config.MAIL_FROM, directory: config.MAIL_DIR }
        : null,
    ...(clock ? { clock } : {}),
  });
  if (clock) registerClockRoutes(app, clock, logger);
  await runService(app, {
    host: config.HOST,
    port: config.PORT,
    metricsPort: config.METRICS_PORT,
    logger,
    shutdownTimeoutSeconds: config.SHUTDOWN_TIMEOUT_SECONDS,
    afterClose: close,
  });
});
