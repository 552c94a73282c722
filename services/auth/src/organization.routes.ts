import { callerOf, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import type { GroupInviteService } from './group-invite.service.js';
import { groupInviteResponse } from './group.schemas.js';
import type { OrganizationService } from './organization.service.js';
import { ADMIN, ANYONE, STAFF, STAFF_ROLES } from './roles.js';
import type { SessionService } from './session.service.js';
import { idParams, listOf, listQuery, organizationResponse, sessionResponse, userResponse } from './user.schemas.js';

const TAGS = ['organizations'];

/** Routes of the `organizations` group. Only the caller's own organization is visible; others answer 404. */
export function registerOrganizationRoutes(
  app: ServiceApp,
  organizations: OrganizationService,
  sessions: SessionService,
  invites: GroupInviteService,
): void {
  const name = z.string().trim().min(1).max(200);
  const roles = z.array(z.enum(STAFF_ROLES)).min(1).max(STAFF_ROLES.length);
  app.get(
    '/api/organizations',
    {
      config: { roles: ANYONE },
      schema: {
        tags: TAGS,
        summary: 'Organizations the caller belongs to',
        description: 'The organizations the caller may switch to. REST conventions are followed.',
        querystring: listQuery,
        response: { 200: listOf(organizationResponse) },
      },
    },
    async (request) => organizations.list(callerOf(request), request.query),
  );
  app.post(
    '/api/organizations',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Create another organization',
        description: 'The calling user becomes its admin; switch into it with POST /api/organizations/:id/users/:organizationUser/switch.',
        body: z.object({ name }).strict(),
        response: { 200: organizationResponse },
      },
    },
    async (request) => organizations.create(callerOf(request), request.body, request.id),
  );

  app.delete(
    '/api/organizations/:id',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Delete the organization',
        description:
          'Soft delete: the organization becomes inactive and answers 404 from then on, nobody can switch into it, and ' +
          'every session in it is revoked. Answers the deleted organization.',
        params: idParams,
        response: { 200: organizationResponse },
      },
    },
    async (request) => organizations.remove(callerOf(request), request.params.id, request.id),
  );

  app.post(
    '/api/organizations/:id/users/:invitedUserId/invite',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Invite a user of the organization back into it',
        description:
          'For a deactivated member: e-mails the user a single-use link valid for 7 days; they accept it at POST /api/groups/:id/accept-invitation with ' +
          '`id` = this organization (or all at once with PUT /api/groups/accept-pending-invites). The answer masks the ' +
          'e-mail. A user who is already an active member answers 409; one who never belonged to the organization answers 404 like an unknown id ' +
          'and is not mailed (invite people from outside by e-mail, POST /api/groups/:id/invite-user).',
        params: z.object({ id: z.uuid(), invitedUserId: z.uuid() }).strict(),
        body: z
          .object({ roles: roles.default(['staff']).describe('Roles on joining; default staff.') })
          .strict()
          .nullable()
          .describe('May be omitted.'),
        response: { 200: groupInviteResponse },
      },
    },
    async (request) =>
      invites.inviteToOrganization(
        callerOf(request),
        request.params.id,
        request.params.invitedUserId,
        request.body?.roles ?? ['staff'],
        request.id,
      ),
  );

  app.put(
    '/api/organizations/:id/users/:userId',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: "Change a member's roles",
        description:
          '`roles` replaces the staff roles. Admins may change their own, but taking admin from the last active admin ' + 'answers 409.',
        params: z.object({ id: z.uuid(), userId: z.uuid() }).strict(),
        body: z.object({ roles }).strict(),
        response: { 200: userResponse },
      },
    },
    async (request) =>
      organizations.changeRoles(callerOf(request), request.params.id, request.params.userId, request.body.roles, request.id),
  );

  app.get(
    '/api/organizations/:id',
    {
      config: { roles: STAFF },
      schema: { tags: TAGS, summary: 'Get the organization', params: idParams, response: { 200: organizationResponse } },
    },
    async (request) => organizations.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/organizations/:id',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Change the organization',
        params: idParams,
        body: z.object({ name }).strict(),
        response: { 200: organizationResponse },
      },
    },
    async (request) => organizations.update(callerOf(request), request.params.id, request.body, request.id),
  );

  app.get(
    '/api/organizations/:id/users',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: "The organization's users",
        description: 'Paged with page/limit.',
        params: idParams,
        querystring: listQuery,
        response: { 200: listOf(userResponse) },
      },
    },
    async (request) => organizations.users(callerOf(request), request.params.id, request.query),
  );

  app.get(
    '/api/organizations/:id/access',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: "The caller's access to the organization",
        description:
          "Whether the organization and the caller's membership are active, and the caller's roles there. REST conventions are followed.",
        params: idParams,
        response: {
          200: z.object({ _id: z.uuid(), organization: z.uuid(), user: z.string(), active: z.boolean(), roles: z.array(z.string()) }),
        },
      },
    },
    async (request) => organizations.access(callerOf(request), request.params.id),
  );

  app.post(
    '/api/organizations/:id/users/:organizationUser/switch',
    {
      config: { roles: ANYONE },
      schema: {
        tags: TAGS,
        summary: 'Switch to another organization',
        description:
          'Answers a token pair for organization `id` when the caller is an active member there; `organizationUser` is ' +
          "the caller's membership id or user id. Anything else answers 404.",
        params: z.object({ id: z.uuid(), organizationUser: z.uuid() }).strict(),
        response: { 200: sessionResponse },
      },
    },
    async (request) => sessions.switchOrganization(callerOf(request), request.params.id, request.params.organizationUser),
  );
}
