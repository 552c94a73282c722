import { rootAccount, timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { STAFF_ROLES } from './roles.js';
import { userResponse } from './user.schemas.js';

const groupName = z.string().trim().min(1).max(200);
const facilities = z
  .array(z.string().trim().min(1).max(100))
  .max(500)
  .describe("Ids of the organization's facilities (scheduling); any other answers 404 naming it.");
const userIds = z.array(z.uuid()).max(1000).describe('Ids of users of the organization.');
const personName = z.string().trim().min(1).max(100);

/** Body of POST /api/groups. */
export const createGroupBody = z
  .object({
    name: groupName,
    type: z.enum(['user', 'system']).default('user'),
    users: userIds.default([]),
    facilities: facilities.default([]),
  })
  .strict();
export type CreateGroupBody = z.infer<typeof createGroupBody>;

/** Body of PUT /api/groups/:id; `users` and `facilities` replace the stored lists. */
export const updateGroupBody = z
  .object({
    name: groupName.optional(),
    type: z.enum(['user', 'system']).optional(),
    users: userIds.optional(),
    facilities: facilities.optional(),
  })
  .strict()
  .refine((body) => Object.keys(body).length > 0, 'change at least one field');
export type UpdateGroupBody = z.infer<typeof updateGroupBody>;

/** A group as the API returns it (the product's GroupResponse fields). */
export const groupResponse = z
  .object({
    _id: z.uuid(),
    organization: z.uuid(),
    user: rootAccount,
    name: z.string(),
    type: z.enum(['user', 'system']),
    users: z.array(z.uuid()),
    facilities: z.array(z.string()),
    createdBy: z.string(),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Group' });
export type GroupResponse = z.infer<typeof groupResponse>;

/** Path of the member routes. */
export const memberParams = z.object({ id: z.uuid(), user: z.uuid() }).strict();

/** Body of POST /api/groups/:id/invite-user. */
export const inviteUserBody = z
  .object({
    email: z.email().max(254),
    roles: z
      .array(z.enum(STAFF_ROLES))
      .min(1)
      .max(STAFF_ROLES.length)
      .default(['staff'])
      .describe('Roles in the organization for a new member; default staff.'),
  })
  .strict();
export type InviteUserBody = z.infer<typeof inviteUserBody>;

const inviteToken = z.string().min(20).max(100);

/** Body of POST /api/groups/:id/accept-invitation. */
export const acceptInvitationBody = z
  .object({
    token: inviteToken.describe('From the link in the invitation e-mail.'),
    password: z
      .string()
      .min(10, 'at least 10 characters')
      .max(256, 'at most 256 characters')
      .optional()
      .describe('New accounts: the password to set. Existing accounts: their password, unless the caller is signed in as them.'),
    firstname: personName.optional().describe('Required for a new account.'),
    lastname: personName.optional().describe('Required for a new account.'),
  })
  .strict();
export type AcceptInvitationBody = z.infer<typeof acceptInvitationBody>;

/** Query of GET /api/groups/public/get-invite. */
export const getInviteQuery = z.object({ token: inviteToken }).strict();

/** An invitation as the organization sees it; never its token. */
export const groupInviteResponse = z
  .object({
    _id: z.uuid(),
    organization: z.uuid(),
    user: rootAccount,
    group: z.uuid().nullable().describe('null for an invitation to the organization alone.'),
    email: z.string().describe('Masked (first character and domain) for invitations of an existing user to the organization.'),
    roles: z.array(z.string()),
    status: z.enum(['pending', 'accepted', 'expired']),
    invitedBy: z.string(),
    expiresAt: z.string(),
    acceptedAt: z.string().nullable(),
    createdAt: timestamp,
  })
  .meta({ id: 'GroupInvite' });
export type GroupInviteResponse = z.infer<typeof groupInviteResponse>;

/** What the public invite lookup shows the person holding the link. */
export const publicInviteResponse = z.object({
  _id: z.uuid(),
  email: z.string(),
  organization: z.uuid(),
  organizationName: z.string(),
  group: z.uuid().nullable(),
  groupName: z.string().nullable(),
  expiresAt: z.string(),
  accountExists: z.boolean().describe('Whether the e-mail already has an account (then accepting asks for its password).'),
});

/** What accepting an invitation answers: the user as a member of the organization, and the group. */
export const acceptedInvitationResponse = z.object({ user: userResponse, group: groupResponse.nullable() });

/** What accepting every pending invitation answers. */
export const acceptedInvitesResponse = z.object({ accepted: z.array(groupInviteResponse) });
