import { openServiceInfrastructure } from '@pep/db';
import { createLogger, main, parseConfig, runService } from '@pep/service-kit';
import { buildApp } from './app.js';
import { configSchema } from './config.js';
import { migrationsDir } from './migrations.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logger = createLogger({ service: 'patients', level: config.LOG_LEVEL });
  const { database, bus, close } = await openServiceInfrastructure(config, { logger, migrationsDir });
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  await runService(app, {
    host: config.HOST,
    port: config.PORT,
    logger,
    shutdownTimeoutSeconds: config.SHUTDOWN_TIMEOUT_SECONDS,
    afterClose: close,
  });
});
