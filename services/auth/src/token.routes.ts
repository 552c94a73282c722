import type { ServiceApp } from '@pep/service-kit';
import type { FastifyRequest } from 'fastify';
import { z } from 'zod';
import { tokenKinds, toJwks } from './access-token.js';
import type { SessionService } from './session.service.js';
import type { SigningKeyStore } from './signing-keys.js';
import { sessionResponse } from './user.schemas.js';

const TAGS = ['tokens'];

const claimsResponse = z.object({
  iss: z.string(),
  aud: z.union([z.string(), z.array(z.string())]),
  sub: z.string().describe('User id.'),
  org: z.string().describe('Organization id.'),
  roles: z.array(z.string()),
  kind: z.enum(tokenKinds),
  jti: z.string(),
  iat: z.number().int(),
  exp: z.number().int(),
});

const jwksResponse = z.object({
  keys: z.array(
    z.object({
      kty: z.string(),
      crv: z.string(),
      x: z.string(),
      y: z.string(),
      kid: z.string(),
      alg: z.literal('ES256'),
      use: z.literal('sig'),
    }),
  ),
});

/** The access token a request carries: `Authorization: Bearer <t>`, `x-access-token: Bearer <t>` or a bare `x-access-token`. */
export function accessTokenOf(request: FastifyRequest): string | null {
  const authorization = request.headers.authorization;
  if (authorization) return /^Bearer\s+(\S+)$/i.exec(authorization.trim())?.[1] ?? null;
  const header = request.headers['x-access-token'];
  const value = (Array.isArray(header) ? header[0] : header)?.trim();
  if (!value) return null;
  return /^Bearer\s+(\S+)$/i.exec(value)?.[1] ?? (/\s/.test(value) ? null : value);
}

/** Token routes and the key set other services verify access tokens with. */
export function registerTokenRoutes(app: ServiceApp, sessions: SessionService, keys: SigningKeyStore): void {
  app.get(
    '/.well-known/jwks.json',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'Public keys that verify access tokens',
        description: 'JSON Web Key Set (RFC 7517): the current ES256 key and its predecessor, so tokens stay verifiable across a rotation.',
        response: { 200: jwksResponse },
      },
    },
    async (_request, reply) => {
      reply.header('cache-control', 'public, max-age=300');
      return toJwks(await keys.verificationKeys()) as z.infer<typeof jwksResponse>;
    },
  );

  app.get(
    '/api/tokens/validate',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'Validate an access token',
        description: 'Answers the claims of the access token the request carries, or 401.',
        response: { 200: claimsResponse },
      },
    },
    async (request) => sessions.validate(accessTokenOf(request)),
  );

  app.post(
    '/api/tokens/validate',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'Exchange a refresh token for a new pair',
        description:
          'The refresh token is single use. Presenting one that was already exchanged revokes every token descended from ' +
          'the same login and answers 401.',
        body: z.object({ refreshToken: z.string().min(1).max(200) }).strict(),
        response: { 200: sessionResponse },
      },
    },
    async (request) => sessions.refresh(request.body.refreshToken, request.id),
  );
}
