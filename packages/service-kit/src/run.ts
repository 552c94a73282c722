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
      // Everything is closed, so the process should end by itself now. A handle something left open (a client's
      // socket or timer) would hold it until the shutdown timeout and an exit code 1: name it, and end cleanly instead.
      // Unref'd, so this timer never holds the process itself.
      setTimeout(() => {
        options.logger.warn({ handles: process.getActiveResourcesInfo() }, 'a handle outlived shutdown; exiting');
        process.exit(0);
      }, 2_000).unref();
    } catch (error) {
      options.logger.error({ err: error }, 'error while shutting down');
      process.exitCode = 1;
    }
  };
  process.once('SIGTERM', () => void stop('SIGTERM'));
  process.once('SIGINT', () => void stop('SIGINT'));
  await app.listen({ host: options.host, port: options.port });
}

/**
 * Node's process warnings as JSON lines on stderr, like everything else a service writes, instead of Node's plain text.
 * kafkajs 2.2.4 (its last release) arms its request queue's timer with a negative delay whenever it is not throttled;
 * Node 22+ reports each one as a `TimeoutNegativeWarning` (the delay was always clamped to 1 ms), so those are dropped.
 */
export function warningsAsLogLines(): void {
  for (const listener of process.listeners('warning')) if (listener.name === 'onWarning') process.removeListener('warning', listener);
  process.on('warning', (warning) => {
    if (isKafkajsNegativeTimeout(warning)) return;
    process.stderr.write(
      `${JSON.stringify({ level: 40, time: Date.now(), msg: 'process warning', warning: { name: warning.name, message: warning.message } })}\n`,
    );
  });
}

/** A `TimeoutNegativeWarning` raised from inside kafkajs, harmless (see {@link warningsAsLogLines}). */
export function isKafkajsNegativeTimeout(warning: Error): boolean {
  return warning.name === 'TimeoutNegativeWarning' && /[\\/]kafkajs[\\/]/.test(warning.stack ?? '');
}

/** Runs a service's main and reports a startup failure (such as invalid config) once, then exits non-zero. */
export function main(start: () => Promise<void>): void {
  warningsAsLogLines();
  start().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
