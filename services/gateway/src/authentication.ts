import { HttpProblem, signIdentity, type AnyApp } from '@pep/service-kit';
import { extractAccessToken, type TokenVerifier } from './access-token.js';
import { paymentRequired, refusedWhileSuspended, type BillingSuspensions } from './billing-suspensions.js';
import type { RevocationList } from './revocations.js';

/** What authentication asks of the revocation feed. */
export interface RevocationGate {
  list: RevocationList;
  /** Whether the feed is confirmed live; when not, tokens are refused with 503. */
  isCurrent(): boolean;
  /** Counts a refused revoked token (metrics). */
  onRefused?: () => void;
  /** Organizations suspended for an unpaid bill, from the same feed: their writes answer 402. */
  billing?: Pick<BillingSuspensions, 'isSuspended'>;
}

/**
 * Paths where a stale or broken token must not block the request: the caller is signing in,
 * refreshing, or resetting a password, and the auth service judges what it was sent.
 */
const TOKEN_OPTIONAL = [
  /^\/api\/users\/(login|signup|forgot-password|reset-password\/[^/]+|activate)\/?$/,
  /^\/api\/tokens\/validate\/?$/,
  /^\/api\/(patients|providers|widgets|integratorClients)\/login\/?$/,
  /^\/api\/groups\/public\/get-invite\/?$/,
];

declare module 'fastify' {
  interface FastifyRequest {
    /** The signed internal identity header to forward, when the caller presented a valid token. */
    internalIdentity: string | null;
    /** The caller's own rate limit from its token (requests a minute), when it has one; else the gateway's default applies. */
    tokenRateLimitPerMinute: number | null;
  }
}

/**
 * Verifies the access token once, at the door. A valid token becomes a signed internal identity
 * for the owning service; an invalid one is refused with 401 (except where signing in); no token
 * passes on without identity and the service decides whether the route is public.
 */
export function registerAuthentication(
  app: AnyApp,
  options: {
    verify: TokenVerifier | null;
    internalAuthSecret: string;
    /** Revoked tokens are refused; without it (tests of other concerns) none are. */
    revocations?: RevocationGate | undefined;
  },
): void {
  app.decorateRequest('internalIdentity', null);
  app.decorateRequest('tokenRateLimitPerMinute', null);
  app.addHook('onRequest', async (request, reply) => {
    if (!request.url.startsWith('/api/')) return;
    const token = extractAccessToken(request.headers);
    const path = request.url.split('?')[0]!;
    if (!token) return;
    try {
      if (!options.verify) throw new Error('no key set to verify tokens with');
      const { issuedAtSeconds, issuedAtMs, rateLimitPerMinute, ...identity } = await options.verify(token);
      if (options.revocations) {
        // Fail closed (ADR 0014): a replica that cannot confirm its revocations are current does not vouch for anyone.
        if (!options.revocations.isCurrent()) {
          reply.header('retry-after', '5');
          throw new HttpProblem(503, 'revocations-unavailable', 'Access tokens cannot be checked right now; retry shortly.');
        }
        const facts = { subject: identity.user, organization: identity.organization, issuedAtSeconds: issuedAtSeconds ?? 0, issuedAtMs };
        if (options.revocations.list.isRevoked(facts)) {
          options.revocations.onRefused?.();
          throw new Error('access token revoked');
        }
      }
      request.identity = identity;
      request.tokenRateLimitPerMinute = rateLimitPerMinute ?? null;
      request.internalIdentity = await signIdentity(options.internalAuthSecret, identity);
    } catch (error) {
      if (TOKEN_OPTIONAL.some((pattern) => pattern.test(path))) return;
      if (error instanceof HttpProblem) throw error;
      request.log.info({ reason: (error as Error).message }, 'access token refused');
      reply.header('www-authenticate', 'Bearer error="invalid_token"');
      throw new HttpProblem(401, 'invalid-token', 'The access token is missing, invalid or expired.');
    }
    // Suspended for billing: reads (and export) go on, writes wait for the payment, except those that make it.
    if (options.revocations?.billing?.isSuspended(request.identity.organization) && refusedWhileSuspended(request.method, path)) {
      throw paymentRequired();
    }
  });
}
