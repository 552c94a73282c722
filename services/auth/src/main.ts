import { createBus } from '@pep/bus';
import { migrate, openDatabase } from '@pep/db';
import { createLogger, main, parseConfig, runService } from '@pep/service-kit';
import { buildApp } from './app.js';
import { configSchema } from './config.js';
import { migrationsDir } from './migrations.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logger = createLogger({ service: 'auth', level: config.LOG_LEVEL });
  const database = await openDatabase(
    config.DATABASE_URL ? { kind: 'postgres', url: config.DATABASE_URL } : { kind: 'pglite', dataDir: config.PGLITE_DIR ?? null },
  );
  if (config.MIGRATE_ON_START) await migrate(database, { migrationsDir, logger });
  const bus = createBus(
    config.KAFKA_BROKERS
      ? { kind: 'kafka', brokers: config.KAFKA_BROKERS, clientId: config.KAFKA_CLIENT_ID, topicPrefix: config.TOPIC_PREFIX }
      : { kind: 'in-process' },
  );
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    signingKeySecret: config.SIGNING_KEY_SECRET,
    signingKeyRotationDays: config.SIGNING_KEY_ROTATION_DAYS,
    accessTokenTtlSeconds: config.ACCESS_TOKEN_TTL_SECONDS,
    publicUrl: config.PUBLIC_URL,
    mailer: config.SMTP_URL ? { from: config.MAIL_FROM, smtpUrl: config.SMTP_URL } : { from: config.MAIL_FROM, directory: config.MAIL_DIR! },
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  app.addHook('onClose', async () => {
    await bus.close();
    await database.close();
  });
  await runService(app, { host: config.HOST, port: config.PORT, logger, shutdownTimeoutSeconds: config.SHUTDOWN_TIMEOUT_SECONDS });
});
