import http from 'node:http';
import type { AnyApp } from './service-app.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

/** Apps whose `/metrics` is served on a port of its own ({@link serveMetrics}); their main port answers 404 for it. */
const servedElsewhere = new WeakSet<AnyApp>();

/** A Prometheus registry per app, so several services in one process keep separate metrics. */
export function registerMetrics(app: AnyApp, service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  const duration = new Histogram({
    name: 'http_request_duration_seconds',
    help: 'HTTP request duration by route, method and status code.',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [registry],
  });
  app.addHook('onResponse', async (request, reply) => {
    // The route pattern, never the raw URL: URLs can carry ids and search terms.
    const route = request.routeOptions.url ?? 'unmatched';
    duration.observe({ method: request.method, route, status_code: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  app.get('/metrics', { schema: { hide: true }, logLevel: 'warn' }, async (_request, reply) => {
    // The main port is the one an ingress exposes; with a metrics port, what is inside stays off it.
    if (servedElsewhere.has(app)) return reply.callNotFound();
    reply.type(registry.contentType);
    return registry.metrics();
  });
  app.decorate('metrics', registry);
  return registry;
}

/**
 * Serves the app's `/metrics` on a listener of its own at `host:port` (port 0: any free one) and takes it off the app's
 * main port, which answers 404 for it from then on. Close the returned server after the app.
 */
export async function serveMetrics(app: AnyApp, host: string, port: number): Promise<http.Server> {
  const registry = app.metrics;
  const server = http.createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (path !== '/metrics' || (request.method !== 'GET' && request.method !== 'HEAD')) {
      response.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(request.method === 'HEAD' ? undefined : text),
      (error: unknown) => {
        app.log.error({ err: error }, 'metrics could not be collected');
        response.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  servedElsewhere.add(app);
  return server;
}

/** Stops a listener from {@link serveMetrics}, ending its kept-alive scrape connections instead of waiting for them. */
export async function closeMetrics(server: http.Server): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeAllConnections();
  await closed;
}

/** A gauge read when Prometheus scrapes, e.g. the outbox backlog; a failed read leaves the gauge out of that scrape. */
export function addGauge(app: AnyApp, name: string, help: string, read: () => Promise<number>): void {
  new Gauge({
    name,
    help,
    registers: [app.metrics],
    async collect() {
      this.set(await read());
    },
  });
}

/** A counter in the app's registry, e.g. of refused requests; label values must never carry PHI or record ids. */
export function addCounter<TLabel extends string>(app: AnyApp, name: string, help: string, labelNames: readonly TLabel[]): Counter<TLabel> {
  return new Counter({ name, help, labelNames, registers: [app.metrics] });
}

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus registry. */
    metrics: Registry;
  }
}
