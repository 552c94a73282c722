import replyFrom from '@fastify/reply-from';
import { HttpProblem, IDENTITY_HEADER, sendProblem, problemType, type AnyApp } from '@pep/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { listGroups, type ServiceName } from './route-table.js';

// OPTIONS is left to CORS preflight handling at the gateway.
const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'] as const;

/**
 * Paths owned by another service than their group's: logins whose credential check is auth's
 * (DESIGN.md), and auth's public key set, which sits outside `/api`.
 */
const EXACT_ROUTES: Array<{ method: 'GET' | 'POST'; url: string; service: ServiceName }> = [
  { method: 'POST', url: '/api/patients/login', service: 'auth' },
  { method: 'POST', url: '/api/providers/login', service: 'auth' },
  { method: 'GET', url: '/.well-known/jwks.json', service: 'auth' },
];

/** Options for {@link registerProxyRoutes}. */
export interface ProxyOptions {
  upstreams: Partial<Record<ServiceName, string>>;
  timeoutMs: number;
  bodyLimit: number;
}

/**
 * Routes every seed group to its owning service. Groups of services that are not deployed
 * answer 501 naming the owner; paths matching no group fall through to the 404 handler.
 */
export async function registerProxyRoutes(app: AnyApp, options: ProxyOptions): Promise<void> {
  const byService = new Map<ServiceName, string[]>();
  for (const { group, service } of listGroups()) {
    if (service === 'gateway') continue;
    byService.set(service, [...(byService.get(service) ?? []), group]);
  }

  for (const [service, groups] of byService) {
    const upstream = options.upstreams[service];
    if (!upstream) {
      for (const group of groups) {
        app.route({
          method: [...METHODS],
          url: `/api/${group}`,
          schema: { hide: true },
          handler: notDeployed(service),
        });
        app.route({ method: [...METHODS], url: `/api/${group}/*`, schema: { hide: true }, handler: notDeployed(service) });
      }
      for (const route of EXACT_ROUTES.filter((exact) => exact.service === service)) {
        app.route({ method: route.method, url: route.url, schema: { hide: true }, handler: notDeployed(service) });
      }
      continue;
    }
    await app.register(async (scope) => {
      // Bodies are streamed to the service untouched; the service validates them.
      scope.removeAllContentTypeParsers();
      scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
      await scope.register(replyFrom, {
        base: upstream,
        // Its own lines would log the upstream URL as the client sent it, query and all; ours below names the service, and
        // the request lines carry the path as the logger makes it safe.
        disableRequestLogging: true,
        undici: { connections: 128, pipelining: 1, headersTimeout: options.timeoutMs, bodyTimeout: options.timeoutMs },
      });
      const forward = (request: FastifyRequest, reply: FastifyReply) => {
        const length = Number(request.headers['content-length'] ?? 0);
        if (length > options.bodyLimit) throw new HttpProblem(413, 'body-too-large', 'The request body is too large.');
        request.log.info({ upstream: service }, 'forwarding to service');
        return reply.from(request.url, {
          rewriteRequestHeaders: (_original, headers) => {
            // Only the gateway may vouch for a caller; whatever a client sent in its place is dropped.
            const { [IDENTITY_HEADER]: _dropped, ...rest } = headers;
            return {
              ...rest,
              'x-request-id': request.id,
              // The client address as the gateway established it (honouring TRUST_PROXY), never the client's claim.
              'x-forwarded-for': request.ip,
              ...(request.internalIdentity ? { [IDENTITY_HEADER]: request.internalIdentity } : {}),
            };
          },
          onError: (errorReply, { error }) => {
            const code = (error as NodeJS.ErrnoException).code ?? '';
            const timedOut = /timeout/i.test(code) || /timeout/i.test(error.message);
            // `upstream`, not `service`: that field already names the gateway on every line.
            request.log.warn({ err: { message: error.message, code }, upstream: service }, 'upstream failed');
            sendProblem(errorReply as FastifyReply, request, {
              type: problemType(timedOut ? 'upstream-timeout' : 'upstream-unavailable'),
              title: timedOut ? 'Gateway Timeout' : 'Bad Gateway',
              status: timedOut ? 504 : 502,
              detail: `The ${service} service did not answer.`,
            });
          },
        });
      };
      for (const group of groups) {
        scope.route({ method: [...METHODS], url: `/api/${group}`, schema: { hide: true }, handler: forward });
        scope.route({ method: [...METHODS], url: `/api/${group}/*`, schema: { hide: true }, handler: forward });
      }
      for (const route of EXACT_ROUTES.filter((exact) => exact.service === service)) {
        scope.route({ method: route.method, url: route.url, schema: { hide: true }, handler: forward });
      }
    });
  }
}

function notDeployed(service: ServiceName) {
  return async (request: FastifyRequest, reply: FastifyReply) =>
    sendProblem(reply, request, {
      type: problemType('not-implemented'),
      title: 'Not Implemented',
      status: 501,
      detail: `This endpoint belongs to the ${service} service, which is not deployed yet.`,
      service,
    });
}
