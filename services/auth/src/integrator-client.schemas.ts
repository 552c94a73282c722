import { rootAccount, timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { INTEGRATOR_ROLES, PLATFORM_ADMIN } from './roles.js';

const name = z.string().trim().min(1).max(200);
// platform-admin is for the sales tooling's key (demo users); only a platform operator may give it (checked in the service).
const CLIENT_ROLES = [...INTEGRATOR_ROLES, ...PLATFORM_ADMIN] as const;
const roles = z.array(z.enum(CLIENT_ROLES)).min(1).max(CLIENT_ROLES.length);
/** Above this not even a platform operator may go: one client at 1,000 requests a second is a denial of service, not a sync. */
export const RATE_LIMIT_CEILING_PER_MINUTE = 60_000;
const rateLimitPerMinute = z
  .number()
  .int()
  .min(1)
  .max(RATE_LIMIT_CEILING_PER_MINUTE)
  .nullable()
  .describe(
    "Requests a minute the gateway allows this client's tokens, from its next login; null = the gateway's default. An " +
      "organization's admin may set up to the platform's maximum; above it, only a platform operator.",
  );

/** Body of POST /api/integratorClients. */
export const createIntegratorClientBody = z
  .object({
    name,
    roles: roles
      .default(['integrator'])
      .describe(
        'Roles its access tokens carry; default integrator. Admin is never allowed; platform-admin only when a platform operator creates it.',
      ),
    active: z.boolean().default(true),
    rateLimitPerMinute: rateLimitPerMinute.default(null),
  })
  .strict();
export type CreateIntegratorClientBody = z.infer<typeof createIntegratorClientBody>;

/** Body of PUT /api/integratorClients/:id. */
export const updateIntegratorClientBody = z
  .object({
    name: name.optional(),
    roles: roles.optional(),
    active: z.boolean().optional().describe('An inactive client cannot log in.'),
    rateLimitPerMinute: rateLimitPerMinute.optional(),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateIntegratorClientBody = z.infer<typeof updateIntegratorClientBody>;

/** Body of POST /api/integratorClients/login. */
export const integratorLoginBody = z.object({ clientId: z.string().min(1).max(100), clientSecret: z.string().min(1).max(200) }).strict();
export type IntegratorLoginBody = z.infer<typeof integratorLoginBody>;

/** An integrator client as the API returns it; the secret is never part of it. */
export const integratorClientResponse = z
  .object({
    _id: z.uuid(),
    organization: z.uuid(),
    user: rootAccount,
    name: z.string(),
    clientId: z.string().describe('Public; sent with the secret to log in.'),
    roles: z.array(z.string()),
    active: z.boolean(),
    rateLimitPerMinute: z
      .number()
      .int()
      .nullable()
      .describe("Requests a minute the gateway allows this client; null = the gateway's default."),
    lastLogin: z.string().nullable(),
    createdBy: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'IntegratorClient' });
export type IntegratorClientResponse = z.infer<typeof integratorClientResponse>;

/** What creating a client answers: the client and its secret, shown this once. */
export const createdIntegratorClientResponse = integratorClientResponse.extend({
  clientSecret: z.string().describe('Shown only in this answer; only a hash is kept. Store it now.'),
});

/** What an integrator login answers: an access token, no refresh token (clients log in again). */
export const integratorTokenResponse = z.object({
  token: z.string().describe('ES256 access token of kind integrator; send as `Authorization: Bearer <token>`.'),
  expiresIn: z.number().int().describe('Seconds until the token expires.'),
});
