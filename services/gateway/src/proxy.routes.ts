import replyFrom from '@fastify/reply-from';
import {
  CLIENT_ADDRESS_HEADER,
  HttpProblem,
  IDENTITY_HEADER,
  sendProblem,
  signClientAddress,
  problemType,
  type AnyApp,
} from '@pep/service-kit';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { listGroups, type ServiceName } from './route-table.js';

// OPTIONS is left to CORS preflight handling at the gateway.
const METHODS = ['DELETE', 'GET', 'HEAD', 'PATCH', 'POST', 'PUT'] as const;

/**
 * Paths owned by another service than their group's: logins whose credential check is auth's
 * (DESIGN.md), auth's public key set, which sits outside `/api`, and the vendors' webhooks at the host root.
 */
const EXACT_ROUTES: Array<{ method: 'GET' | 'POST'; url: string; service: ServiceName }> = [
  { method: 'POST', url: '/api/patients/login', service: 'auth' },
  { method: 'POST', url: '/api/providers/login', service: 'auth' },
  { method: 'GET', url: '/.well-known/jwks.json', service: 'auth' },
  // The page the password-reset and welcome e-mails link to (PUBLIC_URL/reset-password/<token>) and its form.
  { method: 'GET', url: '/reset-password/:token', service: 'auth' },
  { method: 'POST', url: '/reset-password/:token', service: 'auth' },
  // Vendors are configured with these URLs as the product had them (Bandwidth's replies); messaging checks their credentials.
  { method: 'POST', url: '/webhooks/*', service: 'messaging' },
];

/** Options for {@link registerProxyRoutes}. */
export interface ProxyOptions {
  upstreams: Partial<Record<ServiceName, string>>;
  timeoutMs: number;
  bodyLimit: number;
  /** Signs the client address passed to services ({@link CLIENT_ADDRESS_HEADER}); without it none is passed. */
  internalAuthSecret?: string;
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
      const forward = async (request: FastifyRequest, reply: FastifyReply) => {
        const length = Number(request.headers['content-length'] ?? 0);
        if (length > options.bodyLimit) throw new HttpProblem(413, 'body-too-large', 'The request body is too large.');
        // The request's one line (written when it is answered) names the service; the hand-over itself is a detail.
        request.log = request.log.child({ upstream: service });
        request.log.debug('forwarding to service');
        // X-Forwarded-For tells a service the address but anyone reaching the service could write it; this one is signed,
        // for services that decide by the caller's address (a webhook only loopback callers may use).
        const clientAddress = options.internalAuthSecret ? await signClientAddress(options.internalAuthSecret, request.ip) : null;
        return reply.from(request.url, {
          rewriteRequestHeaders: (_original, headers) => {
            // Only the gateway may vouch for a caller or its address; whatever a client sent in their place is dropped.
            const { [IDENTITY_HEADER]: _dropped, [CLIENT_ADDRESS_HEADER]: _claimed, ...rest } = headers;
            // A client's trace context is never passed on: a service would continue a trace the client chose. A traced
            // gateway's HTTP client writes its own span's context instead.
            delete rest.traceparent;
            delete rest.tracestate;
            return {
              ...rest,
              'x-request-id': request.id,
              // The client address as the gateway established it (honouring TRUST_PROXY), never the client's claim.
              'x-forwarded-for': request.ip,
              ...(clientAddress ? { [CLIENT_ADDRESS_HEADER]: clientAddress } : {}),
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
