import { callerOf, type ServiceApp } from '@pep/service-kit';
import {
  bulkFollowupBody,
  createFollowupBody,
  followupGroupResponse,
  followupListQuery,
  followupResponse,
  updateFollowupBody,
} from './followup.schemas.js';
import type { FollowupService } from './followup.service.js';
import { READERS, WRITERS } from './roles.js';
import { idParams, listOf } from './schemas.js';

const tags = ['followups'];
const HOW =
  'A rule fires once per appointment when scheduling says it was missed (no-show), took place (completed) or was cancelled; ' +
  'its text (or the NPS survey) goes delayDays later at sendAt in the facility’s time zone, never in quiet hours, never to a ' +
  'patient who must not be contacted. A cancelled follow-up is dropped when the patient books again.';

/** Routes of the `followups` group. Every rule belongs to the caller's organization; others answer 404. */
export function registerFollowupRoutes(app: ServiceApp, followups: FollowupService): void {
  app.get(
    '/api/followups',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Follow-up rules',
        description: 'Paged with page/limit, by group then name; filter by group, trigger and active.',
        querystring: followupListQuery,
        response: { 200: listOf(followupResponse) },
      },
    },
    async (request) => followups.list(callerOf(request), request.query),
  );
  app.post(
    '/api/followups',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Create a follow-up rule',
        description: `${HOW} Facilities and providers of the conditions must be the organization's (400 naming the field).`,
        body: createFollowupBody,
        response: { 200: followupResponse },
      },
    },
    async (request) => followups.create(callerOf(request), request.body),
  );
  app.post(
    '/api/followups/bulk',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Create or change many follow-up rules',
        description: 'Items without `_id` are created, those with one changed; all or none, answered in the body’s order.',
        body: bulkFollowupBody,
        response: { 200: listOf(followupResponse) },
      },
    },
    async (request) => followups.bulk(callerOf(request), request.body),
  );
  app.get(
    '/api/followups/groups',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Groups of follow-up rules',
        description: 'Every group with live rules, by name, with how many rules it has and how many are active.',
        response: { 200: listOf(followupGroupResponse) },
      },
    },
    async (request) => followups.groups(callerOf(request)),
  );
  app.get(
    '/api/followups/:id',
    {
      config: { roles: READERS },
      schema: { tags, summary: 'Get a follow-up rule', params: idParams, response: { 200: followupResponse } },
    },
    async (request) => followups.get(callerOf(request), request.params.id),
  );
  app.put(
    '/api/followups/:id',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Change a follow-up rule',
        description: 'The fields given replace the rule’s; follow-ups it already planned keep their time and text.',
        params: idParams,
        body: updateFollowupBody,
        response: { 200: followupResponse },
      },
    },
    async (request) => followups.update(callerOf(request), request.params.id, request.body),
  );
  app.delete(
    '/api/followups/:id',
    {
      config: { roles: WRITERS },
      schema: {
        tags,
        summary: 'Delete a follow-up rule',
        description: 'Soft delete: what it planned and has not sent yet never goes.',
        params: idParams,
        response: { 200: followupResponse },
      },
    },
    async (request) => followups.remove(callerOf(request), request.params.id),
  );
}
