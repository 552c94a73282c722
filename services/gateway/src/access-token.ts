import { createRemoteJWKSet, jwtVerify, type JWTVerifyGetKey } from 'jose';
import type { Identity } from '@pep/service-kit';

/** Issuer and audience every access token must carry (the auth service's contract). */
export const TOKEN_ISSUER = 'pep-auth';
export const TOKEN_AUDIENCE = 'pep-api';

/**
 * The access token of a request, accepted as the v1 API accepts it: `Authorization: Bearer <t>`,
 * `x-access-token: Bearer <t>`, or a bare `x-access-token: <t>`.
 */
export function extractAccessToken(headers: Record<string, string | string[] | undefined>): string | null {
  const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value)?.trim();
  const authorization = first(headers['authorization']);
  if (authorization) {
    const match = /^Bearer\s+(\S+)$/i.exec(authorization);
    return match ? match[1]! : null;
  }
  const accessToken = first(headers['x-access-token']);
  if (!accessToken) return null;
  return accessToken.replace(/^Bearer\s+/i, '') || null;
}

/** The caller a verified token speaks for, with when it was issued (for revocations). */
export type VerifiedToken = Identity & {
  /** `iat`, whole seconds. */
  issuedAtSeconds?: number;
  /** `iat_ms`, when the token carries it. */
  issuedAtMs?: number;
  /** `rate_limit_per_minute`: the caller's own limit (an integrator client's), when auth gave it one. */
  rateLimitPerMinute?: number;
};

/** Verifies access tokens against a JWKS: algorithm pinned to ES256, issuer, audience and expiry checked. */
export type TokenVerifier = (token: string) => Promise<VerifiedToken>;

/** A verifier over the auth service's JWKS, fetched once, cached, and refetched when an unknown `kid` appears. */
export function createTokenVerifier(jwksUrl: string, options: { clockToleranceSeconds?: number } = {}): TokenVerifier {
  const jwks = createRemoteJWKSet(new URL(jwksUrl), {
    cacheMaxAge: 10 * 60_000,
    // An unknown kid triggers a refetch at most this often, so forged kids cannot hammer auth.
    cooldownDuration: 30_000,
    timeoutDuration: 5_000,
  });
  return verifierFor(jwks, options.clockToleranceSeconds ?? 5);
}

/** A verifier over a given key set (tests, or a local JWKS). */
export function verifierFor(keys: JWTVerifyGetKey, clockToleranceSeconds = 5): TokenVerifier {
  return async (token) => {
    const { payload } = await jwtVerify(token, keys, {
      algorithms: ['ES256'],
      issuer: TOKEN_ISSUER,
      audience: TOKEN_AUDIENCE,
      clockTolerance: clockToleranceSeconds,
      // An ID token or any other JWT from the same issuer must not pass as an access token.
      typ: 'at+jwt',
      requiredClaims: ['sub', 'exp', 'iat', 'jti'],
    });
    const organization = payload['org'];
    const roles = payload['roles'];
    if (typeof organization !== 'string' || !Array.isArray(roles) || !roles.every((role) => typeof role === 'string')) {
      throw new Error('access token lacks organization or roles');
    }
    const issuedAtMs = payload['iat_ms'];
    const rateLimitPerMinute = payload['rate_limit_per_minute'];
    return {
      organization,
      user: payload.sub!,
      roles: roles as string[],
      issuedAtSeconds: payload.iat!,
      ...(typeof issuedAtMs === 'number' && Number.isInteger(issuedAtMs) ? { issuedAtMs } : {}),
      ...(typeof rateLimitPerMinute === 'number' && Number.isInteger(rateLimitPerMinute) && rateLimitPerMinute > 0
        ? { rateLimitPerMinute }
        : {}),
    };
  };
}
