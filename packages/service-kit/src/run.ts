import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { shutdownTracing } from '@pep/bus';
import type { Logger } from 'pino';
import { closeMetrics, serveMetrics } from './metrics.js';
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
  /** With it, `/metrics` is served on this port alone and the main port answers 404 for it (METRICS_PORT). */
  metricsPort?: number | undefined;
}

/** A service's listeners: its main port and, with a metrics port, the metrics listener. */
export interface ServiceListeners {
  /** The main port's address. */
  address: AddressInfo;
  /** The metrics listener's address, when `/metrics` has a port of its own. */
  metricsAddress: AddressInfo | null;
  /** Closes the app (draining requests and running its onClose hooks), then the metrics listener. */
  close(): Promise<void>;
}

/** Starts the app's listeners as {@link runService} does, without its signal handling. */
export async function listenService(app: AnyApp, options: Pick<RunOptions, 'host' | 'port' | 'metricsPort'>): Promise<ServiceListeners> {
  // Metrics first: a port already taken fails the start before the app takes traffic.
  const metrics: Server | null = options.metricsPort === undefined ? null : await serveMetrics(app, options.host, options.metricsPort);
  try {
    await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    if (metrics) await closeMetrics(metrics);
    throw error;
  }
  return {
    address: app.server.address() as AddressInfo,
    metricsAddress: metrics ? (metrics.address() as AddressInfo) : null,
    async close() {
      // Scrapes keep working while requests drain, so the last moments of a replica are still seen.
      await app.close();
      if (metrics) await closeMetrics(metrics);
    },
  };
}

/**
 * Listens and stops gracefully on SIGTERM/SIGINT: readiness fails at once, in-flight requests
 * drain, then the app's onClose hooks stop consumers, flush the outbox and close connections.
 */
export async function runService(app: AnyApp, options: RunOptions): Promise<void> {
  let stopping = false;
  let listeners: ServiceListeners | null = null;
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
      await (listeners ? listeners.close() : app.close());
      await options.afterClose?.();
      await shutdownTracing().catch((error: unknown) => options.logger.warn({ err: error }, 'could not export the last spans'));
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
  listeners = await listenService(app, options);
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
