import { randomUUID } from 'node:crypto';
import { jwtVerify, SignJWT, type JWK, type JWTHeaderParameters } from 'jose';
import { z } from 'zod';
import { SIGNING_ALGORITHM, type LoadedKey, type SigningKeyStore } from './signing-keys.js';

/** `iss` of every access token. */
export const TOKEN_ISSUER = 'pep-auth';
/** `aud` of every access token: the platform's public API. */
export const TOKEN_AUDIENCE = 'pep-api';
/** `typ` header of access tokens (RFC 9068), so an ID token or other JWT cannot be passed off as one. */
export const TOKEN_TYPE = 'at+jwt';

/** Private claim: the issue instant in milliseconds (the standard `iat` has whole seconds only). */
export const ISSUED_AT_MS_CLAIM = 'iat_ms';

/** Private claim: requests a minute the gateway allows this token's caller, when not the gateway's default (integrator clients). */
export const RATE_LIMIT_CLAIM = 'rate_limit_per_minute';

/** Who a token was issued to. */
export const tokenKinds = ['staff', 'patient', 'provider', 'integrator', 'widget'] as const;
export type TokenKind = (typeof tokenKinds)[number];

/** The verified claims of an access token. */
export const accessClaimsSchema = z.object({
  iss: z.literal(TOKEN_ISSUER),
  aud: z.union([z.literal(TOKEN_AUDIENCE), z.array(z.string()).refine((aud) => aud.includes(TOKEN_AUDIENCE))]),
  sub: z.string().min(1),
  org: z.string().min(1),
  roles: z.array(z.string()),
  kind: z.enum(tokenKinds),
  jti: z.string().min(1),
  iat: z.number().int(),
  exp: z.number().int(),
  /** Issue instant in milliseconds; absent in tokens signed before it was added. */
  iat_ms: z.number().int().optional(),
  /** The caller's own rate limit, requests a minute; absent = the gateway's default. */
  rate_limit_per_minute: z.number().int().positive().optional(),
});
export type AccessClaims = z.infer<typeof accessClaimsSchema>;

/** Who the token speaks for. */
export interface TokenSubject {
  user: string;
  organization: string;
  roles: string[];
  kind: TokenKind;
  /** Requests a minute the gateway allows the caller; absent = the gateway's default. */
  rateLimitPerMinute?: number | null | undefined;
}

/** Signs an access token with the current key. */
export async function signAccessToken(
  key: LoadedKey,
  subject: TokenSubject,
  ttlSeconds: number,
  now: Date,
): Promise<{ token: string; expiresAt: Date }> {
  const iat = Math.floor(now.getTime() / 1000);
  const exp = iat + ttlSeconds;
  // `iat` is whole seconds; revocations compare with the millisecond, so a token issued just after one keeps working.
  const token = await new SignJWT({
    org: subject.organization,
    roles: subject.roles,
    kind: subject.kind,
    [ISSUED_AT_MS_CLAIM]: now.getTime(),
    // Carried in the token so the gateway limits each request without asking auth.
    ...(subject.rateLimitPerMinute ? { [RATE_LIMIT_CLAIM]: subject.rateLimitPerMinute } : {}),
  })
    .setProtectedHeader({ alg: SIGNING_ALGORITHM, kid: key.kid, typ: TOKEN_TYPE })
    .setIssuer(TOKEN_ISSUER)
    .setAudience(TOKEN_AUDIENCE)
    .setSubject(subject.user)
    .setJti(randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(key.privateKey);
  return { token, expiresAt: new Date(exp * 1000) };
}

/**
 * Verifies an access token against this service's verification keys: ES256 only (which also refuses
 * `none` and HMAC tokens keyed with a public key), a known `kid`, `typ`, issuer, audience and expiry.
 * Returns null for any token that is not valid, whatever the reason.
 */
export async function verifyAccessToken(token: string, keys: SigningKeyStore, now: Date): Promise<AccessClaims | null> {
  try {
    const { payload } = await jwtVerify(
      token,
      async (header: JWTHeaderParameters) => {
        if (header.alg !== SIGNING_ALGORITHM || typeof header.kid !== 'string') throw new Error('unacceptable header');
        const key = await keys.find(header.kid);
        if (!key) throw new Error('unknown key');
        return key.publicKey;
      },
      {
        algorithms: [SIGNING_ALGORITHM],
        issuer: TOKEN_ISSUER,
        audience: TOKEN_AUDIENCE,
        typ: TOKEN_TYPE,
        currentDate: now,
        requiredClaims: ['sub', 'jti', 'iat', 'exp'],
      },
    );
    const claims = accessClaimsSchema.safeParse(payload);
    return claims.success ? claims.data : null;
  } catch {
    return null;
  }
}

/** The JSON Web Key Set to publish: public halves of the verification keys only. */
export function toJwks(keys: LoadedKey[]): { keys: JWK[] } {
  return {
    keys: keys.map(({ publicJwk, kid }) => ({
      kty: publicJwk.kty,
      crv: publicJwk.crv,
      x: publicJwk.x,
      y: publicJwk.y,
      kid,
      alg: SIGNING_ALGORITHM,
      use: 'sig',
    })),
  };
}
