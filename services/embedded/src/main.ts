import { createLogger, main, parseConfig } from '@pep/service-kit';
import { configSchema } from './config.js';
import { startPlatform } from './platform.js';

main(async () => {
  const config = parseConfig(configSchema);
  const logger = createLogger({ service: 'platform', level: config.LOG_LEVEL });
  const platform = await startPlatform({
    dataDir: config.DATA_DIR,
    host: config.HOST,
    port: config.PORT,
    logLevel: config.LOG_LEVEL,
    internalAuthSecret: config.INTERNAL_AUTH_SECRET,
    bodyLimit: config.BODY_LIMIT_BYTES,
  });
  logger.info({ url: platform.url, status: `${platform.url}/api/status` }, 'platform started (embedded)');
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
