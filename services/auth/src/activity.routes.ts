import { callerOf, type ServiceApp } from '@pep/service-kit';
import { activityListQuery, activityResponse, updateActivityBody } from './activity.schemas.js';
import type { ActivityService } from './activity.service.js';
import { STAFF } from './roles.js';
import { idParams, listOf } from './user.schemas.js';

const TAGS = ['activities'];

/** Routes of the `activities` group: the organization's feed of every service's events. */
export function registerActivityRoutes(app: ServiceApp, activities: ActivityService): void {
  app.get(
    '/api/activities/',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: "The organization's activity feed",
        description:
          'Events of every service about the organization, newest first; paged with page/limit, filtered by type, subject and read.',
        querystring: activityListQuery,
        response: { 200: listOf(activityResponse) },
      },
    },
    async (request) => activities.list(callerOf(request), request.query),
  );

  app.put(
    '/api/activities/:id',
    {
      config: { roles: STAFF },
      schema: {
        tags: TAGS,
        summary: 'Mark an activity read or unread',
        description: "The flag is the organization's, shared by its staff; it is the feed's own state, so no event is published.",
        params: idParams,
        body: updateActivityBody,
        response: { 200: activityResponse },
      },
    },
    async (request) => activities.setRead(callerOf(request), request.params.id, request.body.read),
  );
}
