import { randomUUID } from 'node:crypto';
import { callerOf, HttpProblem, type ServiceApp } from '@pep/service-kit';
import { SignJWT } from 'jose';
import { z } from 'zod';
import type { PrismaClient } from './generated/prisma/client.js';
import { STAFF } from './roles.js';

// Zendesk refuses JWTs issued more than three minutes before they are presented.
const ZENDESK_TOKEN_TTL_SECONDS = 180;

/** POST /api/tokens/zendesk: a JWT for Zendesk's single sign-on, or 501 while no shared secret is configured. */
export function registerZendeskRoutes(app: ServiceApp, prisma: PrismaClient, sharedSecret: string | undefined, clock: () => Date): void {
  app.post(
    '/api/tokens/zendesk',
    {
      config: { roles: STAFF },
      schema: {
        tags: ['tokens'],
        summary: 'A Zendesk single sign-on token',
        description:
          'An HS256 JWT (jti, iat, exp, email, name, external_id = user id, organization) signed with the shared secret of ' +
          "Zendesk's JWT SSO, valid 3 minutes. 501 while the service has no ZENDESK_SHARED_SECRET.",
        response: { 200: z.object({ token: z.string(), expiresAt: z.string() }) },
      },
    },
    async (request) => {
      const identity = callerOf(request);
      if (!sharedSecret) throw new HttpProblem(501, 'not-implemented', 'Zendesk single sign-on is not configured.');
      const member = await prisma.membership.findUnique({
        where: { organizationId_userId: { organizationId: identity.organization, userId: identity.user } },
        include: { user: true },
      });
      // Integrator clients and the like have no person for Zendesk to sign in.
      if (!member?.active) throw new HttpProblem(403, 'forbidden', 'Only active users may sign in to Zendesk.');
      const now = Math.floor(clock().getTime() / 1000);
      const token = await new SignJWT({
        email: member.user.email,
        name: `${member.user.firstname} ${member.user.lastname}`,
        external_id: member.user.id,
        organization: identity.organization,
      })
        .setProtectedHeader({ alg: 'HS256', typ: 'JWT' })
        .setJti(randomUUID())
        .setIssuedAt(now)
        .setExpirationTime(now + ZENDESK_TOKEN_TTL_SECONDS)
        .sign(new TextEncoder().encode(sharedSecret));
      return { token, expiresAt: new Date((now + ZENDESK_TOKEN_TTL_SECONDS) * 1000).toISOString() };
    },
  );
}
