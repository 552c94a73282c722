import { callerOf, patientsInAnswer, type ServiceApp } from '@pep/service-kit';
import { clearNotificationsBody, clearNotificationsResponse, notificationListQuery, notificationResponse } from './notification.schemas.js';
import type { NotificationService } from './notification.service.js';
import { READERS } from './roles.js';
import { listOf } from './schemas.js';

const tags = ['notifications'];

/**
 * Routes of the `notifications` group: what staff should act on (a detractor's answer to the NPS survey, a reply to a broadcast), per
 * organization, each cleared per user. Another organization's notification answers 404.
 */
export function registerNotificationRoutes(app: ServiceApp, notifications: NotificationService): void {
  app.get(
    '/api/notifications',
    {
      config: { roles: READERS, readsPatients: patientsInAnswer('patient') },
      schema: {
        tags,
        summary: 'Notifications for staff',
        description:
          'The organization’s notifications, the latest first, paged with page/limit; filter by type, facility, provider and ' +
          'cleared (by the caller). A detractor’s survey answer raises one `feedback.detractor` (about the survey), a reply to a broadcast one `broadcast.reply` (about the reply); each names the patient by id only.',
        querystring: notificationListQuery,
        response: { 200: listOf(notificationResponse) },
      },
    },
    async (request) => notifications.list(callerOf(request), request.query),
  );
  app.put(
    '/api/notifications/clear',
    {
      config: { roles: READERS },
      schema: {
        tags,
        summary: 'Clear notifications from the caller’s list',
        description:
          'Clears those named in `ids`, else all of the organization, for the caller only; clearing one again changes nothing. ' +
          'An id not of the organization answers 404 naming it, and nothing is cleared.',
        body: clearNotificationsBody.nullish(),
        response: { 200: clearNotificationsResponse },
      },
    },
    async (request) => notifications.clear(callerOf(request), request.body),
  );
}
