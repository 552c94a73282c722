import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { createServiceApp, HttpProblem, type Logger, type ServiceApp } from '@pep/service-kit';
import { createTokenVerifier, type TokenVerifier } from './access-token.js';
import { registerAuthentication } from './authentication.js';
import { registerOpenApi } from './openapi.js';
import { registerProxyRoutes } from './proxy.routes.js';
import type { ServiceName } from './route-table.js';
import { registerStatusRoutes } from './status.routes.js';

/** What the gateway is built from. */
export interface GatewayDeps {
  logger: Logger;
  upstreams: Partial<Record<ServiceName, string>>;
  internalAuthSecret: string;
  downtimeMessage?: string | undefined;
  bodyLimit?: number;
  upstreamTimeoutMs?: number;
  /** Where the auth service publishes its keys; defaults to the auth upstream's JWKS. */
  jwksUrl?: string | undefined;
  /** Overrides how tokens are verified (tests with their own keys). */
  verifyToken?: TokenVerifier;
  rateLimitPerMinute?: number;
  /** `*` or the allowed origins. */
  corsOrigins?: string | string[];
  trustProxyHops?: number;
}

/** Builds the gateway: security headers, CORS, rate limits, token verification, docs, status and routing. */
export async function buildApp(deps: GatewayDeps): Promise<ServiceApp> {
  const bodyLimit = deps.bodyLimit ?? 1_048_576;
  const app = await createServiceApp({
    name: 'gateway',
    description: 'The public door of the platform.',
    logger: deps.logger,
    bodyLimit,
    ...(deps.trustProxyHops ? { trustProxy: deps.trustProxyHops } : {}),
  });
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  await app.register(helmet, {
    contentSecurityPolicy: {
      directives: { defaultSrc: ["'self'"], imgSrc: ["'self'", 'data:'], styleSrc: ["'self'", "'unsafe-inline'"], scriptSrc: ["'self'"] },
    },
  });
  const origins = deps.corsOrigins ?? '*';
  await app.register(cors, {
    origin: origins === '*' ? '*' : origins,
    exposedHeaders: ['x-request-id', 'ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'retry-after'],
    allowedHeaders: ['authorization', 'x-access-token', 'content-type', 'x-request-id'],
    maxAge: 600,
  });

  const jwksUrl = deps.jwksUrl ?? (deps.upstreams.auth ? `${deps.upstreams.auth}/.well-known/jwks.json` : undefined);
  registerAuthentication(app, {
    verify: deps.verifyToken ?? (jwksUrl ? createTokenVerifier(jwksUrl) : null),
    internalAuthSecret: deps.internalAuthSecret,
  });

  await app.register(rateLimit, {
    global: true,
    max: deps.rateLimitPerMinute ?? 600,
    timeWindow: 60_000,
    enableDraftSpec: true,
    // Authenticated callers are limited per user, so a clinic behind one NAT is not one bucket.
    keyGenerator: (request) => (request.identity ? `user:${request.identity.user}` : `ip:${request.ip}`),
    allowList: (request) => request.url.startsWith('/health/') || request.url === '/metrics',
    errorResponseBuilder: (_request, context) =>
      new HttpProblem(429, 'rate-limited', `Too many requests; retry in ${Math.ceil(context.ttl / 1000)} s.`),
  });

  registerStatusRoutes(app, { upstreams: deps.upstreams, downtimeMessage: deps.downtimeMessage, isClosing: () => closing });
  await registerOpenApi(app, deps.upstreams);
  await registerProxyRoutes(app, { upstreams: deps.upstreams, timeoutMs: deps.upstreamTimeoutMs ?? 30_000, bodyLimit });
  return app;
}
