import { requireIdentity, type ServiceApp } from '@pep/service-kit';
import { activityListQuery, activityResponse, updateActivityBody } from './activity.schemas.js';
import type { ActivityService } from './activity.service.js';
import { STAFF, whoMayCall } from './roles.js';
import { idParams, listOf } from './user.schemas.js';

const TAGS = ['activities'];

/** Routes of the `activities` group: the organization's feed of every service's events. */
export function registerActivityRoutes(app: ServiceApp, activities: ActivityService): void {
  for (const [url, hide] of [['/api/activities/', false], ['/api/activities', true]] as const) {
    app.get(
      url,
      {
        schema: {
          hide,
          tags: TAGS,
          summary: "The organization's activity feed",
          description: `Events of every service about the organization, newest first; paged with page/limit, filtered by type, subject and read. ${whoMayCall(STAFF)}`,
          querystring: activityListQuery,
          response: { 200: listOf(activityResponse) },
        },
      },
      async (request) => activities.list(requireIdentity(request, STAFF), request.query),
    );
  }

  app.put(
    '/api/activities/:id',
    {
      schema: {
        tags: TAGS,
        summary: 'Mark an activity read or unread',
        description: `The flag is the organization's, shared by its staff; it is the feed's own state, so no event is published. ${whoMayCall(STAFF)}`,
        params: idParams,
        body: updateActivityBody,
        response: { 200: activityResponse },
      },
    },
    async (request) => activities.setRead(requireIdentity(request, STAFF), request.params.id, request.body.read),
  );
}
