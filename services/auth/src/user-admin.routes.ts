import { callerOf, type ServiceApp } from '@pep/service-kit';
import type { GroupInviteService } from './group-invite.service.js';
import { groupInviteResponse } from './group.schemas.js';
import { ADMIN, ANYONE, PLATFORM_ADMIN, STAFF } from './roles.js';
import type { UserAdminService } from './user-admin.service.js';
import {
  createUserBody,
  idParams,
  linkSentResponse,
  listOf,
  listQuery,
  platformSearchBody,
  platformUserResponse,
  transferBody,
  unsubscribeBody,
  userResponse,
} from './user.schemas.js';

const TAGS = ['users'];

/** Routes of the `users` group that admins (and platform admins) use to manage accounts. */
export function registerUserAdminRoutes(app: ServiceApp, admin: UserAdminService, invites: GroupInviteService): void {
  app.post(
    '/api/users',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Create a user in the organization',
        description:
          'The user starts pending and is e-mailed a link (valid 7 days) to choose a password at POST ' +
          '/api/users/reset-password/:token. An e-mail that already has an account answers 409; invite it to the ' +
          'organization instead.',
        body: createUserBody,
        response: { 200: userResponse },
      },
    },
    async (request) => admin.create(callerOf(request), request.body, request.id),
  );

  app.put(
    '/api/users/unsubscribe',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Unsubscribe from platform e-mails',
        description:
          'Sets (or with `unsubscribed: false` clears) the caller’s opt-out of platform e-mails; mails the account needs ' +
          '(password links, invitations) still go out. The body may be omitted.',
        body: unsubscribeBody,
        response: { 200: userResponse },
      },
    },
    async (request) => admin.unsubscribe(callerOf(request), request.body?.unsubscribed ?? true, request.id),
  );

  app.put(
    '/api/users/transfer',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Move a user between two organizations you administer',
        description:
          'Deactivates the user in `from` (signing them out there) and makes them an active member of `to`. Both must be ' +
          'organizations where the caller is an active admin; others answer 404.',
        body: transferBody,
        response: { 200: userResponse },
      },
    },
    async (request) => admin.transfer(callerOf(request), request.body, request.id),
  );

  app.post(
    '/api/users/admin',
    {
      config: { roles: PLATFORM_ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Search users across the platform',
        description: 'Platform operators only: users of every organization with their memberships, by e-mail.',
        body: platformSearchBody,
        response: { 200: listOf(platformUserResponse) },
      },
    },
    async (request) => admin.search(request.body ?? { page: 1, limit: 25 }),
  );

  app.post(
    '/api/users/admin/:id',
    {
      config: { roles: PLATFORM_ADMIN },
      schema: {
        tags: TAGS,
        summary: 'A user across the platform',
        description: 'Platform operators only: the user with every membership.',
        params: idParams,
        response: { 200: platformUserResponse },
      },
    },
    async (request) => admin.platformUser(request.params.id),
  );

  app.put(
    '/api/users/:id/activate',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Activate a user',
        description:
          'Re-activates a member who was decommissioned, and e-mails a fresh link to choose a password to one who has not ' +
          'set one yet (pending). An active member with a password is answered unchanged. People activate their own ' +
          'account by following the e-mailed link (POST /api/users/reset-password/:token).',
        params: idParams,
        response: { 200: userResponse },
      },
    },
    async (request) => admin.activate(callerOf(request), request.params.id, request.id),
  );

  app.get(
    '/api/users/:id/resetPasswordLink',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'E-mail a member a link to set a new password',
        description:
          'The link goes to the user’s own e-mail and is not shown to the admin, since the account may also belong to ' +
          'other organizations. Decommissioned members answer 409.',
        params: idParams,
        response: { 200: linkSentResponse },
      },
    },
    async (request) => admin.resetPasswordLink(callerOf(request), request.params.id),
  );

  app.get(
    '/api/users/:id/groupInvites',
    {
      config: { roles: ANYONE },
      schema: {
        tags: TAGS,
        summary: 'Pending invitations to a user’s e-mail',
        description:
          'About oneself: invitations of every organization. About another member: admins and managers see their own ' +
          'organization’s. Paged with page/limit.',
        params: idParams,
        querystring: listQuery,
        response: { 200: listOf(groupInviteResponse) },
      },
    },
    async (request) => invites.ofUser(callerOf(request), request.params.id, request.query),
  );
}
