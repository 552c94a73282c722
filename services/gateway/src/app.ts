import cors from '@fastify/cors';
import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import { addCounter, addGauge, createServiceApp, HttpProblem, type Logger, type ServiceApp } from '@pep/service-kit';
import { createTokenVerifier, type TokenVerifier } from './access-token.js';
import { registerAuthentication } from './authentication.js';
import { registerOpenApi } from './openapi.js';
import { registerProxyRoutes } from './proxy.routes.js';
import { RevocationFeed, type RevocationFeedOptions } from './revocation-feed.js';
import type { ServiceName } from './route-table.js';
import { registerStatusRoutes } from './status.routes.js';
import { registerHomeRoutes } from './home.routes.js';

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
  /** Requests a minute per caller whose token carries no limit of its own (integrator clients' may; default 600). */
  rateLimitPerMinute?: number;
  /** `*` or the allowed origins. */
  corsOrigins?: string | string[];
  trustProxyHops?: number;
  /**
   * Where revocations come from: auth's events on this bus and auth's snapshot. Without it (tests of other concerns) no
   * token is refused for having been revoked; production always sets it.
   */
  revocations?: Omit<RevocationFeedOptions, 'logger' | 'internalAuthSecret' | 'onEvent'> | undefined;
}

/** The rate limit headers every limited answer carries (IETF draft httpapi-ratelimit-headers), exposed to browsers. */
export const RATE_LIMIT_HEADERS = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset', 'ratelimit-policy'] as const;

/** Builds the gateway: security headers, CORS, rate limits, token verification, docs, status and routing. */
export async function buildApp(deps: GatewayDeps): Promise<ServiceApp> {
  const bodyLimit = deps.bodyLimit ?? 1_048_576;
  const app = await createServiceApp({
    name: 'gateway',
    description: 'The public door of the platform.',
    logger: deps.logger,
    bodyLimit,
    ...(deps.trustProxyHops ? { trustProxy: deps.trustProxyHops } : {}),
    // Fail closed (ADR 0014): not ready until revocations are confirmed current; the broker itself is only reported.
    ...(deps.revocations
      ? {
          readiness: { revocations: async () => feed?.isCurrent() ?? false },
          reportOnly: { broker: () => deps.revocations!.bus.healthy() },
          consumers: () => [feed?.consumer],
        }
      : {}),
  });
  const feed = deps.revocations ? createRevocationFeed(app, deps) : null;
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });

  await app.register(helmet, {
    // Sent on every answer, whatever X-Forwarded-Proto says: the gateway sits behind TLS termination and sees plain
    // HTTP, and browsers ignore the header on an answer that did not come over HTTPS (RFC 6797 8.1), so it cannot
    // harm a laptop on http://localhost, while making it depend on TRUST_PROXY_HOPS would drop it when that is wrong.
    strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    contentSecurityPolicy: {
      directives: { defaultSrc: ["'self'"], imgSrc: ["'self'", 'data:'], styleSrc: ["'self'", "'unsafe-inline'"], scriptSrc: ["'self'"] },
    },
  });
  const origins = deps.corsOrigins ?? '*';
  await app.register(cors, {
    origin: origins === '*' ? '*' : origins,
    // x-total-count and link carry the paging of the v1 lists answered as bare arrays.
    exposedHeaders: ['x-request-id', ...RATE_LIMIT_HEADERS, 'retry-after', 'x-total-count', 'link', 'idempotent-replayed'],
    // Idempotency-Key is passed to the services untouched, like every header but the internal ones (ADR 0025).
    allowedHeaders: ['authorization', 'x-access-token', 'content-type', 'x-request-id', 'idempotency-key'],
    maxAge: 600,
  });

  const jwksUrl = deps.jwksUrl ?? (deps.upstreams.auth ? `${deps.upstreams.auth}/.well-known/jwks.json` : undefined);
  registerAuthentication(app, {
    verify: deps.verifyToken ?? (jwksUrl ? createTokenVerifier(jwksUrl) : null),
    internalAuthSecret: deps.internalAuthSecret,
    revocations: feed ?? undefined,
  });

  const defaultLimit = deps.rateLimitPerMinute ?? 600;
  const unlimited = (url: string) => url.startsWith('/health/') || url === '/metrics';
  // The plugin sends RateLimit-Limit, -Remaining and -Reset (the IETF draft's names) but not the policy; it is the limit
  // this caller gets and the window, so a client can pace itself from its first answer.
  app.addHook('onRequest', async (request, reply) => {
    if (!unlimited(request.url)) reply.header('ratelimit-policy', `${request.tokenRateLimitPerMinute ?? defaultLimit};w=60`);
  });
  await app.register(rateLimit, {
    global: true,
    // An integrator client's token may carry its own limit (set in auth); everyone else gets the gateway's.
    max: (request) => request.tokenRateLimitPerMinute ?? defaultLimit,
    timeWindow: 60_000,
    enableDraftSpec: true,
    // Authenticated callers are limited per user (or client), so a clinic behind one NAT is not one bucket.
    keyGenerator: (request) => (request.identity ? `user:${request.identity.user}` : `ip:${request.ip}`),
    allowList: (request) => unlimited(request.url),
    errorResponseBuilder: (_request, context) =>
      new HttpProblem(429, 'rate-limited', `Too many requests; retry in ${Math.ceil(context.ttl / 1000)} s.`),
  });

  registerStatusRoutes(app, { upstreams: deps.upstreams, downtimeMessage: deps.downtimeMessage, isClosing: () => closing });
  registerHomeRoutes(app);
  await registerOpenApi(app, deps.upstreams);
  await registerProxyRoutes(app, {
    upstreams: deps.upstreams,
    timeoutMs: deps.upstreamTimeoutMs ?? 30_000,
    bodyLimit,
    internalAuthSecret: deps.internalAuthSecret,
  });
  return app;
}

/** The replica's revocation feed, started with the app and stopped with it, with its metrics. */
function createRevocationFeed(app: ServiceApp, deps: GatewayDeps): RevocationFeed & { onRefused: () => void } {
  const events = addCounter(app, 'gateway_revocation_events_total', 'Auth events applied to the revocation list, by type.', ['type']);
  const refused = addCounter(app, 'gateway_revoked_tokens_refused_total', 'Requests refused because their access token was revoked.', []);
  const feed = new RevocationFeed({
    ...deps.revocations!,
    logger: deps.logger.child({ component: 'revocations' }),
    internalAuthSecret: deps.internalAuthSecret,
    onEvent: (type) => events.inc({ type }),
  });
  addGauge(
    app,
    'gateway_revocation_feed_up',
    'Whether the revocation feed is confirmed live (1) or not (0; tokens are refused).',
    async () => (feed.isCurrent() ? 1 : 0),
  );
  addGauge(app, 'gateway_revocations_known', 'Revocations this replica enforces.', async () => feed.list.size);
  addGauge(
    app,
    'gateway_billing_suspended_organizations',
    'Organizations whose writes this replica answers with 402.',
    async () => feed.billing.size,
  );
  app.addHook('onReady', () => feed.start());
  app.addHook('onClose', () => feed.stop());
  return Object.assign(feed, { onRefused: () => refused.inc() });
}
