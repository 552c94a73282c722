import { openServiceInfrastructure } from '@pep/db';
import { createLogger, main, parseConfig, runService } from '@pep/service-kit';
import { buildApp } from './app.js';
import { configSchema } from './config.js';
import { migrationsDir } from './migrations.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logger = createLogger({ service: 'messaging', level: config.LOG_LEVEL });
  const { database, bus, close } = await openServiceInfrastructure(config, { logger, migrationsDir });
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    bodyLimit: config.BODY_LIMIT_BYTES,
    publicUrl: config.PUBLIC_URL,
    twilio: config.TWILIO_ACCOUNT_SID
      ? { accountSid: config.TWILIO_ACCOUNT_SID, authToken: config.TWILIO_AUTH_TOKEN!, from: config.TWILIO_FROM!, apiUrl: config.TWILIO_API_URL }
      : null,
    mailer: config.SMTP_URL ? { from: config.MAIL_FROM, smtpUrl: config.SMTP_URL } : { from: config.MAIL_FROM, directory: config.MAIL_DIR! },
    dispatcher: { intervalMs: config.DISPATCH_INTERVAL_MS },
  });
  await runService(app, { host: config.HOST, port: config.PORT, logger, shutdownTimeoutSeconds: config.SHUTDOWN_TIMEOUT_SECONDS, afterClose: close });
});
