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
  const logger = createLogger({ service: 'scheduling', level: config.LOG_LEVEL });
  const { database, bus, close } = await openServiceInfrastructure(config, { logger, migrationsDir, topics });
  // Offers lapse by this clock; end-to-end tests move it with messaging's (ADR 0009).
  const clock = config.CLOCK_CONTROL ? controllableClock() : null;
  const app = await buildApp({
    logger,
    database,
    bus,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    patientsUrl: config.PATIENTS_URL,
    authUrl: config.AUTH_URL,
    bodyLimit: config.BODY_LIMIT_BYTES,
    ...(clock ? { now: clock } : {}),
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
