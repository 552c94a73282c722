// First: tracing must start before the modules it instruments load.
import './tracing.js';
import { createLogger, main, parseConfig } from '@pep/service-kit';
import { configSchema } from './config.js';
import { demoBanner, seedDemo } from './demo.js';
import { startPlatform } from './platform.js';
import { chooseLogFormat, terminalLogStream } from './terminal-log.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logDestination = chooseLogFormat(config.LOG_FORMAT, process.stdout.isTTY) === 'pretty' ? await terminalLogStream() : undefined;
  const logger = createLogger({ service: 'platform', level: config.LOG_LEVEL, ...(logDestination ? { destination: logDestination } : {}) });
  const platform = await startPlatform({
    logDestination,
    dataDir: config.DATA_DIR,
    host: config.HOST,
    port: config.PORT,
    logLevel: config.LOG_LEVEL,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    bodyLimit: config.BODY_LIMIT_BYTES,
    publicUrl: config.PUBLIC_URL,
    rateLimitPerMinute: config.RATE_LIMIT_PER_MINUTE,
    integratorRateLimitMaxPerMinute: config.INTEGRATOR_RATE_LIMIT_MAX_PER_MINUTE,
  });
  logger.info(
    // Nothing leaves the laptop: texts are listed by GET /api/messages, and a patient's reply is played with npm run reply.
    {
      url: platform.url,
      status: `${platform.url}/api/status`,
      messages: `${platform.url}/api/messages`,
      mail: platform.mailDir,
      reply: 'npm run reply -- <phone> <text>',
    },
    'platform started (embedded)',
  );
  // `npm start -- --demo`: a clinic with a demo practice to log in to, seeded once per data folder.
  if (process.argv.includes('--demo')) {
    const login = await seedDemo({
      url: `http://127.0.0.1:${new URL(platform.url).port}`,
      dataDir: config.DATA_DIR,
      phone: process.env['DEMO_PHONE'],
    });
    process.stdout.write(demoBanner(platform.publicUrl, login));
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_SECONDS * 1000).unref();
    await platform.stop();
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
});
