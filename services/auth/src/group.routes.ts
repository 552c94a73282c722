import { callerOf, type ServiceApp } from '@pep/service-kit';
import { clientAddress } from './client-address.js';
import type { GroupInviteService } from './group-invite.service.js';
import {
  acceptedInvitationResponse,
  acceptedInvitesResponse,
  acceptInvitationBody,
  createGroupBody,
  getInviteQuery,
  groupInviteResponse,
  groupResponse,
  inviteUserBody,
  memberParams,
  publicInviteResponse,
  updateGroupBody,
} from './group.schemas.js';
import type { GroupService } from './group.service.js';
import { ADMIN, ANYONE, GROUP_WRITERS, STAFF } from './roles.js';
import { idParams, listOf, listQuery } from './user.schemas.js';

const TAGS = ['groups'];

/** Routes of the `groups` and `groupInvites` groups. Records of other organizations answer 404. */
export function registerGroupRoutes(app: ServiceApp, groups: GroupService, invites: GroupInviteService): void {
  app.get(
    '/api/groups',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: "The organization's groups",
        description: 'Paged with page/limit, by name.',
        querystring: listQuery,
        response: { 200: listOf(groupResponse) },
      },
    },
    async (request) => groups.list(callerOf(request), request.query),
  );
  app.post(
    '/api/groups',
    {
      config: { roles: GROUP_WRITERS },
      schema: {
        tags: TAGS,
        summary: 'Create a group',
        description:
          'Users and facilities must belong to the organization (else 404 naming the field; 503 with Retry-After when scheduling cannot be asked about a facility).',
        body: createGroupBody,
        response: { 200: groupResponse },
      },
    },
    async (request) => groups.create(callerOf(request), request.body, request.id),
  );

  app.get(
    '/api/groupInvites',
    {
      config: { roles: GROUP_WRITERS },
      schema: {
        tags: ['groupInvites'],
        summary: "The organization's pending invitations",
        description: 'Paged with page/limit.',
        querystring: listQuery,
        response: { 200: listOf(groupInviteResponse) },
      },
    },
    async (request) => invites.ofOrganization(callerOf(request), request.query),
  );

  app.put(
    '/api/groups/accept-pending-invites',
    {
      config: { roles: ANYONE },
      schema: {
        tags: TAGS,
        summary: 'Accept every pending invitation to my e-mail',
        description:
          'Joins the caller to the organizations and groups of every pending invitation addressed to their e-mail. Needs an ' +
          'e-mail proven by an invitation or reset link; otherwise 403 (accept with the link in the e-mail).',
        response: { 200: acceptedInvitesResponse },
      },
    },
    async (request) => invites.acceptPending(callerOf(request), request.id),
  );

  app.get(
    '/api/groups/public/get-invite',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'What an invitation link invites to',
        description: 'The organization, group and e-mail of a pending invitation; 404 for an unknown, used or expired link.',
        querystring: getInviteQuery,
        response: { 200: publicInviteResponse },
      },
    },
    async (request) => invites.publicInvite(request.query.token),
  );

  app.get(
    '/api/groups/users/:id',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Groups of a user',
        description: 'Paged with page/limit; the user must belong to the organization.',
        params: idParams,
        querystring: listQuery,
        response: { 200: listOf(groupResponse) },
      },
    },
    async (request) => groups.ofUser(callerOf(request), request.params.id, request.query),
  );

  app.get(
    '/api/groups/:id',
    { config: { roles: STAFF }, schema: { tags: TAGS, summary: 'Get a group', params: idParams, response: { 200: groupResponse } } },
    async (request) => groups.get(callerOf(request), request.params.id),
  );

  app.put(
    '/api/groups/:id',
    {
      config: { roles: GROUP_WRITERS },
      schema: {
        tags: TAGS,
        summary: 'Change a group',
        description: '`users` and `facilities` replace the stored lists; both must belong to the organization, as on creation.',
        params: idParams,
        body: updateGroupBody,
        response: { 200: groupResponse },
      },
    },
    async (request) => groups.update(callerOf(request), request.params.id, request.body, request.id),
  );

  app.delete(
    '/api/groups/:id',
    {
      config: { roles: GROUP_WRITERS },
      schema: {
        tags: TAGS,
        summary: 'Delete a group',
        description: 'Its pending invitations go with it; answers the deleted group.',
        params: idParams,
        response: { 200: groupResponse },
      },
    },
    async (request) => groups.remove(callerOf(request), request.params.id, request.id),
  );

  app.post(
    '/api/groups/:id/:user',
    {
      config: { roles: GROUP_WRITERS },
      schema: {
        tags: TAGS,
        summary: 'Add a user to a group',
        description: 'The user must belong to the organization; a member already changes nothing.',
        params: memberParams,
        response: { 200: groupResponse },
      },
    },
    async (request) => groups.addMember(callerOf(request), request.params.id, request.params.user, request.id),
  );

  app.delete(
    '/api/groups/:id/:user',
    {
      config: { roles: GROUP_WRITERS },
      schema: {
        tags: TAGS,
        summary: 'Remove a user from a group',
        description: 'A user not in the group changes nothing.',
        params: memberParams,
        response: { 200: groupResponse },
      },
    },
    async (request) => groups.removeMember(callerOf(request), request.params.id, request.params.user, request.id),
  );

  app.get(
    '/api/groups/:id/invites',
    {
      config: { roles: GROUP_WRITERS },
      schema: {
        tags: TAGS,
        summary: "A group's pending invitations",
        description: 'Paged with page/limit.',
        params: idParams,
        querystring: listQuery,
        response: { 200: listOf(groupInviteResponse) },
      },
    },
    async (request) => invites.ofGroup(callerOf(request), request.params.id, request.query),
  );

  app.post(
    '/api/groups/:id/invite-user',
    {
      config: { roles: ADMIN },
      schema: {
        tags: TAGS,
        summary: 'Invite someone to the organization and the group',
        description:
          'E-mails a single-use link valid for 7 days; a new invitation of the same e-mail to the group replaces the pending ' +
          'one. `roles` apply when the invitee is not yet a member.',
        params: idParams,
        body: inviteUserBody,
        response: { 200: groupInviteResponse },
      },
    },
    async (request) => invites.invite(callerOf(request), request.params.id, request.body, request.id),
  );

  app.post(
    '/api/groups/:id/accept-invitation',
    {
      config: { roles: 'public' },
      schema: {
        tags: TAGS,
        summary: 'Accept an invitation',
        description:
          'With the token from the e-mail. A new e-mail gets an account (password, firstname and lastname required); an ' +
          'existing account joins when the caller is signed in as it or gives its password. The link works once. ' +
          '`id` is the group, or the organization for an invitation to the organization alone (then `group` is null). ' +
          'Answers the user as a member of the organization, and the group.',
        params: idParams,
        body: acceptInvitationBody,
        response: { 200: acceptedInvitationResponse },
      },
    },
    async (request) => invites.accept(request.identity, request.params.id, request.body, clientAddress(request), request.id),
  );
}
