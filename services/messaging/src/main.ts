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
  const logger = createLogger({ service: 'messaging', level: config.LOG_LEVEL });
  const { database, bus, close } = await openServiceInfrastructure(config, { logger, migrationsDir, topics });
  const clock = config.CLOCK_CONTROL ? controllableClock() : null;
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    bodyLimit: config.BODY_LIMIT_BYTES,
    publicUrl: config.PUBLIC_URL,
    twilio: config.TWILIO_ACCOUNT_SID
      ? {
          accountSid: config.TWILIO_ACCOUNT_SID,
          authToken: config.TWILIO_AUTH_TOKEN!,
          from: config.TWILIO_FROM!,
          apiUrl: config.TWILIO_API_URL,
        }
      : null,
    ...(config.SMS_SINK_WEBHOOK_TOKEN ? { sinkWebhookToken: config.SMS_SINK_WEBHOOK_TOKEN } : {}),
    bandwidthCallback: config.BANDWIDTH_CALLBACK_USERNAME
      ? { username: config.BANDWIDTH_CALLBACK_USERNAME, password: config.BANDWIDTH_CALLBACK_PASSWORD! }
      : null,
    mailer: config.SMTP_URL
      ? { from: config.MAIL_FROM, smtpUrl: config.SMTP_URL }
      : { from: config.MAIL_FROM, directory: config.MAIL_DIR! },
    dispatcher: {
      intervalMs: config.DISPATCH_INTERVAL_MS,
      batchSize: config.DISPATCH_BATCH_SIZE,
      lanes: config.DISPATCH_LANES,
      staleAfterMs: config.REMINDER_STALE_AFTER_MINUTES * 60_000,
      minLeadMs: config.REMINDER_MIN_LEAD_MINUTES * 60_000,
      spacingMs: config.PATIENT_TEXT_SPACING_SECONDS * 1_000,
    },
    pendingSweep: {
      settleAfterMs: config.PENDING_SETTLE_AFTER_MINUTES * 60_000,
      minRealAgeMs: config.PENDING_SETTLE_MIN_REAL_SECONDS * 1_000,
      intervalMs: config.PENDING_SWEEP_INTERVAL_MS,
    },
    quota: {
      patientPerHour: config.SEND_QUOTA_PATIENT_PER_HOUR,
      patientPerDay: config.SEND_QUOTA_PATIENT_PER_DAY,
      organizationPerMinute: config.SEND_QUOTA_ORGANIZATION_PER_MINUTE,
      organizationPerDay: config.SEND_QUOTA_ORGANIZATION_PER_DAY,
      automatedFactor: config.SEND_QUOTA_AUTOMATED_FACTOR,
    },
    patientsUrl: config.PATIENTS_URL,
    schedulingUrl: config.SCHEDULING_URL,
    ownerLookupTimeoutMs: config.OWNER_LOOKUP_TIMEOUT_MS,
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
