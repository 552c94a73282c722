import type { ServiceApp } from '@pep/service-kit';
import { notFound } from '@pep/service-kit';
import { request as undiciRequest } from 'undici';
import { z } from 'zod';
import { SERVICES, type ServiceName } from './route-table.js';

const serviceStatus = z.object({
  name: z.string(),
  /** `degraded`: serving (its database answers) but the broker is unreachable or a consumer group has not joined (ADR 0024). */
  status: z.enum(['ok', 'degraded', 'unavailable', 'not-deployed']),
  reason: z
    .string()
    .optional()
    .describe('Why the service is degraded or unavailable, e.g. `broker failing; not joined: messaging.offers`.'),
  checks: z.record(z.string(), z.string()).optional(),
  consumers: z.record(z.string(), z.string()).optional().describe('Each consumer group and its state: `joined` or `joining`.'),
  latencyMs: z.number().optional(),
});
type ServiceStatus = z.infer<typeof serviceStatus>;

/** What a service's `/health/ready` answers (service-kit's health). */
interface ReadyBody {
  status?: string;
  checks?: Record<string, string>;
  consumers?: Record<string, string>;
}

/**
 * A service's state from its readiness answer: unavailable unless ready; ready but with a failing report-only check
 * (the broker) or a consumer group not joined is `degraded`, with the reason, since its events wait meanwhile.
 */
export function stateOf(statusCode: number, body: ReadyBody): Pick<ServiceStatus, 'status' | 'reason'> {
  const failing = Object.entries(body.checks ?? {})
    .filter(([, result]) => result !== 'ok')
    .map(([check]) => check);
  const waiting = Object.entries(body.consumers ?? {})
    .filter(([, state]) => state !== 'joined')
    .map(([group]) => group);
  const why = [failing.length > 0 ? `${failing.join(', ')} failing` : null, waiting.length > 0 ? `not joined: ${waiting.join(', ')}` : null]
    .filter((part) => part !== null)
    .join('; ');
  if (statusCode !== 200)
    return { status: 'unavailable', reason: body.status === 'shutting-down' ? 'shutting down' : why || `readiness answered ${statusCode}` };
  if (body.status === 'degraded' || why) return { status: 'degraded', reason: why || 'reported degraded' };
  return { status: 'ok' };
}

/** `/api/status`, `/api/status/services/:serviceName` and `/api/downtimeMessage`. */
export function registerStatusRoutes(
  app: ServiceApp,
  options: { upstreams: Partial<Record<ServiceName, string>>; downtimeMessage?: string | undefined; isClosing: () => boolean },
): void {
  const probe = async (name: ServiceName): Promise<ServiceStatus> => {
    if (name === 'gateway') {
      if (options.isClosing()) return { name, status: 'unavailable', reason: 'shutting down' };
      // The gateway's own readiness (its revocations) and its revocation feed's group, read as for any service.
      const own = await app.inject({ url: '/health/ready' }).catch(() => null);
      return {
        name,
        ...(own ? stateOf(own.statusCode, own.json() as ReadyBody) : { status: 'unavailable' as const, reason: 'not answering' }),
      };
    }
    const url = options.upstreams[name];
    if (!url) return { name, status: 'not-deployed' };
    const started = performance.now();
    const latency = () => Math.round(performance.now() - started);
    try {
      const response = await undiciRequest(`${url}/health/ready`, { headersTimeout: 2_000, bodyTimeout: 2_000 });
      const body = (await response.body.json().catch(() => ({}))) as ReadyBody;
      return {
        name,
        ...stateOf(response.statusCode, body),
        ...(body.checks ? { checks: body.checks } : {}),
        ...(body.consumers ? { consumers: body.consumers } : {}),
        latencyMs: latency(),
      };
    } catch {
      return { name, status: 'unavailable', reason: 'not answering', latencyMs: latency() };
    }
  };

  app.get(
    '/api/status',
    {
      config: { roles: 'public' },
      schema: {
        tags: ['status'],
        summary: 'Health of the platform and of every service',
        description:
          'Always 200; `status` is `degraded` while any deployed service is degraded (serving, but its broker or a consumer group is down, so its events wait) or unavailable. It never affects the gateway’s own readiness.',
        response: { 200: z.object({ status: z.enum(['ok', 'degraded']), services: z.array(serviceStatus) }) },
      },
    },
    async () => {
      const services = await Promise.all(SERVICES.map(probe));
      const degraded = services.some((service) => service.status === 'degraded' || service.status === 'unavailable');
      return { status: degraded ? ('degraded' as const) : ('ok' as const), services };
    },
  );

  app.get(
    '/api/status/services/:serviceName',
    {
      config: { roles: 'public' },
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
      config: { roles: 'public' },
      schema: {
        tags: ['status'],
        summary: 'The announced maintenance message, if any',
        response: { 200: z.object({ message: z.string().nullable() }) },
      },
    },
    async () => ({ message: options.downtimeMessage ?? null }),
  );
}
