import type { FastifyRequest } from 'fastify';
import { SignJWT } from 'jose';
import { z } from 'zod';
import { signingKeyOf, verifyWithAnySecret } from './internal-secret.js';
import { HttpProblem } from './problem.js';

/** Header in which the gateway passes the verified caller to services. Clients cannot forge it: it is signed. */
export const IDENTITY_HEADER = 'x-internal-identity';

const ISSUER = 'pep-gateway';
const AUDIENCE = 'pep-services';

/** The verified caller of a request, as established by the gateway. */
export const identitySchema = z.object({
  /** Organization (tenant) every query of the request is scoped to. */
  organization: z.string().min(1),
  /** The user (or client) id. */
  user: z.string().min(1),
  /** Roles of the caller within that organization. */
  roles: z.array(z.string()),
});
export type Identity = z.infer<typeof identitySchema>;

/** Signs an identity for the internal header; short-lived so a captured header is soon useless. */
export async function signIdentity(secret: string, identity: Identity, ttlSeconds = 60): Promise<string> {
  return new SignJWT({ org: identity.organization, roles: identity.roles })
    .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
    .setSubject(identity.user)
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(signingKeyOf(secret));
}

/** Verifies the internal identity header; null when absent or invalid. */
export async function verifyIdentity(secret: string, header: string | undefined): Promise<Identity | null> {
  if (!header) return null;
  try {
    const payload = await verifyWithAnySecret(secret, header, { algorithms: ['HS256'], issuer: ISSUER, audience: AUDIENCE });
    const parsed = identitySchema.safeParse({ organization: payload['org'], user: payload.sub, roles: payload['roles'] });
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** The caller of a request, or a 401 problem when the request carries no valid identity. */
export function requireIdentity(request: FastifyRequest, roles?: readonly string[]): Identity {
  const identity = request.identity;
  if (!identity) throw new HttpProblem(401, 'unauthenticated', 'Authentication is required.');
  if (roles && !identity.roles.some((role) => roles.includes(role))) {
    throw new HttpProblem(403, 'forbidden', 'Your role may not do this.');
  }
  return identity;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified caller, when the gateway vouched for one. */
    identity: Identity | null;
  }
}
