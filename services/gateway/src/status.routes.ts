import type { ServiceApp } from '@pep/service-kit';
import { notFound } from '@pep/service-kit';
import { request as undiciRequest } from 'undici';
import { z } from 'zod';
import { SERVICES, type ServiceName } from './route-table.js';

const serviceStatus = z.object({
  name: z.string(),
  status: z.enum(['ok', 'unavailable', 'not-deployed']),
  checks: z.record(z.string(), z.string()).optional(),
  latencyMs: z.number().optional(),
});
type ServiceStatus = z.infer<typeof serviceStatus>;

/** `/api/status`, `/api/status/services/:serviceName` and `/api/downtimeMessage`. */
export function registerStatusRoutes(
  app: ServiceApp,
  options: { upstreams: Partial<Record<ServiceName, string>>; downtimeMessage?: string | undefined; isClosing: () => boolean },
): void {
  const probe = async (name: ServiceName): Promise<ServiceStatus> => {
    if (name === 'gateway') return { name, status: options.isClosing() ? 'unavailable' : 'ok' };
    const url = options.upstreams[name];
    if (!url) return { name, status: 'not-deployed' };
    const started = performance.now();
    try {
      const response = await undiciRequest(`${url}/health/ready`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
      const body = (await response.body.json()) as { checks?: Record<string, string> };
      return {
        name,
        status: response.statusCode === 200 ? 'ok' : 'unavailable',
        ...(body.checks ? { checks: body.checks } : {}),
        latencyMs: Math.round(performance.now() - started),
      };
    } catch {
      return { name, status: 'unavailable', latencyMs: Math.round(performance.now() - started) };
    }
  };

  app.get(
    '/api/status',
    {
      schema: {
        tags: ['status'],
        summary: 'Health of the platform and of every service',
        response: { 200: z.object({ status: z.enum(['ok', 'degraded']), services: z.array(serviceStatus) }) },
      },
    },
    async () => {
      const services = await Promise.all(SERVICES.map(probe));
      const degraded = services.some((service) => service.status === 'unavailable');
      return { status: degraded ? ('degraded' as const) : ('ok' as const), services };
    },
  );

  app.get(
    '/api/status/services/:serviceName',
    {
      schema: {
        tags: ['status'],
        summary: 'Health of one service',
        params: z.object({ serviceName: z.string() }),
        response: { 200: serviceStatus },
      },
    },
    async (request) => {
      const name = request.params.serviceName;
      if (!(SERVICES as readonly string[]).includes(name)) throw notFound('service');
      return probe(name as ServiceName);
    },
  );

  app.get(
    '/api/downtimeMessage',
    {
      schema: {
        tags: ['status'],
        summary: 'The announced maintenance message, if any',
        response: { 200: z.object({ message: z.string().nullable() }) },
      },
    },
    async () => ({ message: options.downtimeMessage ?? null }),
  );
}
