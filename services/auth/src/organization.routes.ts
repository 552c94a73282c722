import { requireIdentity, type ServiceApp } from '@pep/service-kit';
import { z } from 'zod';
import type { OrganizationService } from './organization.service.js';
import { ADMIN, ANYONE, STAFF, whoMayCall } from './roles.js';
import type { SessionService } from './session.service.js';
import { idParams, listOf, listQuery, organizationResponse, sessionResponse, userResponse } from './user.schemas.js';

const TAGS = ['organizations'];

/** Routes of the `organizations` group. Only the caller's own organization is visible; others answer 404. */
export function registerOrganizationRoutes(app: ServiceApp, organizations: OrganizationService, sessions: SessionService): void {
  for (const [url, hide] of [['/api/organizations', false], ['/api/organizations/', true]] as const) {
    app.get(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: 'Organizations the caller belongs to',
          description: `The organizations the caller may switch to. REST conventions are followed. ${whoMayCall(ANYONE)}`,
          querystring: listQuery,
          response: { 200: listOf(organizationResponse) },
        },
      },
      async (request) => organizations.list(requireIdentity(request, ANYONE), request.query),
    );
  }

  app.get(
    '/api/organizations/:id',
    { schema: { tags: TAGS, summary: 'Get the organization', description: whoMayCall(STAFF), params: idParams, response: { 200: organizationResponse } } },
    async (request) => organizations.get(requireIdentity(request, STAFF), request.params.id),
  );

  app.put(
    '/api/organizations/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Change the organization',
        description: whoMayCall(ADMIN),
        params: idParams,
        body: z.object({ name: z.string().trim().min(1).max(200) }).strict(),
        response: { 200: organizationResponse },
      },
    },
    async (request) => organizations.update(requireIdentity(request, ADMIN), request.params.id, request.body, request.id),
  );

  app.get(
    '/api/organizations/:id/users',
    {
      schema: {
        tags: TAGS,
        summary: "The organization's users",
        description: `Paged with page/limit. ${whoMayCall(STAFF)}`,
        params: idParams,
        querystring: listQuery,
        response: { 200: listOf(userResponse) },
      },
    },
    async (request) => organizations.users(requireIdentity(request, STAFF), request.params.id, request.query),
  );

  app.get(
    '/api/organizations/:id/access',
    {
      schema: {
        tags: TAGS,
        summary: "The caller's access to the organization",
        description: `Whether the organization and the caller's membership are active, and the caller's roles there. REST conventions are followed. ${whoMayCall(STAFF)}`,
        params: idParams,
        response: {
          200: z.object({ _id: z.uuid(), organization: z.uuid(), user: z.string(), active: z.boolean(), roles: z.array(z.string()) }),
        },
      },
    },
    async (request) => organizations.access(requireIdentity(request, STAFF), request.params.id),
  );

  app.post(
    '/api/organizations/:id/users/:organizationUser/switch',
    {
      schema: {
        tags: TAGS,
        summary: 'Switch to another organization',
        description:
          'Answers a token pair for organization `id` when the caller is an active member there; `organizationUser` is ' +
          `the caller's membership id or user id. Anything else answers 404. ${whoMayCall(ANYONE)}`,
        params: z.object({ id: z.uuid(), organizationUser: z.uuid() }).strict(),
        response: { 200: sessionResponse },
      },
    },
    async (request) => sessions.switchOrganization(requireIdentity(request, ANYONE), request.params.id, request.params.organizationUser),
  );
}
