import { timestamp } from '@pep/service-kit';
import { z } from 'zod';
import { listQuery, rootAccount } from './schemas.js';

/** What a notification tells staff about; one per type and record it is about. */
export const NOTIFICATION_TYPES = ['feedback.detractor', 'broadcast.reply'] as const;
export type NotificationType = (typeof NOTIFICATION_TYPES)[number];

/** The kinds of record a notification may be about. */
export const NOTIFICATION_REFS = ['feedback-response', 'message'] as const;

/** A notification as staff see it; `cleared` is the caller's own state. */
export const notificationResponse = z
  .object({
    _id: z.uuid(),
    organization: z.uuid(),
    user: rootAccount,
    type: z.enum(NOTIFICATION_TYPES),
    ref: z.enum(NOTIFICATION_REFS).describe('The kind of record it is about.'),
    refId: z.uuid().describe('The record it is about: the survey (feedbackResponses/:id), or the reply (messages/:id).'),
    patient: z.uuid().nullable(),
    facility: z.uuid().nullable(),
    provider: z.uuid().nullable(),
    title: z.string(),
    body: z.string(),
    cleared: z.boolean().describe('Whether the caller cleared it from their list (PUT /api/notifications/clear).'),
    createdAt: timestamp,
    updatedAt: timestamp,
  })
  .meta({ id: 'Notification' });
export type NotificationResponse = z.infer<typeof notificationResponse>;

/** Query of GET /api/notifications. */
export const notificationListQuery = listQuery.extend({
  type: z.enum(NOTIFICATION_TYPES).optional(),
  facility: z.uuid().optional(),
  provider: z.uuid().optional(),
  cleared: z.enum(['true', 'false']).optional().describe('false: those the caller has not cleared; true: those they have; absent: both.'),
});
export type NotificationListQuery = z.infer<typeof notificationListQuery>;

/** Body of PUT /api/notifications/clear. */
export const clearNotificationsBody = z
  .object({
    ids: z
      .array(z.uuid())
      .min(1)
      .max(500)
      .optional()
      .describe('The notifications to clear; absent clears every one of the organization the caller has not cleared.'),
  })
  .strict();
export type ClearNotificationsBody = z.infer<typeof clearNotificationsBody>;

/** Answer of PUT /api/notifications/clear. */
export const clearNotificationsResponse = z.object({
  cleared: z.number().int().describe('How many were cleared now (those cleared before are not counted again).'),
});
