import type { Logger } from 'pino';
import type { AnyApp } from './service-app.js';

/** How {@link runService} listens and how long it may take to stop. */
export interface RunOptions {
  host: string;
  port: number;
  logger: Logger;
  /** Seconds allowed for a graceful shutdown before the process exits anyway. */
  shutdownTimeoutSeconds: number;
  /** Releases what main opened (bus, database) once the app, its consumers and its outbox are done with them. */
  afterClose?: () => Promise<void>;
}

/**
 * Listens and stops gracefully on SIGTERM/SIGINT: readiness fails at once, in-flight requests
 * drain, then the app's onClose hooks stop consumers, flush the outbox and close connections.
 */
export async function runService(app: AnyApp, options: RunOptions): Promise<void> {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    options.logger.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      options.logger.error('graceful shutdown timed out; exiting');
      process.exit(1);
    }, options.shutdownTimeoutSeconds * 1000);
    timer.unref();
    try {
      await app.close();
      await options.afterClose?.();
      options.logger.info('stopped');
      process.exitCode = 0;
    } catch (error) {
      options.logger.error({ err: error }, 'error while shutting down');
      process.exitCode = 1;
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  await app.listen({ host: options.host, port: options.port });
}

/** Runs a service's main and reports a startup failure (such as invalid config) once, then exits non-zero. */
export function main(start: () => Promise<void>): void {
  start().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
