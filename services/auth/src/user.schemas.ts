import { rootAccount, timestamp, emailAddress } from '@pep/service-kit';
import { z } from 'zod';
import { STAFF_ROLES } from './roles.js';

// NIST 800-63B favours length over composition rules; the cap keeps hashing cost bounded.
const password = z.string().min(10, 'at least 10 characters').max(256, 'at most 256 characters');
const email = z.email().max(254);
const personName = z.string().trim().min(1).max(100);

/** Body of POST /api/users/signup. */
export const signupBody = z
  .object({ email, password, firstname: personName, lastname: personName, organizationName: z.string().trim().min(1).max(200) })
  .strict();
export type SignupBody = z.infer<typeof signupBody>;

/** Body of POST /api/users/login. */
export const loginBody = z.object({ email: z.string().min(1).max(254), password: z.string().min(1).max(256) }).strict();
export type LoginBody = z.infer<typeof loginBody>;

/** Body of POST /api/users/forgot-password. */
export const forgotPasswordBody = z.object({ email }).strict();

/** Body of POST /api/users/reset-password/:token. */
export const resetPasswordBody = z.object({ password }).strict();

/** Path of the reset-password routes. */
export const resetTokenParams = z.object({ token: z.string().min(20).max(100) }).strict();

/** Body of PUT /api/users/:id: the fields a user (or an admin) may change. */
export const updateUserBody = z
  .object({
    firstname: personName.optional(),
    lastname: personName.optional(),
    email: email.optional(),
    roles: z.array(z.enum(STAFF_ROLES)).min(1).max(STAFF_ROLES.length).optional().describe('Admins only.'),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateUserBody = z.infer<typeof updateUserBody>;

/** A user within one organization, with the product's field names. */
export const userResponse = z
  .object({
    _id: z.uuid(),
    email: emailAddress,
    firstname: z.string(),
    lastname: z.string(),
    name: z.string(),
    organization: z.uuid(),
    user: rootAccount,
    roles: z.array(z.string()),
    type: z.literal('staff'),
    active: z.number().int().describe('1 when the user may act in the organization, 0 once decommissioned.'),
    displayStatus: z.enum(['active', 'pending', 'suspended']).describe('pending until a user created by an admin has set a password.'),
    unsubscribed: z.boolean().describe('Whether the user asked for no platform e-mails beyond those their account needs.'),
    avatar: z.string().nullable().describe('Path of the user’s avatar image in this organization (PUT /api/users/:id/upload), or null.'),
    lastLogin: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'User' });
export type UserResponse = z.infer<typeof userResponse>;

/** An organization as the API returns it. */
export const organizationResponse = z
  .object({
    _id: z.uuid(),
    user: rootAccount.describe("The tenant's root account (v1 `user`): the organization itself, so its own id."),
    name: z.string(),
    active: z.boolean(),
    deleted: z.boolean(),
    demo: z.boolean().describe('A trial organization sales created for a prospect.'),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Organization' });
export type OrganizationResponse = z.infer<typeof organizationResponse>;

/** A freshly issued pair: a short-lived access token and a single-use refresh token. */
export const tokenPair = z.object({
  token: z.string().describe('ES256 access token; send as `Authorization: Bearer <token>`.'),
  refreshToken: z.string().describe('Opaque, single use; exchange at POST /api/tokens/validate.'),
  expiresAt: z.string().describe('When the access token expires.'),
});
export type TokenPair = z.infer<typeof tokenPair>;

export const signupResponse = tokenPair.extend({ user: userResponse, organization: organizationResponse });
export const sessionResponse = tokenPair.extend({ user: userResponse });
export type SessionResponse = z.infer<typeof sessionResponse>;

/** What a provider login answers: an access token of kind provider, no refresh token, and the user. */
export const providerSessionResponse = z.object({
  token: z
    .string()
    .describe('ES256 access token of kind provider carrying the provider role only; send as `Authorization: Bearer <token>`.'),
  expiresAt: z.string().describe('When the access token expires; log in again then.'),
  expiresIn: z.number().int().describe('Seconds until the token expires.'),
  user: userResponse,
});
export type ProviderSessionResponse = z.infer<typeof providerSessionResponse>;

/** Answer of the forgot-password route, the same whether or not the e-mail has an account. */
export const acceptedResponse = z.object({ message: z.string() });

export { idParams, listOf, listQuery, type ListQuery } from '@pep/service-kit';

/** Whether a string is a UUID, as the ids of auth's records are; other strings name nothing here. */
export const isUuid = (value: string): boolean => z.uuid().safeParse(value).success;

const roles = z.array(z.enum(STAFF_ROLES)).min(1).max(STAFF_ROLES.length);

/** Body of POST /api/users: a new user of the caller's organization, who sets a password from the mailed link. */
export const createUserBody = z.object({ email, firstname: personName, lastname: personName, roles: roles.default(['staff']) }).strict();
export type CreateUserBody = z.infer<typeof createUserBody>;

/** Body of PUT /api/users/unsubscribe. */
export const unsubscribeBody = z
  .object({ unsubscribed: z.boolean().default(true).describe('false subscribes again.') })
  .strict()
  // A request without a body arrives as null.
  .nullable();

/** Body of PUT /api/users/transfer. */
export const transferBody = z
  .object({
    user: z.uuid(),
    from: z.uuid().describe('Organization the user leaves (their membership there is deactivated).'),
    to: z.uuid().describe('Organization the user joins.'),
    roles: roles.optional().describe('Roles in `to`; default the roles held in `from`.'),
  })
  .strict()
  .refine((body) => body.from !== body.to, { message: 'from and to must differ', path: ['to'] });
export type TransferBody = z.infer<typeof transferBody>;

/** Body of POST /api/users/admin: a platform-wide user search. */
export const platformSearchBody = z
  .object({
    email: z.string().trim().min(1).max(254).optional().describe('Part of the e-mail, case-insensitive.'),
    organization: z.uuid().optional().describe('Only members of this organization.'),
    page: z.number().int().min(1).max(100_000).default(1),
    limit: z.number().int().min(1).max(100).default(25),
  })
  .strict()
  .nullable();
export type PlatformSearchBody = NonNullable<z.infer<typeof platformSearchBody>>;

/** A user across every organization, as platform admins see them. */
export const platformUserResponse = z
  .object({
    _id: z.uuid(),
    email: emailAddress,
    firstname: z.string(),
    lastname: z.string(),
    name: z.string(),
    displayStatus: z.enum(['active', 'pending']),
    unsubscribed: z.boolean(),
    emailVerified: z.boolean(),
    lastLogin: timestamp.nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    memberships: z.array(z.object({ _id: z.uuid(), organization: z.uuid(), roles: z.array(z.string()), active: z.boolean() })),
  })
  .meta({ id: 'PlatformUser' });
export type PlatformUserResponse = z.infer<typeof platformUserResponse>;

/** Answer of routes that mail a link without showing it. */
export const linkSentResponse = z.object({ message: z.string(), expiresAt: z.string() });
