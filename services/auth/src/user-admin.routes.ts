import { requireIdentity, type ServiceApp } from '@pep/service-kit';
import type { GroupInviteService } from './group-invite.service.js';
import { groupInviteResponse } from './group.schemas.js';
import { ADMIN, ANYONE, PLATFORM_ADMIN, STAFF, whoMayCall } from './roles.js';
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
  for (const [url, hide] of [['/api/users', false], ['/api/users/', true]] as const) {
    app.post(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: 'Create a user in the organization',
          description:
            'The user starts pending and is e-mailed a link (valid 7 days) to choose a password at POST ' +
            '/api/users/reset-password/:token. An e-mail that already has an account answers 409; invite it to the ' +
            `organization instead. ${whoMayCall(ADMIN)}`,
          body: createUserBody,
          response: { 200: userResponse },
        },
      },
      async (request) => admin.create(requireIdentity(request, ADMIN), request.body, request.id),
    );
  }

  app.put(
    '/api/users/unsubscribe',
    {
      schema: {
        tags: TAGS,
        summary: 'Unsubscribe from platform e-mails',
        description:
          'Sets (or with `unsubscribed: false` clears) the caller’s opt-out of platform e-mails; mails the account needs ' +
          `(password links, invitations) still go out. The body may be omitted. ${whoMayCall(STAFF)}`,
        body: unsubscribeBody,
        response: { 200: userResponse },
      },
    },
    async (request) => admin.unsubscribe(requireIdentity(request, STAFF), request.body?.unsubscribed ?? true, request.id),
  );

  app.put(
    '/api/users/transfer',
    {
      schema: {
        tags: TAGS,
        summary: 'Move a user between two organizations you administer',
        description:
          'Deactivates the user in `from` (signing them out there) and makes them an active member of `to`. Both must be ' +
          `organizations where the caller is an active admin; others answer 404. ${whoMayCall(ADMIN)}`,
        body: transferBody,
        response: { 200: userResponse },
      },
    },
    async (request) => admin.transfer(requireIdentity(request, ADMIN), request.body, request.id),
  );

  app.post(
    '/api/users/admin',
    {
      schema: {
        tags: TAGS,
        summary: 'Search users across the platform',
        description: `Platform operators only: users of every organization with their memberships, by e-mail. ${whoMayCall(PLATFORM_ADMIN)}`,
        body: platformSearchBody,
        response: { 200: listOf(platformUserResponse) },
      },
    },
    async (request) => {
      requireIdentity(request, PLATFORM_ADMIN);
      return admin.search(request.body ?? { page: 1, limit: 25 });
    },
  );

  app.post(
    '/api/users/admin/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'A user across the platform',
        description: `Platform operators only: the user with every membership. ${whoMayCall(PLATFORM_ADMIN)}`,
        params: idParams,
        response: { 200: platformUserResponse },
      },
    },
    async (request) => {
      requireIdentity(request, PLATFORM_ADMIN);
      return admin.platformUser(request.params.id);
    },
  );

  app.put(
    '/api/users/:id/activate',
    {
      schema: {
        tags: TAGS,
        summary: 'Activate a user',
        description:
          'Re-activates a member who was decommissioned, and e-mails a fresh link to choose a password to one who has not ' +
          'set one yet (pending). An active member with a password is answered unchanged. People activate their own ' +
          `account by following the e-mailed link (POST /api/users/reset-password/:token). ${whoMayCall(ADMIN)}`,
        params: idParams,
        response: { 200: userResponse },
      },
    },
    async (request) => admin.activate(requireIdentity(request, ADMIN), request.params.id, request.id),
  );

  app.get(
    '/api/users/:id/resetPasswordLink',
    {
      schema: {
        tags: TAGS,
        summary: 'E-mail a member a link to set a new password',
        description:
          'The link goes to the user’s own e-mail and is not shown to the admin, since the account may also belong to ' +
          `other organizations. Decommissioned members answer 409. ${whoMayCall(ADMIN)}`,
        params: idParams,
        response: { 200: linkSentResponse },
      },
    },
    async (request) => admin.resetPasswordLink(requireIdentity(request, ADMIN), request.params.id),
  );

  app.get(
    '/api/users/:id/groupInvites',
    {
      schema: {
        tags: TAGS,
        summary: 'Pending invitations to a user’s e-mail',
        description:
          'About oneself: invitations of every organization. About another member: admins and managers see their own ' +
          `organization’s. Paged with page/limit. ${whoMayCall(ANYONE)}`,
        params: idParams,
        querystring: listQuery,
        response: { 200: listOf(groupInviteResponse) },
      },
    },
    async (request) => invites.ofUser(requireIdentity(request, ANYONE), request.params.id, request.query),
  );
}
