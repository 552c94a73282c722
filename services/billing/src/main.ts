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
  const logger = createLogger({ service: 'billing', level: config.LOG_LEVEL });
  const { database, bus, close } = await openServiceInfrastructure(config, { logger, migrationsDir, topics });
  // Grace periods (and the sandbox's subscription periods) run on this clock, so an end-to-end test can end one without
  // waiting 14 days (ADR 0009). The webhook's 300-second tolerance is not: Stripe signs with its own real time, and a
  // moved clock would refuse every genuine signature as stale.
  const clock = config.CLOCK_CONTROL ? controllableClock() : null;
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    bodyLimit: config.BODY_LIMIT_BYTES,
    stripe: config.STRIPE_SECRET_KEY
      ? {
          secretKey: config.STRIPE_SECRET_KEY,
          timeoutMs: config.STRIPE_TIMEOUT_MS,
          maxNetworkRetries: config.STRIPE_MAX_NETWORK_RETRIES,
          ...(config.STRIPE_API_BASE ? { apiBase: config.STRIPE_API_BASE } : {}),
        }
      : null,
    stripeWebhookSecret: config.STRIPE_WEBHOOK_SECRET ?? null,
    usageReports: { meterEventName: config.STRIPE_TEXTING_METER, intervalMs: config.BILLING_USAGE_REPORT_SECONDS * 1000 },
    ...(config.BILLING_PLANS ? { plans: config.BILLING_PLANS } : {}),
    grace: { days: config.BILLING_GRACE_DAYS, reminderDaysBefore: config.BILLING_GRACE_REMINDER_DAYS },
    gracePollIntervalMs: config.BILLING_GRACE_POLL_SECONDS * 1000,
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
