import type { AnyApp } from './service-app.js';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

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
    reply.type(registry.contentType);
    return registry.metrics();
  });
  app.decorate('metrics', registry);
  return registry;
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
